package sluiceconfig

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsKeys fails when a schema key is missing from the reference tables
// of docs/configuration.md, or when they name a key the schema lacks.
func TestDocsKeys(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z0-9_.\\[\\]]+)` \\|")
	var documented []string
	for line := range strings.Lines(string(doc)) {
		if m := row.FindStringSubmatch(line); m != nil {
			documented = append(documented, m[1])
		}
	}
	keys := allKeys()
	for _, k := range keys {
		if !slices.Contains(documented, k) {
			t.Errorf("docs/configuration.md does not document %s", k)
		}
	}
	seen := map[string]bool{}
	for _, k := range documented {
		if !slices.Contains(keys, k) {
			t.Errorf("docs/configuration.md documents %s, which is not a key", k)
		}
		if seen[k] {
			t.Errorf("docs/configuration.md documents %s twice", k)
		}
		seen[k] = true
	}
}

// TestExampleNamesEveryKey fails when config.example.toml does not mention
// a key (set or in a comment), so that every field stays commented there.
func TestExampleNamesEveryKey(t *testing.T) {
	t.Parallel()
	ex, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(ex)
	for _, k := range allKeys() {
		leaf := k[strings.LastIndexAny(k, ".]")+1:]
		if leaf == "" {
			continue
		}
		if !regexp.MustCompile(`(^|[\s{,#\[.])` + regexp.QuoteMeta(leaf) + `(\s*=|\])`).MatchString(text) {
			t.Errorf("config.example.toml does not mention %s", k)
		}
	}
}
