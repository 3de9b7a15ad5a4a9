// Package modset reads the modules of the Sluice repository (every go.mod
// under its root) and its versions file, versions.yaml, and checks and
// edits them: sibling requires, relative replaces, module cycles, release
// tags. It knows nothing of the packages inside the modules, so it keeps
// working while their APIs change.
package modset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
)

// Module is one go.mod of the repository.
type Module struct {
	Path string        // module path, from the module line
	Dir  string        // directory relative to the repository root, in slash form ("core", "adapters/gin")
	File *modfile.File // the parsed go.mod
}

// Repo is the repository: its root directory and every module under it.
type Repo struct {
	Root    string
	Modules []*Module // sorted by Dir
}

// Load reads every go.mod under root. It skips hidden directories and
// directories named testdata, vendor or bin, as the go command does for
// patterns.
func Load(root string) (*Repo, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r := &Repo{Root: root}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || (name == "bin" && filepath.Dir(p) == root)) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, data, nil)
		if err != nil {
			return err
		}
		if f.Module == nil {
			return fmt.Errorf("%s: no module line", p)
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		r.Modules = append(r.Modules, &Module{Path: f.Module.Mod.Path, Dir: filepath.ToSlash(rel), File: f})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(r.Modules) == 0 {
		return nil, fmt.Errorf("no go.mod under %s", root)
	}
	slices.SortFunc(r.Modules, func(a, b *Module) int { return strings.Compare(a.Dir, b.Dir) })
	return r, nil
}

// FindRoot returns the first directory at or above dir that holds a
// versions.yaml, which marks the repository root.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, VersionsFile)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s at or above %s", VersionsFile, dir)
		}
	}
}

// Module returns the module with the given path, or nil.
func (r *Repo) Module(modPath string) *Module {
	for _, m := range r.Modules {
		if m.Path == modPath {
			return m
		}
	}
	return nil
}

// Graph returns, for every module path, the paths of the repository's
// modules that its go.mod requires, sorted.
func (r *Repo) Graph() map[string][]string {
	g := make(map[string][]string, len(r.Modules))
	for _, m := range r.Modules {
		g[m.Path] = nil
		for _, req := range m.File.Require {
			if r.Module(req.Mod.Path) != nil {
				g[m.Path] = append(g[m.Path], req.Mod.Path)
			}
		}
		slices.Sort(g[m.Path])
	}
	return g
}

// FindCycle returns a cycle of graph as its nodes in order, with the first
// repeated at the end (a -> b -> a), or nil when graph has none. A
// self-edge is a cycle of one node.
func FindCycle(graph map[string][]string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(graph))
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = onPath
		stack = append(stack, n)
		for _, next := range graph[n] {
			switch state[next] {
			case onPath:
				i := slices.Index(stack, next)
				return append(slices.Clone(stack[i:]), next)
			case unseen:
				if c := visit(next); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	nodes := make([]string, 0, len(graph))
	for n := range graph {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes) // the same cycle reported every time
	for _, n := range nodes {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// ErrCycle is returned (wrapped) by CheckCycles.
var ErrCycle = errors.New("module cycle")

// CheckCycles reports a cycle among the repository's modules.
func (r *Repo) CheckCycles() error {
	if c := FindCycle(r.Graph()); c != nil {
		return fmt.Errorf("%w: %s", ErrCycle, strings.Join(c, " -> "))
	}
	return nil
}

// relReplace returns the directory, relative to the repository root in
// slash form, that m's go.mod replaces modPath with, or "" when it has no
// relative-directory replace for it.
func (r *Repo) relReplace(m *Module, modPath string) string {
	for _, rep := range m.File.Replace {
		if rep.Old.Path != modPath || rep.New.Version != "" || !modfile.IsDirectoryPath(rep.New.Path) {
			continue
		}
		return path.Clean(path.Join(m.Dir, filepath.ToSlash(rep.New.Path)))
	}
	return ""
}
