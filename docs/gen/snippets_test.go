package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocSnippets fails when a Go code block of docs/*.md or
// README.md has no snippet marker, names a source that does not exist, or
// differs from its source; and when a region of a file the docs show is
// shown nowhere. make docs rewrites the blocks.
func TestDocSnippets(t *testing.T) {
	t.Parallel()
	problems, err := syncDocs(filepath.Join("..", ".."), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// src is a Go file with regions, as the tests of syncDoc read it.
var src = map[string]string{
	"a_test.go": `package a

func Example() {
	// snippet:outer
	x := 1
	if x > 0 {
		// snippet:inner
		fmt.Println(x)

		fmt.Println(x + 1)
		// end snippet:inner
	}
	// end snippet:outer
}
`,
	"main.go": "package main\n\nfunc main() {}\n",
}

func load(r ref) (string, error) {
	s, ok := src[r.file]
	if !ok {
		return "", errors.New("no such file")
	}
	return extract(s, r.region)
}

func TestExtract(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, region, want, wantErr string
	}{
		{name: "whole file", region: "", want: "package a\n\nfunc Example() {\n\tx := 1\n\tif x > 0 {\n\t\tfmt.Println(x)\n\n\t\tfmt.Println(x + 1)\n\t}\n}"},
		{name: "outer drops the inner markers and dedents", region: "outer", want: "x := 1\nif x > 0 {\n\tfmt.Println(x)\n\n\tfmt.Println(x + 1)\n}"},
		{name: "inner keeps its blank line", region: "inner", want: "fmt.Println(x)\n\nfmt.Println(x + 1)"},
		{name: "missing", region: "nope", wantErr: "no such region"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := extract(src["a_test.go"], tt.region)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("extract: err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("extract:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestExtractBrokenRegions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, src, wantErr string }{
		{"never ends", "// snippet:a\nx\n", "the region never ends"},
		{"ends first", "// end snippet:a\n// snippet:a\nx\n// end snippet:a\n", "the region ends before it begins"},
		{"twice", "// snippet:a\nx\n// end snippet:a\n// snippet:a\n// end snippet:a\n", "the region begins twice"},
		{"empty", "// snippet:a\n\n// end snippet:a\n", "empty region"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := extract(tt.src, "a"); err == nil || err.Error() != tt.wantErr {
				t.Errorf("extract: err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestSyncDocRewritesStaleBlocks(t *testing.T) {
	t.Parallel()
	md := "# Doc\n\n<!-- snippet: a_test.go#inner -->\n```go\nold\n```\n\nText.\n\n" +
		"- item:\n\n  <!-- snippet: a_test.go#inner main.go -->\n  ```go\n  fmt.Println(x)\n  ```\n\n```sh\ngo test\n```\n"
	want := "# Doc\n\n<!-- snippet: a_test.go#inner -->\n```go\nfmt.Println(x)\n\nfmt.Println(x + 1)\n```\n\nText.\n\n" +
		"- item:\n\n  <!-- snippet: a_test.go#inner main.go -->\n  ```go\n  fmt.Println(x)\n\n  fmt.Println(x + 1)\n  package main\n\n  func main() {}\n  ```\n\n```sh\ngo test\n```\n"
	res := syncDoc(md, load)
	if len(res.problems) > 0 {
		t.Fatalf("problems: %q", res.problems)
	}
	if res.out != want {
		t.Errorf("out:\n%s\nwant:\n%s", res.out, want)
	}
	if got := len(res.stale()); got != 2 {
		t.Errorf("%d stale blocks, want 2", got)
	}
	again := syncDoc(res.out, load)
	if again.out != res.out || len(again.stale()) != 0 || len(again.problems) != 0 {
		t.Errorf("a rewritten doc is not current: %d stale, problems %q", len(again.stale()), again.problems)
	}
}

func TestSyncDocProblems(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, md, want string }{
		{"no marker", "Text\n```go\nx\n```\n", "line 2: ```go block without a <!-- snippet: FILE#REGION --> marker on the line before"},
		{"blank line after the marker", "<!-- snippet: main.go -->\n\n```go\nx\n```\n", "line 1: snippet marker not followed by a ```go block"},
		{"marker before another language", "<!-- snippet: main.go -->\n```sh\nx\n```\n", "line 1: snippet marker not followed by a ```go block"},
		{"marker at the end", "<!-- snippet: main.go -->\n", "line 1: snippet marker not followed by a ```go block"},
		{"missing file", "<!-- snippet: b.go -->\n```go\nx\n```\n", "line 2: no such file"},
		{"missing region", "<!-- snippet: a_test.go#nope -->\n```go\nx\n```\n", "line 2: no such region"},
		{"absolute path", "<!-- snippet: /etc/passwd -->\n```go\nx\n```\n", `line 1: snippet marker: "/etc/passwd" is not a file relative to the repository root`},
		{"unclosed block", "<!-- snippet: main.go -->\n```go\nx\n", "line 2: ```go block never closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := syncDoc(tt.md, load)
			if !strings.Contains(strings.Join(res.problems, "\n"), tt.want) {
				t.Errorf("problems %q, want %q", res.problems, tt.want)
			}
		})
	}
}
