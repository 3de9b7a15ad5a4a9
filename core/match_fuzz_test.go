package core

import (
	"slices"
	"strings"
	"testing"
)

// refMatches is a reference matcher, written without the trie: it reports
// whether pattern p matches the clean path, segment by segment.
func refMatches(p []patSeg, path string) bool {
	var segs []string
	if path != "/" {
		segs = strings.Split(path[1:], "/")
	}
	for i, s := range p {
		switch s.kind {
		case segRest:
			return true
		case segLiteral:
			if i >= len(segs) || segs[i] != s.lit {
				return false
			}
		default:
			if i >= len(segs) {
				return false
			}
		}
	}
	return len(p) == len(segs)
}

// refRanks is a pattern's precedence key: per segment a literal 3, a
// parameter 2, "*" 1, "**" 0, and 4 for the end of a pattern without "**".
// Of two patterns matching one path, the greater key (lexicographically)
// is the more specific.
func refRanks(p []patSeg) []int {
	var k []int
	for _, s := range p {
		k = append(k, [...]int{segLiteral: 3, segParam: 2, segStar: 1, segRest: 0}[s.kind])
	}
	if len(p) == 0 || p[len(p)-1].kind != segRest {
		k = append(k, 4)
	}
	return k
}

// refMatch returns the rule the reference picks: the most specific
// matching pattern, then method-specific, then tier-specific, then first
// declared; default rules last.
func refMatch(rules []*compiledRule, method, path, tier string) *compiledRule {
	q := query{method: method, tier: tier}
	var best *compiledRule
	better := func(a, b *compiledRule) bool {
		if (a.Path == "") != (b.Path == "") {
			return b.Path == ""
		}
		if c := slices.Compare(refRanks(a.pattern), refRanks(b.pattern)); c != 0 {
			return c > 0
		}
		return byPrecedence(a, b) < 0
	}
	for _, r := range rules {
		if !q.accepts(r) || (r.Path != "" && !refMatches(r.pattern, path)) {
			continue
		}
		if best == nil || better(r, best) {
			best = r
		}
	}
	return best
}

// fuzzRules is the fixed rule set a fuzzed rule joins.
var fuzzRules = []Rule{
	{Name: "exact", Path: "/users/me"},
	{Name: "param", Path: "/users/{id}"},
	{Name: "param-post", Path: "/users/{id}", Methods: []string{"POST"}},
	{Name: "param-premium", Path: "/users/{id}", Tiers: []string{"premium"}},
	{Name: "star", Path: "/users/*"},
	{Name: "rest", Path: "/users/**"},
	{Name: "nested", Path: "/users/{id}/posts"},
	{Name: "nested-star", Path: "/users/*/posts/*"},
	{Name: "api", Path: "/api/**"},
	{Name: "api-v1", Path: "/api/v1/**"},
	{Name: "api-items", Path: "/api/*/items"},
	{Name: "root", Path: "/"},
	{Name: "all-delete", Path: "/**", Methods: []string{"DELETE"}},
	{Name: "default"},
	{Name: "default-premium", Tiers: []string{"premium"}},
}

// FuzzMatch compares the trie with the reference matcher for a fuzzed rule
// added to a fixed set and a fuzzed request.
func FuzzMatch(f *testing.F) {
	for _, s := range [][4]string{
		{"/users/{uid}", "/users/42", "GET", ""},
		{"/users/*/posts", "/users/7/posts", "POST", "premium"},
		{"/**", "/", "DELETE", ""},
		{"/api/v1/items", "/api/v1/items", "GET", "premium"},
		{"/a/b/**", "/a/b", "PUT", ""},
		{"/", "/x/y/z", "get", "premium"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	pol, _ := newPolicy(&config{})
	f.Fuzz(func(t *testing.T, pattern, path, method, tier string) {
		rules := append(slices.Clone(fuzzRules), Rule{Name: "fuzzed", Path: pattern, Methods: []string{"GET", "DELETE"}})
		for i := range rules {
			rules[i].Limits = []Limit{PerSecond(1)}
		}
		compiled, err := compileRules(rules, pol)
		if err != nil {
			return // an invalid pattern: New rejects it
		}
		path = cleanPath(path)
		rs := newRuleSet(compiled)
		got := rs.match(method, path, "", tier)
		want := refMatch(compiled, method, path, tier)
		if got != want {
			t.Fatalf("pattern %q, %s %q (tier %q): trie picked %v, reference %v", pattern, method, path, tier, name(got), name(want))
		}
		// A route template equal to a path that matches the fuzzed pattern
		// picks nothing less specific than the path alone.
		if r := rs.match(method, path, pattern, tier); r != nil && want != nil && r.rank > want.rank {
			t.Fatalf("route %q made %s %q less specific: %v, want at most %v", pattern, method, path, name(r), name(want))
		}
	})
}

func name(r *compiledRule) string {
	if r == nil {
		return "<nil>"
	}
	return r.Name
}
