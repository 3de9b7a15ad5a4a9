package apilist

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/tools/internal/modset"
)

// BaselineDir is the directory, at the repository root, of the committed
// API listings: one <module dir>.txt per published module (api/core.txt,
// api/adapters/gin.txt).
const BaselineDir = "api"

// Checker compares the published modules' APIs with their baseline.
//
// The baseline is two things. The committed listings (BaselineDir) are
// the gate: the listing of the code must equal them, byte for byte, so
// any change to the API, compatible or not, shows up in review. And the
// source of the last commit that changed a listing is the baseline for
// apidiff, whose export data is written from that commit at check time by
// the same apidiff that reads it (export data depends on the x/tools
// version, so none is committed); apidiff then reports which changes are
// incompatible. Finding that commit with git log, not a recorded hash,
// keeps the baseline valid when a branch is rebased or squashed.
type Checker struct {
	Repo    *modset.Repo
	Modules []string  // the published module paths
	Apidiff string    // the apidiff program
	Out     io.Writer // the report
}

// ListingFile returns the baseline listing of the module in dir, relative
// to the repository root.
func ListingFile(dir string) string {
	return filepath.Join(BaselineDir, filepath.FromSlash(dir)+".txt")
}

func (c Checker) modules() ([]*modset.Module, error) {
	var mods []*modset.Module
	for _, p := range c.Modules {
		m := c.Repo.Module(p)
		if m == nil {
			return nil, fmt.Errorf("module %s has no go.mod", p)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

func (c Checker) dir(m *modset.Module) string {
	return filepath.Join(c.Repo.Root, filepath.FromSlash(m.Dir))
}

// Check compares every published module with its baseline, reports every
// difference, and fails if there is any.
func (c Checker) Check() error {
	mods, err := c.modules()
	if err != nil {
		return err
	}
	var failed []string
	for _, m := range mods {
		if !c.checkListing(m) {
			failed = append(failed, m.Dir)
		}
	}
	bad, err := c.apidiff(mods)
	if err != nil {
		return err
	}
	for _, d := range bad {
		if !slices.Contains(failed, d) {
			failed = append(failed, d)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the API of %s does not match its baseline in %s/ (see above). If the change is deliberate, run make api-update and commit the listings with the code, saying in the commit message which names changed and why", strings.Join(failed, ", "), BaselineDir)
	}
	fmt.Fprintf(c.Out, "api: %d modules match their baseline\n", len(mods))
	return nil
}

// checkListing compares m's listing with its baseline file and reports
// the lines that differ.
func (c Checker) checkListing(m *modset.Module) bool {
	pkgs, err := Load(c.dir(m))
	if err != nil {
		fmt.Fprintf(c.Out, "== %s: %v\n", m.Dir, err)
		return false
	}
	got := Text(m.Path, pkgs)
	file := ListingFile(m.Dir)
	want, err := os.ReadFile(filepath.Join(c.Repo.Root, file))
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(c.Out, "== %s: no baseline %s (make api-update writes it)\n", m.Dir, file)
		return false
	}
	if err != nil {
		fmt.Fprintf(c.Out, "== %s: %v\n", m.Dir, err)
		return false
	}
	if got == string(want) {
		return true
	}
	fmt.Fprintf(c.Out, "== %s: the API differs from %s (- only in the baseline, + only in the code):\n", m.Dir, file)
	for _, l := range LineDiff(string(want), got) {
		fmt.Fprintf(c.Out, "\t%s\n", l)
	}
	return false
}

// LineDiff returns the lines only in old, prefixed "- ", then those only
// in new, prefixed "+ ", each in sorted order. Listings are sorted sets of
// lines, so this is their whole difference.
func LineDiff(old, new string) []string {
	o, n := strings.Split(old, "\n"), strings.Split(new, "\n")
	var out []string
	for _, l := range o {
		if l != "" && !slices.Contains(n, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range n {
		if l != "" && !slices.Contains(o, l) {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// BaselineCommit returns the last commit that changed a listing, or ""
// when there is none.
func (c Checker) BaselineCommit() (string, error) {
	out, err := c.git(nil, "log", "-1", "--format=%H", "--", BaselineDir)
	return strings.TrimSpace(out), err
}

func (c Checker) git(stdout io.Writer, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = c.Repo.Root
	var buf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &errBuf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errBuf.String()))
	}
	return buf.String(), nil
}

// apidiff writes each module's export data from the baseline commit and
// reports the code's incompatible changes against it. It returns the
// modules that have any.
func (c Checker) apidiff(mods []*modset.Module) ([]string, error) {
	commit, err := c.BaselineCommit()
	if err != nil {
		return nil, err
	}
	if commit == "" {
		fmt.Fprintf(c.Out, "api: no commit has changed %s/ yet, so apidiff has no baseline; the listings are the check\n", BaselineDir)
		return nil, nil
	}
	tmp, err := os.MkdirTemp("", "sluice-api-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	base := filepath.Join(tmp, "base")
	if err := c.extract(commit, base); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Out, "api: apidiff against %.12s, the last commit that changed %s/\n", commit, BaselineDir)
	var bad []string
	for _, m := range mods {
		baseDir := filepath.Join(base, filepath.FromSlash(m.Dir))
		if _, err := os.Stat(filepath.Join(baseDir, "go.mod")); err != nil {
			fmt.Fprintf(c.Out, "== %s: not in the baseline commit, no apidiff\n", m.Dir)
			continue
		}
		if _, err := os.Stat(filepath.Join(base, ListingFile(m.Dir))); err != nil {
			fmt.Fprintf(c.Out, "== %s: no listing in the baseline commit, no apidiff\n", m.Dir)
			continue
		}
		export := filepath.Join(tmp, strings.ReplaceAll(m.Dir, "/", "_")+".export")
		if out, err := c.run(baseDir, "-m", "-w", export, m.Path); err != nil {
			fmt.Fprintf(c.Out, "== %s: apidiff cannot read the baseline at %.12s: %v\n%s", m.Dir, commit, err, indent(out))
			bad = append(bad, m.Dir)
			continue
		}
		out, err := c.run(c.dir(m), "-m", "-incompatible", export, m.Path)
		if err != nil {
			fmt.Fprintf(c.Out, "== %s: apidiff: %v\n%s", m.Dir, err, out)
			bad = append(bad, m.Dir)
			continue
		}
		if strings.TrimSpace(out) != "" {
			fmt.Fprintf(c.Out, "== %s: incompatible changes (apidiff):\n%s", m.Dir, indent(out))
			bad = append(bad, m.Dir)
		}
	}
	return bad, nil
}

// run runs apidiff in dir with GOWORK=off, as the module builds for its
// users (in workspace mode MODPATH/... would also match other workspace
// modules nested under that path). apidiff exits 0 even when it finds
// incompatible changes: the caller reads the output.
func (c Checker) run(dir string, args ...string) (string, error) {
	cmd := exec.Command(c.Apidiff, args...)
	cmd.Dir = dir
	cmd.Env = env()
	var out, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errBuf
	if err := cmd.Run(); err != nil {
		return out.String() + errBuf.String(), err
	}
	return out.String(), nil
}

// extract writes the tree of commit into dir, from git archive.
func (c Checker) extract(commit, dir string) error {
	var buf bytes.Buffer
	if _, err := c.git(&buf, "archive", "--format=tar", commit); err != nil {
		return err
	}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, dir+string(filepath.Separator)) {
			return fmt.Errorf("git archive: bad path %q", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o777); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
				return err
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(name, data, 0o666); err != nil {
				return err
			}
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("\t" + l + "\n")
	}
	return b.String()
}

// Update rewrites the baseline listing of every published module that
// type-checks, removes listings of modules no longer published, and
// reports what changed. It fails, after writing the others, if a module
// does not type-check.
func (c Checker) Update() error {
	mods, err := c.modules()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var failed []string
	for _, m := range mods {
		file := ListingFile(m.Dir)
		keep[file] = true
		pkgs, err := Load(c.dir(m))
		if err != nil {
			fmt.Fprintf(c.Out, "== %s: not written: %v\n", m.Dir, err)
			failed = append(failed, m.Dir)
			continue
		}
		abs := filepath.Join(c.Repo.Root, file)
		old, _ := os.ReadFile(abs)
		text := Text(m.Path, pkgs)
		if string(old) == text {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o777); err != nil {
			return err
		}
		if err := os.WriteFile(abs, []byte(text), 0o666); err != nil {
			return err
		}
		fmt.Fprintf(c.Out, "== wrote %s:\n", file)
		for _, l := range LineDiff(string(old), text) {
			if !strings.HasPrefix(l, "- #") && !strings.HasPrefix(l, "+ #") {
				fmt.Fprintf(c.Out, "\t%s\n", l)
			}
		}
	}
	err = filepath.WalkDir(filepath.Join(c.Repo.Root, BaselineDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".txt") {
			return err
		}
		rel, _ := filepath.Rel(c.Repo.Root, p)
		if !keep[rel] {
			fmt.Fprintf(c.Out, "== removed %s (no such published module)\n", rel)
			return os.Remove(p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("no listing for %s: fix the build, then run it again", strings.Join(failed, ", "))
	}
	fmt.Fprintf(c.Out, "api-update: commit %s/ with the code; say in the commit message which names changed (above) and why\n", BaselineDir)
	return nil
}

// PackageCount is the number of exported names of one package.
type PackageCount struct {
	Package string
	Names   int
}

// CountModules counts the exported names of every package of the given
// modules. A module that does not type-check is reported in the error,
// after the others are counted.
func CountModules(r *modset.Repo, modPaths []string) ([]PackageCount, error) {
	var counts []PackageCount
	var errs []error
	for _, p := range modPaths {
		m := r.Module(p)
		if m == nil {
			return nil, fmt.Errorf("module %s has no go.mod", p)
		}
		pkgs, err := Load(filepath.Join(r.Root, filepath.FromSlash(m.Dir)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, pkg := range pkgs {
			counts = append(counts, PackageCount{pkg.Path, pkg.Names})
		}
	}
	return counts, errors.Join(errs...)
}

// env is the go command's environment for loading a module: GOWORK=off, as
// the module builds for its users, and -trimpath, so that the build cache
// serves a baseline extracted to a new directory each time.
func env() []string {
	return append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -trimpath"))
}
