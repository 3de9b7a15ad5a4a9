package modset

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Verify checks the repository against its versions file and returns every
// problem it finds, not only the first:
//
//   - every go.mod is listed exactly once, in one module set or in
//     excluded-modules, and every listed module has a go.mod;
//   - every version is a valid release version for its module's path;
//   - every require of a set's module, in any go.mod, names the set's
//     version;
//   - every require of a sibling module has a replace with the sibling's
//     relative directory, so the workspace and GOWORK=off both build;
//   - no published module requires an excluded one, which no user could
//     download;
//   - go.work uses every published module;
//   - there is no cycle among the modules.
func Verify(r *Repo, v *Versions) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	listed := map[string]int{}
	for _, s := range v.Sets {
		for _, p := range s.Modules {
			listed[p]++
			if err := module.Check(p, s.Version); err != nil {
				fail("%s: %v", VersionsFile, err)
			}
		}
	}
	for _, p := range v.Excluded {
		listed[p]++
	}
	for _, m := range r.Modules {
		switch listed[m.Path] {
		case 0:
			fail("%s/go.mod: module %s is in no module set and not in excluded-modules of %s", m.Dir, m.Path, VersionsFile)
		case 1:
		default:
			fail("%s: module %s is listed %d times", VersionsFile, m.Path, listed[m.Path])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(listed)) {
		if r.Module(p) == nil {
			fail("%s: module %s has no go.mod in the repository", VersionsFile, p)
		}
	}

	for _, m := range r.Modules {
		published := v.SetOf(m.Path) != nil
		for _, req := range m.File.Require {
			sib := r.Module(req.Mod.Path)
			if sib == nil {
				continue
			}
			if s := v.SetOf(sib.Path); s != nil && req.Mod.Version != s.Version {
				fail("%s/go.mod: requires %s %s, want %s (module set %s; run release prepare)", m.Dir, req.Mod.Path, req.Mod.Version, s.Version, s.Name)
			}
			if published && v.SetOf(sib.Path) == nil {
				fail("%s/go.mod: published module %s requires %s, which is not published", m.Dir, m.Path, sib.Path)
			}
			switch dir := r.relReplace(m, sib.Path); dir {
			case sib.Dir:
			case "":
				fail("%s/go.mod: requires sibling %s without a relative replace (want => %s)", m.Dir, sib.Path, relDir(m.Dir, sib.Dir))
			default:
				fail("%s/go.mod: replaces %s with ./%s, but that module is in ./%s", m.Dir, sib.Path, dir, sib.Dir)
			}
		}
	}

	if errs2 := r.verifyWork(v); errs2 != nil {
		errs = append(errs, errs2...)
	}
	if err := r.CheckCycles(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// verifyWork checks that go.work, when there is one, uses every published
// module.
func (r *Repo) verifyWork(v *Versions) []error {
	file := filepath.Join(r.Root, "go.work")
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{err}
	}
	wf, err := modfile.ParseWork(file, data, nil)
	if err != nil {
		return []error{err}
	}
	used := map[string]bool{}
	for _, u := range wf.Use {
		used[path.Clean(filepath.ToSlash(u.Path))] = true
	}
	var errs []error
	for _, p := range v.Published() {
		if m := r.Module(p); m != nil && !used[m.Dir] {
			errs = append(errs, fmt.Errorf("go.work: does not use ./%s (module %s)", m.Dir, p))
		}
	}
	return errs
}

// relDir returns the path from module directory from to module directory
// to, as a replace directive writes it.
func relDir(from, to string) string {
	rel, err := filepath.Rel(filepath.FromSlash(from), filepath.FromSlash(to))
	if err != nil {
		return to
	}
	rel = filepath.ToSlash(rel)
	if !modfile.IsDirectoryPath(rel) {
		rel = "./" + rel
	}
	return rel
}
