package examples_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/testkit/redistest"
)

// publicImports are the import path prefixes an example's main.go may use
// besides the standard library: Sluice's modules (not this one), the
// frameworks and Prometheus.
var publicImports = []string{
	"github.com/sluicehq/sluice/adapters",
	"github.com/sluicehq/sluice/backends",
	"github.com/sluicehq/sluice/config",
	"github.com/sluicehq/sluice/core",
	"github.com/sluicehq/sluice/jwt",
	"github.com/sluicehq/sluice/metrics",
	"github.com/go-chi/chi/v5",
	"github.com/gin-gonic/gin",
	"github.com/labstack/echo/v4",
	"github.com/prometheus/client_golang",
}

// TestMainIsCopyable copies each example's main.go, alone, into a module of
// its own, as a user starting from it would, and builds it there with
// GOWORK=off: it must import only public packages. The module requires what
// examples/go.mod requires, at the same versions, with Sluice's modules
// replaced by this repository's directories; the module cache or the
// module proxy supplies the rest.
func TestMainIsCopyable(t *testing.T) {
	goBin := redistest.Need(t, "go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	mod := userGoMod(t, string(gomod), filepath.ToSlash(root))
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join(name, "main.go"))
			if err != nil {
				t.Fatal(err)
			}
			checkImports(t, src)
			dir := t.TempDir()
			for file, data := range map[string][]byte{"main.go": src, "go.mod": []byte(mod), "go.sum": gosum} {
				if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", os.DevNull, ".")
			cmd.Dir = dir
			// The module proxy stays on: in the workspace, this module's
			// own build selects the workspace's versions, so a fresh
			// module cache may lack the ones examples/go.mod names.
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s/main.go, copied alone into a module of its own, does not build: %v\n%s", name, err, out)
			}
		})
	}
}

// userGoMod turns examples/go.mod into the go.mod of a user's module: a
// module path of its own, the same requirements, and Sluice's modules
// replaced by the directories of the repository at root.
func userGoMod(t *testing.T, gomod, root string) string {
	t.Helper()
	module := regexp.MustCompile(`(?m)^module \S+$`)
	if !module.MatchString(gomod) {
		t.Fatalf("examples/go.mod has no module line")
	}
	gomod = module.ReplaceAllString(gomod, "module example.com/yourservice")
	replace := regexp.MustCompile(`=> \.\./(\S+)`)
	if !replace.MatchString(gomod) {
		t.Fatalf("examples/go.mod replaces no Sluice module with a directory")
	}
	return replace.ReplaceAllString(gomod, "=> "+root+"/$1")
}

// checkImports fails the test for any import of src outside the standard
// library and publicImports.
func checkImports(t *testing.T, src []byte) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		first, _, _ := strings.Cut(path, "/")
		if !strings.Contains(first, ".") {
			continue // the standard library
		}
		public := false
		for _, p := range publicImports {
			public = public || path == p || strings.HasPrefix(path, p+"/")
		}
		if !public || strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal") {
			t.Errorf("main.go imports %q, which a copy outside this repository cannot use", path)
		}
	}
}
