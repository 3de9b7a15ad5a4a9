package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocSnippets checks that every Go snippet of docs/algorithms.md is an
// excerpt of example_test.go, so that the snippets compile and run as the
// examples do: each snippet's lines, with their indentation removed, must
// appear as consecutive lines of example_test.go, the first and last lines
// possibly within longer ones (a snippet may start inside a call).
func TestDocSnippets(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "algorithms.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := trimmedLines(string(src))
	snippets := goSnippets(string(doc))
	if len(snippets) == 0 {
		t.Fatal("no Go snippets found in docs/algorithms.md")
	}
	for i, snip := range snippets {
		if !excerpt(trimmedLines(snip), lines) {
			t.Errorf("snippet %d of docs/algorithms.md is not an excerpt of example_test.go:\n%s", i+1, snip)
		}
	}
}

// goSnippets returns the contents of the ```go blocks of a Markdown text.
func goSnippets(md string) []string {
	var out []string
	var cur []string
	in := false
	for line := range strings.Lines(md) {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```go":
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			out = append(out, strings.Join(cur, ""))
		case in:
			cur = append(cur, line)
		}
	}
	return out
}

func trimmedLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// excerpt reports whether snip appears as consecutive lines of src, its
// first and last lines possibly as parts of lines.
func excerpt(snip, src []string) bool {
	if len(snip) == 0 {
		return false
	}
	for start := 0; start+len(snip) <= len(src); start++ {
		ok := true
		for j, l := range snip {
			s := src[start+j]
			edge := j == 0 || j == len(snip)-1
			if !(l == s || edge && strings.Contains(s, l)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
