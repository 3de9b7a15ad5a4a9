// Command release checks and cuts Sluice's module releases, from the
// versions file at the repository root (versions.yaml).
//
// Usage (from tools/, with GOWORK=off because tools is outside the
// workspace; make release-verify and make api do this):
//
//	go run ./cmd/release verify              versions.yaml lists every go.mod; sibling requires match it
//	go run ./cmd/release prepare [vX.Y.Z]    set the version in versions.yaml and every sibling require
//	go run ./cmd/release tag [-n]            tag every published module at HEAD (<dir>/vX.Y.Z)
//	go run ./cmd/release pack DIR            a file module proxy of every published module, from the tree
//	go run ./cmd/release api                 compare every published module's API with its baseline
//	go run ./cmd/release api-update          rewrite the API baseline (api/*.txt)
//	go run ./cmd/release count [-max N PKG]  exported names per package
//
// Every subcommand finds the repository root by walking up from the current
// directory to versions.yaml, unless -root is given.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/tools/internal/apilist"
	"github.com/sluicehq/sluice/tools/internal/modset"
	"github.com/sluicehq/sluice/tools/internal/proxy"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "verify":
		err = verify(args)
	case "prepare":
		err = prepare(args)
	case "tag":
		err = tag(args)
	case "pack":
		err = pack(args)
	case "api":
		err = api(args, false)
	case "api-update":
		err = api(args, true)
	case "count":
		err = count(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "release %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: release verify | prepare [vX.Y.Z] | tag [-n] | pack DIR | api | api-update | count [-max N PKG]
(each takes -root DIR, the repository root; default: the directory above with versions.yaml)`)
	os.Exit(2)
}

// load parses the subcommand's flags and reads the repository.
func load(fs *flag.FlagSet, args []string) (*modset.Repo, *modset.Versions, error) {
	root := fs.String("root", "", "the repository root (default: the first directory at or above . with "+modset.VersionsFile+")")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if *root == "" {
		r, err := modset.FindRoot(".")
		if err != nil {
			return nil, nil, err
		}
		*root = r
	}
	r, err := modset.Load(*root)
	if err != nil {
		return nil, nil, err
	}
	v, err := modset.ReadVersions(r.Root)
	if err != nil {
		return nil, nil, err
	}
	return r, v, nil
}

func verify(args []string) error {
	r, v, err := load(flag.NewFlagSet("verify", flag.ExitOnError), args)
	if err != nil {
		return err
	}
	if errs := modset.Verify(r, v); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e)
		}
		return fmt.Errorf("%d problem(s)", len(errs))
	}
	for _, s := range v.Sets {
		fmt.Printf("module set %s %s: %d modules; %d excluded; every sibling require matches\n", s.Name, s.Version, len(s.Modules), len(v.Excluded))
	}
	return nil
}

func prepare(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	set := fs.String("set", "", "the module set to change (default: the only one)")
	r, v, err := load(fs, args)
	if err != nil {
		return err
	}
	if *set == "" {
		if len(v.Sets) != 1 {
			return fmt.Errorf("%s has %d module sets: name one with -set", modset.VersionsFile, len(v.Sets))
		}
		*set = v.Sets[0].Name
	}
	version := fs.Arg(0)
	changed, err := modset.Prepare(r, v, *set, version)
	for _, f := range changed {
		fmt.Println("wrote", f)
	}
	if err != nil {
		return err
	}
	if len(changed) == 0 {
		fmt.Println("nothing to change")
	}
	// Read everything again: what was written must verify.
	return verify([]string{"-root", r.Root})
}

func tag(args []string) error {
	fs := flag.NewFlagSet("tag", flag.ExitOnError)
	dry := fs.Bool("n", false, "print the tags and the commit, create nothing")
	r, v, err := load(fs, args)
	if err != nil {
		return err
	}
	if errs := modset.Verify(r, v); len(errs) > 0 {
		return fmt.Errorf("the repository does not verify (run release verify): %v", errors.Join(errs...))
	}
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = r.Root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	dirty, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return err
	}
	if dirty != "" && !*dry {
		return fmt.Errorf("the work tree has uncommitted changes; tags name a commit, so commit or stash them first:\n%s", dirty)
	}
	tags, err := modset.Tags(r, v)
	if err != nil {
		return err
	}
	var existing []string
	for _, t := range tags {
		if _, err := git("rev-parse", "-q", "--verify", "refs/tags/"+t.Name); err == nil {
			existing = append(existing, t.Name)
		}
	}
	if len(existing) > 0 {
		return fmt.Errorf("tags already exist: %s", strings.Join(existing, " "))
	}
	if *dry {
		if dirty != "" {
			fmt.Println("# the work tree has uncommitted changes: tag would refuse")
		}
		for _, t := range tags {
			fmt.Printf("git tag -a -m %q %s %s\n", tagMessage(t), t.Name, head)
		}
		return nil
	}
	var made []string
	for _, t := range tags {
		if _, err := git("tag", "-a", "-m", tagMessage(t), t.Name, head); err != nil {
			for _, m := range made {
				git("tag", "-d", m)
			}
			return fmt.Errorf("git tag %s: %w (removed the %d tags made before it)", t.Name, err, len(made))
		}
		made = append(made, t.Name)
		fmt.Println("tagged", t.Name, head)
	}
	fmt.Printf("push them with: git push origin %s\n", strings.Join(made, " "))
	return nil
}

func tagMessage(t modset.Tag) string {
	return fmt.Sprintf("Module set %s, version %s: %s", t.Set.Name, t.Set.Version, t.Module.Path)
}

func pack(args []string) error {
	fs := flag.NewFlagSet("pack", flag.ExitOnError)
	r, v, err := load(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want one argument, the proxy directory")
	}
	mods, err := Published(r, v)
	if err != nil {
		return err
	}
	if err := proxy.Write(fs.Arg(0), mods); err != nil {
		return err
	}
	for _, m := range mods {
		fmt.Printf("packed %s@%s\n", m.Path, m.Version)
	}
	fmt.Printf("GOPROXY=%s,https://proxy.golang.org GONOSUMDB=github.com/sluicehq GOWORK=off\n", proxy.URL(fs.Arg(0)))
	return nil
}

// Published returns every published module at its set's version, to pack.
func Published(r *modset.Repo, v *modset.Versions) ([]proxy.Module, error) {
	var mods []proxy.Module
	for _, p := range v.Published() {
		m := r.Module(p)
		if m == nil {
			return nil, fmt.Errorf("%s: module %s has no go.mod", modset.VersionsFile, p)
		}
		mods = append(mods, proxy.Module{Path: p, Version: v.SetOf(p).Version, Dir: filepath.Join(r.Root, filepath.FromSlash(m.Dir))})
	}
	return mods, nil
}

func api(args []string, update bool) error {
	name := "api"
	if update {
		name = "api-update"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	apidiff := fs.String("apidiff", "apidiff", "the apidiff program")
	r, v, err := load(fs, args)
	if err != nil {
		return err
	}
	prog, err := exec.LookPath(*apidiff)
	if err != nil && !update {
		return fmt.Errorf("apidiff: %w (make tools builds bin/apidiff)", err)
	}
	if prog, err = filepath.Abs(prog); err != nil { // apidiff runs in each module's directory
		return err
	}
	c := apilist.Checker{Repo: r, Modules: v.Published(), Apidiff: prog, Out: os.Stdout}
	if update {
		return c.Update()
	}
	return c.Check()
}

func count(args []string) error {
	fs := flag.NewFlagSet("count", flag.ExitOnError)
	max := fs.Int("max", 0, "fail when the package given as argument has more exported names than this")
	r, v, err := load(fs, args)
	if err != nil {
		return err
	}
	counts, err := apilist.CountModules(r, v.Published())
	for _, c := range counts {
		fmt.Printf("%4d  %s\n", c.Names, c.Package)
	}
	if err != nil {
		return err
	}
	if *max > 0 {
		for _, c := range counts {
			if c.Package == fs.Arg(0) && c.Names > *max {
				return fmt.Errorf("package %s has %d exported names, more than %d", c.Package, c.Names, *max)
			}
		}
	}
	return nil
}
