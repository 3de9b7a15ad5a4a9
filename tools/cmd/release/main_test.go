package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scratchRepo writes a two-module repository with a versions file into a
// new git repository and commits it.
func scratchRepo(t *testing.T) (root string, git func(args ...string) string) {
	t.Helper()
	root = t.TempDir()
	files := map[string]string{
		"versions.yaml":       "module-sets:\n  lib:\n    version: v0.9.0\n    modules:\n      - example.com/lib/core\n      - example.com/lib/adapters/web\nexcluded-modules:\n  - example.com/lib/tools\n",
		"core/go.mod":         "module example.com/lib/core\n\ngo 1.25\n",
		"core/core.go":        "package core\n",
		"adapters/web/go.mod": "module example.com/lib/adapters/web\n\ngo 1.25\n\nrequire example.com/lib/core v0.9.0\n\nreplace example.com/lib/core => ../../core\n",
		"tools/go.mod":        "module example.com/lib/tools\n\ngo 1.26.0\n",
	}
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	git = func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "modules")
	return root, git
}

func TestTag(t *testing.T) {
	root, git := scratchRepo(t)
	t.Setenv("GIT_AUTHOR_NAME", "t")
	t.Setenv("GIT_AUTHOR_EMAIL", "t@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "t")
	t.Setenv("GIT_COMMITTER_EMAIL", "t@example.com")

	if err := tag([]string{"-root", root, "-n"}); err != nil {
		t.Fatalf("tag -n: %v", err)
	}
	if got := git("tag"); got != "" {
		t.Fatalf("tag -n created tags: %s", got)
	}

	// A dirty tree is refused.
	if err := os.WriteFile(filepath.Join(root, "core", "core.go"), []byte("package core\n\nconst X = 1\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := tag([]string{"-root", root}); err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
		t.Fatalf("tag on a dirty tree: %v", err)
	}
	git("checkout", "--", ".")

	if err := tag([]string{"-root", root}); err != nil {
		t.Fatalf("tag: %v", err)
	}
	if got, want := git("tag"), "adapters/web/v0.9.0\ncore/v0.9.0\n"; got != want {
		t.Fatalf("tags %q, want %q", got, want)
	}
	head := strings.TrimSpace(git("rev-parse", "HEAD"))
	if got := strings.TrimSpace(git("rev-parse", "core/v0.9.0^{commit}")); got != head {
		t.Errorf("core/v0.9.0 is at %s, want HEAD %s", got, head)
	}
	if err := tag([]string{"-root", root}); err == nil || !strings.Contains(err.Error(), "already exist") {
		t.Fatalf("tag again: %v", err)
	}

	// A repository that does not verify is not tagged.
	if err := os.WriteFile(filepath.Join(root, "adapters", "web", "go.mod"), []byte("module example.com/lib/adapters/web\n\ngo 1.25\n\nrequire example.com/lib/core v0.0.0\n\nreplace example.com/lib/core => ../../core\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "placeholder")
	git("tag", "-d", "core/v0.9.0", "adapters/web/v0.9.0")
	if err := tag([]string{"-root", root}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("tag of a repository that does not verify: %v", err)
	}
}

func TestPrepareCommand(t *testing.T) {
	root, _ := scratchRepo(t)
	if err := prepare([]string{"-root", root, "v1.0.0"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "adapters", "web", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "require example.com/lib/core v1.0.0\n") || !strings.Contains(string(data), "replace example.com/lib/core => ../../core\n") {
		t.Errorf("adapters/web/go.mod after prepare v1.0.0:\n%s", data)
	}
	if err := verify([]string{"-root", root}); err != nil {
		t.Errorf("verify after prepare: %v", err)
	}
}
