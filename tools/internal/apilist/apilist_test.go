package apilist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/tools/internal/modset"
)

func TestLoad(t *testing.T) {
	dir, err := filepath.Abs("testdata/lib")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	const want = `# The exported API of module example.com/lib, one feature a line.
# Written by make api-update; make api fails when the code differs from it.
pkg example.com/lib, const KindA Kind = "a"
pkg example.com/lib, const KindB Kind = "b"
pkg example.com/lib, const Seconds untyped int = 60
pkg example.com/lib, func Map[T any, U any]([]T, func(T) U) []U
pkg example.com/lib, func New(Kind, ...Option) *Thing
pkg example.com/lib, method (*Thing) Close() error
pkg example.com/lib, method (Thing) String() string
pkg example.com/lib, type Alias = Thing
pkg example.com/lib, type Kind string
pkg example.com/lib, type Option interface
pkg example.com/lib, type Option interface, Apply(*Thing) error
pkg example.com/lib, type Option interface, unexported methods
pkg example.com/lib, type Pair[K comparable, V any] struct
pkg example.com/lib, type Pair[K comparable, V any] struct, Key K
pkg example.com/lib, type Pair[K comparable, V any] struct, Val V
pkg example.com/lib, type Store interface
pkg example.com/lib, type Store interface, Get(context.Context, string) ([]byte, error)
pkg example.com/lib, type Store interface, embedded io.Closer
pkg example.com/lib, type Thing struct
pkg example.com/lib, type Thing struct, Hook func(context.Context, int) (bool, error)
pkg example.com/lib, type Thing struct, Name string
pkg example.com/lib, type Thing struct, embedded io.Reader
pkg example.com/lib, var Default *Thing
pkg example.com/lib/sub, func Add(int, int) int
`
	if got := Text("example.com/lib", pkgs); got != want {
		t.Errorf("listing:\n%s\nwant:\n%s\ndiff:\n%s", got, want, strings.Join(LineDiff(want, got), "\n"))
	}
	counts := map[string]int{}
	for _, p := range pkgs {
		counts[p.Path] = p.Names
	}
	// lib: Seconds, Kind, KindA, KindB, Default, Thing, New, Option,
	// Store, Alias, Pair, Map, and the methods Thing.Close and
	// Thing.String; not the fields, not the interfaces' methods, not
	// unexportedType.Exported.
	if got, want := counts["example.com/lib"], 14; got != want {
		t.Errorf("Names of example.com/lib = %d, want %d", got, want)
	}
	if got, want := counts["example.com/lib/sub"], 1; got != want {
		t.Errorf("Names of example.com/lib/sub = %d, want %d", got, want)
	}
	if _, ok := counts["example.com/lib/internal/hidden"]; ok {
		t.Error("an internal package was listed")
	}
}

func TestLoadBrokenModule(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod":    "module example.com/broken\n\ngo 1.25\n",
		"broken.go": "package broken\n\nfunc F() Undefined { return nil }\n",
	})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "does not type-check") {
		t.Fatalf("Load of a module that does not build: %v; want an error", err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChecker runs the whole cycle on a small repository: api-update
// writes the baseline, make api passes, a compatible change fails the
// listing check only, an incompatible one is also reported by apidiff
// against the baseline commit, and a deliberate update passes again.
func TestChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds apidiff and runs git")
	}
	apidiff := buildApidiff(t)
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"mod/go.mod": "module example.com/mod\n\ngo 1.25\n",
		"mod/mod.go": "package mod\n\n// Hello says hello.\nfunc Hello() string { return \"hello\" }\n\n// Bye says bye.\nfunc Bye(n int) string { return \"bye\" }\n",
	})
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "code")

	checker := func() (Checker, *bytes.Buffer) {
		r, err := modset.Load(root)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		return Checker{Repo: r, Modules: []string{"example.com/mod"}, Apidiff: apidiff, Out: &out}, &out
	}
	c, out := checker()
	if err := c.Check(); err == nil || !strings.Contains(out.String(), "no baseline api/mod.txt") {
		t.Fatalf("Check with no baseline: %v\n%s", err, out)
	}
	c, out = checker()
	if err := c.Update(); err != nil {
		t.Fatalf("Update: %v\n%s", err, out)
	}
	git("add", ".")
	git("commit", "-qm", "api baseline")
	c, out = checker()
	if err := c.Check(); err != nil {
		t.Fatalf("Check right after Update: %v\n%s", err, out)
	}

	// A compatible addition: the listing differs, apidiff has nothing.
	writeFiles(t, root, map[string]string{"mod/more.go": "package mod\n\n// Hola says hola.\nfunc Hola() string { return \"hola\" }\n"})
	c, out = checker()
	if err := c.Check(); err == nil || !strings.Contains(out.String(), "+ pkg example.com/mod, func Hola() string") || strings.Contains(out.String(), "incompatible") {
		t.Errorf("Check after adding Hola: %v\n%s", err, out)
	}

	// An incompatible change: both report it.
	writeFiles(t, root, map[string]string{"mod/mod.go": "package mod\n\n// Hello says hello.\nfunc Hello() string { return \"hello\" }\n\n// Bye says bye.\nfunc Bye(n int64) string { return \"bye\" }\n"})
	c, out = checker()
	err := c.Check()
	for _, want := range []string{
		"- pkg example.com/mod, func Bye(int) string",
		"+ pkg example.com/mod, func Bye(int64) string",
		"incompatible changes (apidiff)",
		"Bye: changed from func(int) string to func(int64) string",
	} {
		if err == nil || !strings.Contains(out.String(), want) {
			t.Errorf("Check after changing Bye: %v; want %q in the report:\n%s", err, want, out)
		}
	}

	// The deliberate update, committed, is the new baseline.
	c, out = checker()
	if err := c.Update(); err != nil || !strings.Contains(out.String(), "+ pkg example.com/mod, func Hola() string") {
		t.Fatalf("Update: %v\n%s", err, out)
	}
	git("add", ".")
	git("commit", "-qm", "Bye takes an int64; Hola")
	c, out = checker()
	if err := c.Check(); err != nil {
		t.Fatalf("Check after the update: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "apidiff against") {
		t.Errorf("Check did not run apidiff against the baseline commit:\n%s", out)
	}
}

// buildApidiff returns the apidiff of the tools module (go tool -n builds
// it if needed and prints its path).
func buildApidiff(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", "apidiff")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n apidiff: %v", err)
	}
	return strings.TrimSpace(string(out))
}
