// Package proxy writes a file-based Go module proxy (the GOPROXY protocol
// laid out as files, for GOPROXY=file:///dir) holding modules packed by
// golang.org/x/mod/zip, as the go command would download them from a real
// proxy after their release.
package proxy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// Module is a module to pack: its path and version, and its directory.
type Module struct {
	Path, Version string
	Dir           string // absolute
}

// Write packs each module into root, creating it if needed:
//
//	<root>/<escaped path>/@v/list          every version of the path, one a line
//	<root>/<escaped path>/@v/<ver>.info    {"Version":..., "Time":...}
//	<root>/<escaped path>/@v/<ver>.mod     the module's go.mod
//	<root>/<escaped path>/@v/<ver>.zip     the module zip (golang.org/x/mod/zip)
//
// The zip holds the files of Dir that a module zip may hold: no nested
// modules, no VCS directories, no vendor directories. A go.mod's replace
// lines stay in it and, as for any dependency, the go command ignores them.
func Write(root string, mods []Module) error {
	for _, m := range mods {
		if err := module.Check(m.Path, m.Version); err != nil {
			return err
		}
		ep, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		ev, err := module.EscapeVersion(m.Version)
		if err != nil {
			return err
		}
		dir := filepath.Join(root, filepath.FromSlash(ep), "@v")
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, ev+".mod"), gomod, 0o666); err != nil {
			return err
		}
		info, err := json.Marshal(struct {
			Version string
			Time    time.Time
		}{m.Version, time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, ev+".info"), info, 0o666); err != nil {
			return err
		}
		if err := writeZip(filepath.Join(dir, ev+".zip"), m); err != nil {
			return err
		}
		if err := addToList(filepath.Join(dir, "list"), m.Version); err != nil {
			return err
		}
	}
	return nil
}

func writeZip(file string, m Module) (err error) {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := zip.CreateFromDir(f, module.Version{Path: m.Path, Version: m.Version}, m.Dir); err != nil {
		return fmt.Errorf("packing %s@%s from %s: %w", m.Path, m.Version, m.Dir, err)
	}
	return nil
}

func addToList(file, version string) error {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	versions := strings.Fields(string(data))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	semver.Sort(versions)
	return os.WriteFile(file, []byte(strings.Join(versions, "\n")+"\n"), 0o666)
}

// URL returns the GOPROXY entry for a proxy written at root.
func URL(root string) string {
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = root
	}
	return "file://" + filepath.ToSlash(abs)
}
