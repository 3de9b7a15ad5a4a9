package modset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/semver"
)

// VersionsFile is the versions file at the repository root, in the format
// of OpenTelemetry's multimod:
//
//	module-sets:
//	  sluice:
//	    version: v0.9.0
//	    modules:
//	      - github.com/sluicehq/sluice/core
//	excluded-modules:
//	  - github.com/sluicehq/sluice/bench
//
// Every module of a set is published at the set's version, and released
// together; an excluded module is never published or tagged.
const VersionsFile = "versions.yaml"

// ModuleSet is a set of modules released together at one version.
type ModuleSet struct {
	Name    string   `yaml:"-"`
	Version string   `yaml:"version"`
	Modules []string `yaml:"modules"`

	versionLine int // of the version value in the file, from 1
}

// Versions is the parsed versions file.
type Versions struct {
	Sets     []*ModuleSet // in file order
	Excluded []string

	data []byte // the file, for edits that keep its comments and layout
	file string
}

// ReadVersions reads root's versions file.
func ReadVersions(root string) (*Versions, error) {
	file := filepath.Join(root, VersionsFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := ParseVersions(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	v.file = file
	return v, nil
}

// ParseVersions parses the contents of a versions file.
func ParseVersions(data []byte) (*Versions, error) {
	var doc struct {
		ModuleSets yaml.Node `yaml:"module-sets"`
		Excluded   []string  `yaml:"excluded-modules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	v := &Versions{Excluded: doc.Excluded, data: data}
	sets := &doc.ModuleSets
	if sets.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("module-sets: want a mapping of set names to sets")
	}
	for i := 0; i+1 < len(sets.Content); i += 2 {
		name, body := sets.Content[i], sets.Content[i+1]
		s := &ModuleSet{Name: name.Value}
		if err := body.Decode(s); err != nil {
			return nil, fmt.Errorf("module set %s: %w", s.Name, err)
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			switch key := body.Content[j].Value; key {
			case "version":
				s.versionLine = body.Content[j+1].Line
			case "modules":
			default:
				return nil, fmt.Errorf("module set %s: unknown field %q", s.Name, key)
			}
		}
		if !semver.IsValid(s.Version) || semver.Canonical(s.Version) != s.Version || semver.Build(s.Version) != "" {
			return nil, fmt.Errorf("module set %s: version %q is not a canonical semantic version (vX.Y.Z)", s.Name, s.Version)
		}
		if len(s.Modules) == 0 {
			return nil, fmt.Errorf("module set %s: no modules", s.Name)
		}
		v.Sets = append(v.Sets, s)
	}
	if len(v.Sets) == 0 {
		return nil, fmt.Errorf("no module sets")
	}
	return v, nil
}

// SetOf returns the set that lists modPath, or nil.
func (v *Versions) SetOf(modPath string) *ModuleSet {
	for _, s := range v.Sets {
		if slices.Contains(s.Modules, modPath) {
			return s
		}
	}
	return nil
}

// Set returns the set named name, or nil.
func (v *Versions) Set(name string) *ModuleSet {
	for _, s := range v.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Published returns the path of every module of every set, sorted.
func (v *Versions) Published() []string {
	var all []string
	for _, s := range v.Sets {
		all = append(all, s.Modules...)
	}
	slices.Sort(all)
	return all
}

// setVersion changes set s's version in the file's text, keeping every
// other byte, and returns the new text.
func (v *Versions) setVersion(s *ModuleSet, version string) ([]byte, error) {
	lines := bytes.SplitAfter(v.data, []byte("\n"))
	if s.versionLine < 1 || s.versionLine > len(lines) {
		return nil, fmt.Errorf("module set %s: version line not found", s.Name)
	}
	l := lines[s.versionLine-1]
	i := bytes.Index(l, []byte(s.Version))
	if i < 0 {
		return nil, fmt.Errorf("module set %s: line %d does not hold %s", s.Name, s.versionLine, s.Version)
	}
	lines[s.versionLine-1] = slices.Concat(l[:i], []byte(version), l[i+len(s.Version):])
	return bytes.Join(lines, nil), nil
}
