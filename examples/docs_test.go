package examples_test

import (
	"os"
	"strings"
	"testing"
)

// TestGettingStartedIsCurrent fails when docs/getting-started.md no longer
// shows an example server exactly as it is in examples/<framework>/main.go.
func TestGettingStartedIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../docs/getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range examples {
		src, err := os.ReadFile(name + "/main.go")
		if err != nil {
			t.Fatal(err)
		}
		begin := "<!-- begin examples/" + name + "/main.go -->\n```go\n"
		_, rest, ok := strings.Cut(string(doc), begin)
		if !ok {
			t.Errorf("docs/getting-started.md has no section for examples/%s/main.go", name)
			continue
		}
		shown, _, _ := strings.Cut(rest, "\n```\n<!-- end")
		if shown != strings.TrimRight(string(src), "\n") {
			t.Errorf("docs/getting-started.md shows an outdated examples/%s/main.go: regenerate the section", name)
		}
	}
}
