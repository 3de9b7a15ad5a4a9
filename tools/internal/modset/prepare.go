package modset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/semver"
)

// Prepare sets module set setName to version: in the versions file, and
// in every require of one of the set's modules in every go.mod of the
// repository (replace lines are left alone). An empty version keeps the
// set's current one, which brings requires added since in line. It writes
// only the files that change and returns them, relative to the root.
func Prepare(r *Repo, v *Versions, setName, version string) ([]string, error) {
	s := v.Set(setName)
	if s == nil {
		return nil, fmt.Errorf("%s: no module set %q", VersionsFile, setName)
	}
	if version == "" {
		version = s.Version
	}
	if !semver.IsValid(version) || semver.Canonical(version) != version || semver.Build(version) != "" {
		return nil, fmt.Errorf("version %q is not a canonical semantic version (vX.Y.Z)", version)
	}
	var changed []string
	if version != s.Version {
		data, err := v.setVersion(s, version)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(r.Root, VersionsFile), data, 0o666); err != nil {
			return nil, err
		}
		v.data, s.Version = data, version
		changed = append(changed, VersionsFile)
	}
	for _, m := range r.Modules {
		edited := false
		for _, req := range m.File.Require {
			if v.SetOf(req.Mod.Path) == s && req.Mod.Version != version {
				edited = true
			}
		}
		if !edited {
			continue
		}
		// SetRequire-style edits through the parsed file give what
		// go mod edit -require would write.
		for _, req := range append(m.File.Require[:0:0], m.File.Require...) {
			if v.SetOf(req.Mod.Path) == s && req.Mod.Version != version {
				if err := m.File.AddRequire(req.Mod.Path, version); err != nil {
					return changed, err
				}
			}
		}
		m.File.Cleanup()
		data, err := m.File.Format()
		if err != nil {
			return changed, err
		}
		file := filepath.Join(r.Root, filepath.FromSlash(m.Dir), "go.mod")
		old, err := os.ReadFile(file)
		if err != nil {
			return changed, err
		}
		if bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(file, data, 0o666); err != nil {
			return changed, err
		}
		changed = append(changed, filepath.ToSlash(filepath.Join(m.Dir, "go.mod")))
	}
	return changed, nil
}

// Tag is a release tag of one published module.
type Tag struct {
	Name   string // "core/v0.9.0"; a module at the root gets the bare version
	Module *Module
	Set    *ModuleSet
}

// Tags returns the tag of every published module at its set's version, the
// name the go command looks for: the module's directory, a slash and the
// version.
func Tags(r *Repo, v *Versions) ([]Tag, error) {
	var tags []Tag
	for _, p := range v.Published() {
		m := r.Module(p)
		if m == nil {
			return nil, fmt.Errorf("%s: module %s has no go.mod in the repository", VersionsFile, p)
		}
		s := v.SetOf(p)
		name := s.Version
		if m.Dir != "." {
			name = m.Dir + "/" + s.Version
		}
		tags = append(tags, Tag{Name: name, Module: m, Set: s})
	}
	return tags, nil
}
