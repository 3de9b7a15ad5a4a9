package main

// Every Go code block of the Markdown docs (docs/*.md and README.md) is a
// copy of compiled code: a marker on the line before the block names where
// it comes from, and make docs rewrites the block from there.
//
//	<!-- snippet: core/example_docs_test.go#rules -->
//	```go
//	...
//	```
//
// A reference is a file relative to the repository root, shown whole (as
// the example servers of docs/getting-started.md are), or a region of it
// after '#'. A region is the lines between two comments of its own:
//
//	// snippet:rules
//	lim, err := core.New(...)
//	// end snippet:rules
//
// The block shows the region with its common indentation removed and
// without the marker comments of any region (regions may overlap or nest).
// A marker may name several references separated by spaces: the block
// shows them one after the other. Put a region inside an Example function
// or a test, with an // Output: check where it can run, in the module that
// has its dependencies, so go test compiles it; TestDocSnippets
// fails when a block has no marker or differs from its source.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

const (
	regionBegin = "// snippet:"
	regionEnd   = "// end snippet:"
)

// markerRE matches a snippet marker line of a Markdown file.
var markerRE = regexp.MustCompile(`^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$`)

// ref is one source of a code block: a file, relative to the repository
// root in slash form, and a region of it (empty for the whole file).
type ref struct {
	file, region string
}

func (r ref) String() string {
	if r.region == "" {
		return r.file
	}
	return r.file + "#" + r.region
}

// docFiles returns the Markdown files whose Go blocks must come from
// sources, relative to root in slash form.
func docFiles(root string) ([]string, error) {
	files := []string{"README.md"}
	md, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, f := range md {
		files = append(files, "docs/"+filepath.Base(f))
	}
	return files, nil
}

// block is a Go code block of a Markdown file.
type block struct {
	line  int    // of the opening fence, from 1
	refs  []ref  // from the marker; nil when there is none
	shown string // the block's contents, without the fences
	want  string // what the sources say it must be ("" when unknown)
}

// docResult is what syncDoc found in one Markdown file.
type docResult struct {
	blocks   []block
	problems []string // each prefixed with the line number
	out      string   // the file with every marked block rewritten
}

// stale returns the blocks whose contents differ from their sources.
func (d docResult) stale() []block {
	var out []block
	for _, b := range d.blocks {
		if b.refs != nil && b.want != "" && b.shown != b.want {
			out = append(out, b)
		}
	}
	return out
}

// syncDoc finds the Go code blocks of the Markdown text md, reads the
// sources their markers name with load (which returns a region's text,
// already extracted), and returns md with every marked block rewritten
// from its sources, with a problem for every Go block without a marker,
// every marker not followed by a Go block, and every source load fails on.
func syncDoc(md string, load func(ref) (string, error)) docResult {
	var res docResult
	lines := strings.SplitAfter(md, "\n")
	var out strings.Builder
	var pending []ref // the marker of the line before, if any
	pendingLine := 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if m := markerRE.FindStringSubmatch(line); m != nil {
			if pending != nil {
				res.problems = append(res.problems, fmt.Sprintf("line %d: snippet marker not followed by a ```go block", pendingLine))
			}
			refs, err := parseRefs(m[1])
			if err != nil {
				res.problems = append(res.problems, fmt.Sprintf("line %d: %v", i+1, err))
				refs = []ref{}
			}
			pending, pendingLine = refs, i+1
			out.WriteString(line)
			continue
		}
		fence, lang, isFence := fenceOf(trimmed)
		if !isFence {
			if pending != nil {
				res.problems = append(res.problems, fmt.Sprintf("line %d: snippet marker not followed by a ```go block", pendingLine))
				pending = nil
			}
			out.WriteString(line)
			continue
		}
		// A fenced block: copy it through, rewriting it if it is Go.
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		start := i
		end := len(lines) // the closing fence's index
		for j := i + 1; j < len(lines); j++ {
			if t := strings.TrimSpace(lines[j]); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				end = j
				break
			}
		}
		var body strings.Builder
		for _, l := range lines[start+1 : min(end, len(lines))] {
			body.WriteString(strings.TrimPrefix(l, indent))
		}
		shown := strings.TrimSuffix(body.String(), "\n")
		i = end
		if lang != "go" && lang != "golang" {
			if pending != nil {
				res.problems = append(res.problems, fmt.Sprintf("line %d: snippet marker not followed by a ```go block", pendingLine))
				pending = nil
			}
			out.WriteString(strings.Join(lines[start:min(end+1, len(lines))], ""))
			continue
		}
		b := block{line: start + 1, refs: pending, shown: shown}
		pending = nil
		if b.refs == nil {
			res.problems = append(res.problems, fmt.Sprintf("line %d: ```go block without a <!-- snippet: FILE#REGION --> marker on the line before", b.line))
		} else {
			var parts []string
			ok := true
			for _, r := range b.refs {
				text, err := load(r)
				if err != nil {
					res.problems = append(res.problems, fmt.Sprintf("line %d: %v", b.line, err))
					ok = false
					continue
				}
				parts = append(parts, text)
			}
			if ok && len(parts) > 0 {
				b.want = strings.Join(parts, "\n")
			}
		}
		res.blocks = append(res.blocks, b)
		if end >= len(lines) {
			res.problems = append(res.problems, fmt.Sprintf("line %d: ```go block never closed", b.line))
			out.WriteString(strings.Join(lines[start:], ""))
			continue
		}
		if b.want == "" {
			out.WriteString(strings.Join(lines[start:end+1], ""))
			continue
		}
		out.WriteString(lines[start])
		for l := range strings.Lines(b.want + "\n") {
			if l != "\n" {
				l = indent + l
			}
			out.WriteString(l)
		}
		out.WriteString(lines[end])
	}
	if pending != nil {
		res.problems = append(res.problems, fmt.Sprintf("line %d: snippet marker not followed by a ```go block", pendingLine))
	}
	res.out = out.String()
	return res
}

// fenceOf reports whether the trimmed line opens a fenced code block, and
// returns the fence (``` or longer, or ~~~) and the block's language.
func fenceOf(trimmed string) (fence, lang string, ok bool) {
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			info := strings.Fields(trimmed[n:])
			if len(info) > 0 {
				lang = strings.ToLower(info[0])
			}
			return trimmed[:n], lang, true
		}
	}
	return "", "", false
}

// parseRefs parses the references of a marker: FILE or FILE#REGION,
// separated by spaces.
func parseRefs(s string) ([]ref, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("snippet marker names no source")
	}
	refs := make([]ref, 0, len(fields))
	for _, f := range fields {
		file, region, _ := strings.Cut(f, "#")
		if file == "" || path.IsAbs(file) || !fs.ValidPath(file) {
			return nil, fmt.Errorf("snippet marker: %q is not a file relative to the repository root", f)
		}
		refs = append(refs, ref{file: file, region: region})
	}
	return refs, nil
}

// extract returns the text of region name of the source src (the whole
// source when name is ""), without the marker comments of any region,
// without its common indentation and without a final newline.
func extract(src, name string) (string, error) {
	var kept []string
	in := name == ""
	begun, ended := false, false
	for line := range strings.Lines(src) {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, regionBegin):
			if name != "" && strings.TrimSpace(strings.TrimPrefix(t, regionBegin)) == name {
				if begun {
					return "", errors.New("the region begins twice")
				}
				in, begun = true, true
			}
			continue
		case strings.HasPrefix(t, regionEnd):
			if name != "" && strings.TrimSpace(strings.TrimPrefix(t, regionEnd)) == name {
				if !in {
					return "", errors.New("the region ends before it begins")
				}
				in, ended = false, true
			}
			continue
		}
		if in {
			kept = append(kept, strings.TrimRight(line, "\r\n"))
		}
	}
	switch {
	case name != "" && !begun:
		return "", errors.New("no such region")
	case name != "" && !ended:
		return "", errors.New("the region never ends")
	}
	// Drop leading and trailing blank lines, then the common indentation.
	for len(kept) > 0 && strings.TrimSpace(kept[0]) == "" {
		kept = kept[1:]
	}
	for len(kept) > 0 && strings.TrimSpace(kept[len(kept)-1]) == "" {
		kept = kept[:len(kept)-1]
	}
	if len(kept) == 0 {
		return "", errors.New("empty region")
	}
	prefix := ""
	first := true
	for _, l := range kept {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = ind, false
			continue
		}
		for !strings.HasPrefix(ind, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	for i, l := range kept {
		if strings.TrimSpace(l) == "" {
			kept[i] = ""
		} else {
			kept[i] = strings.TrimPrefix(l, prefix)
		}
	}
	return strings.Join(kept, "\n"), nil
}

// loader returns a function that reads the references of markers from the
// repository at root.
func loader(root string) func(ref) (string, error) {
	files := map[string]string{}
	return func(r ref) (string, error) {
		src, ok := files[r.file]
		if !ok {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.file)))
			if err != nil {
				return "", fmt.Errorf("snippet %s: %w", r, err)
			}
			src = string(b)
			files[r.file] = src
		}
		text, err := extract(src, r.region)
		if err != nil {
			return "", fmt.Errorf("snippet %s: %w", r, err)
		}
		return text, nil
	}
}

// syncDocs rewrites the Go blocks of every Markdown file of the repository
// at root from their sources (only checking them when write is false) and
// returns the problems found, each prefixed with its file and line: with
// write false, a block that differs from its sources is one.
func syncDocs(root string, write bool) ([]string, error) {
	files, err := docFiles(root)
	if err != nil {
		return nil, err
	}
	used := map[ref]bool{}
	read := loader(root)
	load := func(r ref) (string, error) {
		used[r] = true
		return read(r)
	}
	var problems []string
	for _, f := range files {
		name := filepath.Join(root, filepath.FromSlash(f))
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		res := syncDoc(string(b), load)
		for _, p := range res.problems {
			problems = append(problems, f+": "+p)
		}
		if !write {
			for _, blk := range res.stale() {
				problems = append(problems, fmt.Sprintf("%s: line %d: the ```go block differs from %s (%s): run make docs", f, blk.line, joinRefs(blk.refs), firstDiff(blk.shown, blk.want)))
			}
			continue
		}
		if res.out != string(b) {
			if err := os.WriteFile(name, []byte(res.out), 0o644); err != nil {
				return nil, err
			}
		}
	}
	problems = append(problems, unshown(root, used)...)
	return problems, nil
}

// unshown returns a problem for every region, in the files the docs show
// regions of, that no marker names: a snippet the docs lost.
func unshown(root string, used map[ref]bool) []string {
	var files []string
	for r := range used {
		if r.region != "" && !slices.Contains(files, r.file) {
			files = append(files, r.file)
		}
	}
	slices.Sort(files)
	var problems []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			continue // reported by the marker that names it
		}
		for i, line := range strings.Split(string(b), "\n") {
			t := strings.TrimSpace(line)
			if name, ok := strings.CutPrefix(t, regionBegin); ok && !used[ref{f, strings.TrimSpace(name)}] {
				problems = append(problems, fmt.Sprintf("%s:%d: no doc shows region %q", f, i+1, strings.TrimSpace(name)))
			}
		}
	}
	return problems
}

func joinRefs(refs []ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}

// firstDiff describes the first line where the shown text differs from the
// wanted one.
func firstDiff(shown, want string) string {
	s, w := strings.Split(shown, "\n"), strings.Split(want, "\n")
	for i := 0; ; i++ {
		switch {
		case i >= len(s):
			return fmt.Sprintf("the block ends before its line %d, %q", i+1, w[i])
		case i >= len(w):
			return fmt.Sprintf("its line %d, %q, is not in the source", i+1, s[i])
		case s[i] != w[i]:
			return fmt.Sprintf("its line %d is %q, the source's %q", i+1, s[i], w[i])
		}
	}
}
