package core

import (
	"cmp"
	"path"
	"slices"
	"strings"
)

// ruleSet is an immutable, compiled set of rules; the Limiter swaps whole
// sets atomically.
type ruleSet struct {
	rules  []*compiledRule
	exact  map[string][]*compiledRule // by path; rules with methods first
	prefix []*compiledRule            // longest prefix first; with methods first
	deflt  []*compiledRule            // rules with methods first
}

func newRuleSet(rules []*compiledRule) *ruleSet {
	rs := &ruleSet{rules: rules, exact: map[string][]*compiledRule{}}
	for _, r := range rules {
		switch {
		case r.Path == "":
			rs.deflt = append(rs.deflt, r)
		case r.prefix != "" || r.Path == "/**":
			rs.prefix = append(rs.prefix, r)
		default:
			rs.exact[r.Path] = append(rs.exact[r.Path], r)
		}
	}
	byMethods := func(a, b *compiledRule) int {
		// Method-specific rules first, then declaration order (stable).
		return cmp.Compare(min(len(b.methods), 1), min(len(a.methods), 1))
	}
	for _, rs := range rs.exact {
		slices.SortStableFunc(rs, byMethods)
	}
	slices.SortStableFunc(rs.deflt, byMethods)
	slices.SortStableFunc(rs.prefix, func(a, b *compiledRule) int {
		if c := cmp.Compare(len(b.prefix), len(a.prefix)); c != 0 {
			return c
		}
		return byMethods(a, b)
	})
	return rs
}

// match returns the rule for a request, or nil when no rule applies. The
// route template, when the framework knows it, is tried before the path, so
// a rule written for "/users/{id}" applies to every user. The path is
// cleaned first ("//login/" is "/login"), so a client cannot step around a
// rule by spelling a path differently.
func (rs *ruleSet) match(method, rawPath, route string) *compiledRule {
	path := cleanPath(rawPath)
	if route != "" && route != path {
		if r := rs.matchPath(method, route); r != nil {
			return r
		}
	}
	if r := rs.matchPath(method, path); r != nil {
		return r
	}
	for _, r := range rs.deflt {
		if r.matchesMethod(method) {
			return r
		}
	}
	return nil
}

func (rs *ruleSet) matchPath(method, path string) *compiledRule {
	for _, r := range rs.exact[path] {
		if r.matchesMethod(method) {
			return r
		}
	}
	for _, r := range rs.prefix {
		if hasPathPrefix(path, r.prefix) && r.matchesMethod(method) {
			return r
		}
	}
	return nil
}

// hasPathPrefix reports whether path is prefix or lies below it, segment-wise:
// "/api" and "/api/x" are below "/api", "/apix" is not.
func hasPathPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// cleanPath returns p in canonical form: rooted, without repeated slashes,
// dot segments or a trailing slash. It does not allocate when p is already
// clean, the common case.
func cleanPath(p string) string {
	if isCleanPath(p) {
		return p
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// isCleanPath reports whether path.Clean would return p unchanged for a
// rooted p: no empty, "." or ".." segment and no trailing slash.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if len(p) == 1 {
		return true
	}
	start := 1 // start of the current segment
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch seg := p[start:i]; seg {
		case "", ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}
