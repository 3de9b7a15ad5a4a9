package modset

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the Sluice repository this package sits in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestNoModuleCycle reads every go.mod of the repository and fails on any
// cycle among its modules (core requiring testkit, which requires core,
// was one).
func TestNoModuleCycle(t *testing.T) {
	r, err := Load(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Modules) < 10 {
		t.Fatalf("found %d modules under %s; want every go.mod of the repository", len(r.Modules), r.Root)
	}
	if err := r.CheckCycles(); err != nil {
		t.Fatal(err)
	}
	// The module that must stay at the bottom requires no sibling.
	if core := r.Graph()["github.com/sluicehq/sluice/core"]; len(core) > 0 {
		t.Errorf("core requires %v; it must require no other Sluice module", core)
	}
}

// TestRepositoryVerifies is release verify on the repository.
func TestRepositoryVerifies(t *testing.T) {
	root := repoRoot(t)
	r, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range Verify(r, v) {
		t.Error(err)
	}
}

func TestFindCycle(t *testing.T) {
	tests := []struct {
		name  string
		graph map[string][]string
		want  []string // nil: no cycle
	}{
		{"empty", map[string][]string{}, nil},
		{"chain", map[string][]string{"adapter": {"core"}, "core": nil, "testkit": {"core"}}, nil},
		{"diamond", map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": nil}, nil},
		{"self", map[string][]string{"core": {"core"}}, []string{"core", "core"}},
		{"two", map[string][]string{"core": {"testkit"}, "testkit": {"core"}}, []string{"core", "testkit", "core"}},
		{"three behind a chain", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}, []string{"b", "c", "d", "b"}},
		{"edge to a module outside the graph", map[string][]string{"a": {"x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FindCycle(tt.graph); !slices.Equal(got, tt.want) {
				t.Errorf("FindCycle = %v, want %v", got, tt.want)
			}
		})
	}
}

// writeTree writes files (slash paths relative to dir) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
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

const testVersions = `# comment kept by prepare
module-sets:
  lib:
    version: v0.9.0 # trailing comment kept
    modules:
      - example.com/lib/core
      - example.com/lib/adapter
excluded-modules:
  - example.com/lib/tools # never published
`

// goodRepo is a small repository that verifies.
func goodRepo() map[string]string {
	return map[string]string{
		"versions.yaml": testVersions,
		"go.work":       "go 1.25.0\n\nuse (\n\t./adapter\n\t./core\n)\n",
		"core/go.mod":   "module example.com/lib/core\n\ngo 1.25\n",
		"adapter/go.mod": `module example.com/lib/adapter

go 1.25

require example.com/lib/core v0.9.0

replace example.com/lib/core => ../core
`,
		"tools/go.mod": `module example.com/lib/tools

go 1.26.0

require (
	example.com/lib/adapter v0.9.0
	example.com/lib/core v0.9.0
)

replace (
	example.com/lib/adapter => ../adapter
	example.com/lib/core => ../core
)
`,
		"tools/testdata/x/go.mod": "module example.com/ignored\n",
	}
}

func loadTree(t *testing.T, files map[string]string) (*Repo, *Versions) {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ReadVersions(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r, v
}

func TestVerify(t *testing.T) {
	if errs := Verify(loadTree(t, goodRepo())); len(errs) > 0 {
		t.Fatalf("Verify of a good repository: %v", errs)
	}
	tests := []struct {
		name   string
		change map[string]string // files replaced in goodRepo ("" removes)
		want   []string          // a substring of each error, in order
	}{
		{"placeholder version", map[string]string{
			"adapter/go.mod": "module example.com/lib/adapter\n\nrequire example.com/lib/core v0.0.0\n\nreplace example.com/lib/core => ../core\n",
		}, []string{"adapter/go.mod: requires example.com/lib/core v0.0.0, want v0.9.0"}},
		{"unlisted module", map[string]string{
			"extra/go.mod": "module example.com/lib/extra\n",
		}, []string{"extra/go.mod: module example.com/lib/extra is in no module set"}},
		{"listed module without go.mod", map[string]string{
			"versions.yaml": strings.Replace(testVersions, "      - example.com/lib/adapter\n", "      - example.com/lib/adapter\n      - example.com/lib/gone\n", 1),
		}, []string{"module example.com/lib/gone has no go.mod"}},
		{"listed twice", map[string]string{
			"versions.yaml": testVersions + "  - example.com/lib/core\n",
		}, []string{"module example.com/lib/core is listed 2 times"}},
		{"no replace", map[string]string{
			"adapter/go.mod": "module example.com/lib/adapter\n\nrequire example.com/lib/core v0.9.0\n",
		}, []string{"adapter/go.mod: requires sibling example.com/lib/core without a relative replace (want => ../core)"}},
		{"replace to the wrong directory", map[string]string{
			"adapter/go.mod": "module example.com/lib/adapter\n\nrequire example.com/lib/core v0.9.0\n\nreplace example.com/lib/core => ../tools\n",
		}, []string{"adapter/go.mod: replaces example.com/lib/core with ./tools, but that module is in ./core"}},
		{"published requires excluded", map[string]string{
			"adapter/go.mod": "module example.com/lib/adapter\n\nrequire (\n\texample.com/lib/core v0.9.0\n\texample.com/lib/tools v0.0.0\n)\n\nreplace example.com/lib/core => ../core\n\nreplace example.com/lib/tools => ../tools\n",
		}, []string{"published module example.com/lib/adapter requires example.com/lib/tools, which is not published", "module cycle: example.com/lib/adapter -> example.com/lib/tools -> example.com/lib/adapter"}},
		{"not in go.work", map[string]string{
			"go.work": "go 1.25.0\n\nuse ./core\n",
		}, []string{"go.work: does not use ./adapter"}},
		{"cycle", map[string]string{
			"core/go.mod": "module example.com/lib/core\n\nrequire example.com/lib/adapter v0.9.0\n\nreplace example.com/lib/adapter => ../adapter\n",
		}, []string{"module cycle: example.com/lib/adapter -> example.com/lib/core -> example.com/lib/adapter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := goodRepo()
			for k, v := range tt.change {
				files[k] = v
			}
			errs := Verify(loadTree(t, files))
			if len(errs) != len(tt.want) {
				t.Fatalf("Verify: %d errors, want %d:\n%v", len(errs), len(tt.want), errors.Join(errs...))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
			}
		})
	}
}

func TestCheckCyclesOnModFiles(t *testing.T) {
	files := goodRepo()
	files["core/go.mod"] = "module example.com/lib/core\n\nrequire example.com/lib/adapter v0.9.0\n"
	r, _ := loadTree(t, files)
	if err := r.CheckCycles(); !errors.Is(err, ErrCycle) {
		t.Fatalf("CheckCycles = %v, want a module cycle", err)
	}
}

func TestPrepare(t *testing.T) {
	files := goodRepo()
	files["adapter/go.mod"] = "module example.com/lib/adapter\n\ngo 1.25\n\nrequire (\n\texample.com/lib/core v0.0.0 // a comment\n\texample.com/other v1.0.0\n)\n\nreplace example.com/lib/core => ../core\n"
	r, v := loadTree(t, files)
	changed, err := Prepare(r, v, "lib", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"versions.yaml", "adapter/go.mod", "tools/go.mod"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(r.Root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got, want := read("versions.yaml"), strings.Replace(testVersions, "v0.9.0", "v1.2.3", 1); got != want {
		t.Errorf("versions.yaml:\n%s\nwant:\n%s", got, want)
	}
	if got, want := read("adapter/go.mod"), "module example.com/lib/adapter\n\ngo 1.25\n\nrequire (\n\texample.com/lib/core v1.2.3 // a comment\n\texample.com/other v1.0.0\n)\n\nreplace example.com/lib/core => ../core\n"; got != want {
		t.Errorf("adapter/go.mod:\n%s\nwant:\n%s", got, want)
	}
	r2, v2, err := reload(r.Root)
	if err != nil {
		t.Fatal(err)
	}
	if errs := Verify(r2, v2); len(errs) > 0 {
		t.Errorf("Verify after Prepare: %v", errs)
	}
	if changed, err := Prepare(r2, v2, "lib", ""); err != nil || len(changed) > 0 {
		t.Errorf("Prepare again = %v, %v; want no change", changed, err)
	}
	for _, bad := range []string{"1.2.3", "v1.2", "v1.2.3+meta", "vX"} {
		if _, err := Prepare(r2, v2, "lib", bad); err == nil {
			t.Errorf("Prepare(%q) accepted it", bad)
		}
	}
	if _, err := Prepare(r2, v2, "nope", "v1.0.0"); err == nil {
		t.Error("Prepare of an unknown set succeeded")
	}
}

func reload(root string) (*Repo, *Versions, error) {
	r, err := Load(root)
	if err != nil {
		return nil, nil, err
	}
	v, err := ReadVersions(root)
	return r, v, err
}

func TestTags(t *testing.T) {
	r, v := loadTree(t, goodRepo())
	tags, err := Tags(r, v)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tag := range tags {
		names = append(names, tag.Name)
	}
	if want := []string{"adapter/v0.9.0", "core/v0.9.0"}; !slices.Equal(names, want) {
		t.Errorf("tags %v, want %v", names, want)
	}
}

func TestParseVersionsErrors(t *testing.T) {
	for _, bad := range []string{
		"",
		"module-sets: {}\n",
		"module-sets:\n  a:\n    version: 0.9.0\n    modules: [x]\n",
		"module-sets:\n  a:\n    version: v0.9.0\n",
		"module-sets:\n  a:\n    version: v0.9.0\n    modules: [x]\n    extra: 1\n",
		"modules-sets:\n  a:\n    version: v0.9.0\n    modules: [x]\n",
	} {
		if _, err := ParseVersions([]byte(bad)); err == nil {
			t.Errorf("ParseVersions(%q) succeeded", bad)
		}
	}
}
