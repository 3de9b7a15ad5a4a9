package core

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Rule matching.
//
// Rule paths are compiled into a trie with one level per path segment. A
// node has literal children (a short slice, or a map when there are many),
// at most one parameter child ("{id}"), one single-segment wildcard child
// ("*"), the rules that end at the node, and the rules whose "/**" (or
// "{name...}") starts at the node. A lookup walks the request's segments
// depth first, trying at each node the literal child, then the parameter,
// then "*", and only then the node's "/**" rules; at the end of the path
// the rules ending at the node come before its "/**" rules. The first rule
// found whose methods and tiers accept the request is therefore the most
// specific one, in this order:
//
//  1. segment by segment from the left, a literal beats a parameter, which
//     beats "*", which beats "**"; so an exact path beats every pattern, and
//     of two patterns the one with the longer literal prefix wins;
//  2. then a rule listing the request's method beats one listing no methods;
//  3. then a rule listing the client's tier beats one listing no tiers;
//  4. then the rule declared first.
//
// Rules with an empty Path (default rules) come after every pattern, in the
// order of steps 2 to 4. Every rule gets its rank in this order when the set
// is built, so a match on the route template and a match on the path can be
// compared: the lower rank wins. The cost of a lookup depends on the depth
// of the path and the patterns, not on the number of rules.

// segKind is the kind of one segment of a path pattern.
type segKind uint8

const (
	segLiteral segKind = iota // "users"
	segParam                  // "{id}"
	segStar                   // "*"
	segRest                   // "**" or "{name...}", always last
)

// patSeg is one segment of a parsed pattern.
type patSeg struct {
	kind segKind
	lit  string
}

// parsePattern parses a rule path: rooted, segments separated by "/", each
// a literal, "*", "{name}", or, as the last segment only, "**" or
// "{name...}". The pattern is cleaned first ("/a//b/" is "/a/b").
func parsePattern(p string) ([]patSeg, error) {
	if p == "" || p[0] != '/' {
		return nil, fmt.Errorf(`must start with "/"`)
	}
	p = path.Clean(p)
	if p == "/" {
		return nil, nil
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]patSeg, 0, len(parts))
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "**" || (isTemplateParam(s) && strings.HasSuffix(s, "...}")):
			if !last {
				return nil, fmt.Errorf("%q must be the last segment", s)
			}
			segs = append(segs, patSeg{kind: segRest})
		case s == "*":
			segs = append(segs, patSeg{kind: segStar})
		case s == "{$}":
			return nil, fmt.Errorf(`"{$}" is not supported: paths are matched without their trailing slash`)
		case isTemplateParam(s):
			if !validParamName(s[1 : len(s)-1]) {
				return nil, fmt.Errorf("%q is not a valid parameter: want {name} with letters, digits and '_'", s)
			}
			segs = append(segs, patSeg{kind: segParam})
		case strings.ContainsAny(s, "*{}"):
			return nil, fmt.Errorf(`segment %q: "*", "**", "{name}" and "{name...}" must be whole segments`, s)
		case len(s) > 1 && s[0] == ':' && validParamName(s[1:]):
			// gin, echo and httprouter write parameters so; routes reach
			// the Limiter in the "{name}" syntax, so such a rule would
			// never match.
			return nil, fmt.Errorf("segment %q is a route parameter in another syntax, which no request matches: write {%s}", s, s[1:])
		default:
			segs = append(segs, patSeg{kind: segLiteral, lit: s})
		}
	}
	return segs, nil
}

// isTemplateParam reports whether a segment is written as a parameter,
// "{...}". Route templates use it too, in the syntax httpcontract.RouteTemplate
// produces ("{id}", "{path...}") and in chi's ("{id:[0-9]+}").
func isTemplateParam(s string) bool {
	return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}'
}

func validParamName(name string) bool {
	name = strings.TrimSuffix(name, "...")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
			return false
		}
	}
	return true // "{...}" is an anonymous rest parameter
}

// ruleSet is an immutable, compiled set of rules; the Limiter swaps whole
// sets atomically.
type ruleSet struct {
	rules  []*compiledRule
	byName map[string]*compiledRule // every rule, for Take and Request.Rule
	// exemptHealth holds the health endpoints no rule names exactly.
	exemptHealth []string
	root         *node
	deflt        []*compiledRule // rules with an empty Path, in precedence order
	tiered       bool            // some rule names tiers: identify before matching
	// bare is the rule of a request with no method, path or route (a
	// keyed caller's), when the set is not tiered: matched once, here.
	bare *compiledRule
}

// node is one level of the trie: a path segment.
type node struct {
	lits   []litEdge        // literal children, when few
	litMap map[string]*node // literal children, when many
	param  *node
	star   *node
	end    []*compiledRule // rules whose pattern ends here, in precedence order
	rest   []*compiledRule // rules whose "**" starts here, in precedence order
	leaf   bool            // no children: set by rank
}

type litEdge struct {
	seg  string
	next *node
}

// maxLitSlice is the most literal children a node keeps in a slice; a
// linear scan of a few strings beats hashing the segment.
const maxLitSlice = 8

func (n *node) lit(seg string) *node {
	if n.litMap != nil {
		return n.litMap[seg]
	}
	for i := range n.lits {
		if n.lits[i].seg == seg {
			return n.lits[i].next
		}
	}
	return nil
}

func (n *node) child(s patSeg) *node {
	switch s.kind {
	case segParam:
		if n.param == nil {
			n.param = &node{}
		}
		return n.param
	case segStar:
		if n.star == nil {
			n.star = &node{}
		}
		return n.star
	}
	if c := n.lit(s.lit); c != nil {
		return c
	}
	c := &node{}
	n.lits = append(n.lits, litEdge{s.lit, c})
	if len(n.lits) > maxLitSlice {
		n.litMap = make(map[string]*node, len(n.lits))
		for _, e := range n.lits {
			n.litMap[e.seg] = e.next
		}
	}
	return c
}

// insert adds r at the end of its pattern.
func (n *node) insert(segs []patSeg, r *compiledRule) {
	for _, s := range segs {
		if s.kind == segRest {
			n.rest = append(n.rest, r)
			return
		}
		n = n.child(s)
	}
	n.end = append(n.end, r)
}

// byPrecedence orders rules of one pattern: method-specific first, then
// tier-specific, then declaration order.
func byPrecedence(a, b *compiledRule) int {
	if c := cmp.Compare(min(len(b.methods), 1), min(len(a.methods), 1)); c != 0 {
		return c
	}
	if c := cmp.Compare(min(len(b.tiers), 1), min(len(a.tiers), 1)); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// rank numbers the rules of the subtree in precedence order, sorting each
// node's rules on the way.
func (n *node) rank(next *int) {
	number := func(rs []*compiledRule) {
		slices.SortFunc(rs, byPrecedence)
		for _, r := range rs {
			r.rank = *next
			*next++
		}
	}
	number(n.end)
	n.leaf = len(n.lits) == 0 && n.param == nil && n.star == nil
	lits := n.lits
	slices.SortFunc(lits, func(a, b litEdge) int { return strings.Compare(a.seg, b.seg) })
	for _, e := range lits {
		e.next.rank(next)
	}
	if n.param != nil {
		n.param.rank(next)
	}
	if n.star != nil {
		n.star.rank(next)
	}
	number(n.rest)
}

// newRuleSet indexes compiled rules; compileRules has set their patterns.
func newRuleSet(rules []*compiledRule) *ruleSet {
	rs := &ruleSet{rules: rules, byName: make(map[string]*compiledRule, len(rules)), root: &node{}}
	for _, r := range rules {
		rs.byName[r.Name] = r
		if r.NameOnly {
			continue // matches no request
		}
		if len(r.tiers) > 0 {
			rs.tiered = true
		}
		if r.Path == "" {
			rs.deflt = append(rs.deflt, r)
			continue
		}
		rs.root.insert(r.pattern, r)
	}
	for _, h := range healthEndpoints {
		named := false
		for _, r := range rules {
			named = named || !r.NameOnly && r.Path != "" && cleanPath(r.Path) == h
		}
		if !named {
			rs.exemptHealth = append(rs.exemptHealth, h)
		}
	}
	next := 0
	rs.root.rank(&next)
	slices.SortFunc(rs.deflt, byPrecedence)
	for _, r := range rs.deflt {
		r.rank = next
		next++
	}
	if !rs.tiered {
		rs.bare = rs.match("", "/", "", "")
	}
	return rs
}

// query is what a lookup matches besides the path.
type query struct {
	method string
	tier   string
	route  bool // the path is a route template: "{...}" segments are parameters
}

// accepts reports whether rule r applies to the query's method and tier.
func (q *query) accepts(r *compiledRule) bool {
	if !r.matchesMethod(q.method) {
		return false
	}
	if len(r.tiers) == 0 {
		return true
	}
	for _, t := range r.tiers {
		if t == q.tier {
			return true
		}
	}
	return false
}

func (q *query) pick(rs []*compiledRule) *compiledRule {
	for _, r := range rs {
		if q.accepts(r) {
			return r
		}
	}
	return nil
}

// find returns the most specific rule under n for the segments of p from
// index i on; p[i] is '/' unless i == len(p).
func (n *node) find(p string, i int, q *query) *compiledRule {
	if i >= len(p) {
		if r := q.pick(n.end); r != nil {
			return r
		}
		return q.pick(n.rest)
	}
	if n.leaf {
		return q.pick(n.rest) // nothing below: only "**" can match more
	}
	end := strings.IndexByte(p[i+1:], '/')
	if end < 0 {
		end = len(p)
	} else {
		end += i + 1
	}
	seg := p[i+1 : end]
	if q.route && isTemplateParam(seg) {
		// A template parameter stands for any segment: it matches the
		// rule patterns that accept any segment, never a literal. A
		// template rest parameter matches only "**".
		if strings.HasSuffix(seg, "...}") {
			return q.pick(n.rest)
		}
	} else if c := n.lit(seg); c != nil {
		if r := c.find(p, end, q); r != nil {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.find(p, end, q); r != nil {
			return r
		}
	}
	if n.star != nil {
		if r := n.star.find(p, end, q); r != nil {
			return r
		}
	}
	return q.pick(n.rest)
}

// lookup finds the rule of one cleaned path or route.
func (rs *ruleSet) lookup(p string, q *query) *compiledRule {
	if p == "/" {
		p = "" // the root has no segments
	}
	return rs.root.find(p, 0, q)
}

// match returns the rule for a request, or nil when no rule applies. path
// must be clean (see cleanPath), so that a client cannot step around a rule
// by spelling a path differently ("//login/" is "/login"). tier is the
// client's resolved tier; it matters only when rs.tiered. When the framework
// knows the route template, it is matched too, and the more specific of the
// two matches wins: a rule for "/users/{id}" applies to every user, and a
// rule for "/users/me" still beats it on that path.
func (rs *ruleSet) match(method, path, route, tier string) *compiledRule {
	q := query{method: method, tier: tier}
	best := rs.lookup(path, &q)
	if route != "" && route != path && route[0] == '/' {
		q.route = true
		if r := rs.lookup(cleanPath(route), &q); r != nil && (best == nil || r.rank < best.rank) {
			best = r
		}
		q.route = false
	}
	if best != nil {
		return best
	}
	return q.pick(rs.deflt)
}

// cleanPath returns p in canonical form: rooted, without repeated slashes,
// dot segments or a trailing slash. It does not allocate when p is already
// clean, the common case.
func cleanPath(p string) string {
	if isCleanPath(p) {
		return p
	}
	if p == "" {
		return "/"
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
	start := 1 // start of the current segment
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		if badSegment(p[start:i]) {
			return false
		}
		start = i + 1
	}
	return len(p) == 1 || !badSegment(p[start:])
}

// badSegment reports whether a path segment is empty, "." or "..".
func badSegment(seg string) bool {
	return len(seg) == 0 || (seg[0] == '.' && (len(seg) == 1 || (len(seg) == 2 && seg[1] == '.')))
}

// health reports whether a request's clean path, or its route template, is
// an exempt health endpoint.
func (rs *ruleSet) health(path, route string) bool {
	for _, h := range rs.exemptHealth {
		if path == h || route == h {
			return true
		}
	}
	return false
}
