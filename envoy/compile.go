package sluiceenvoy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// maxDepth bounds the descriptor tree: Envoy descriptors are a few entries
// long, and a bound keeps a hostile file from recursing without end.
const maxDepth = 16

// table is a compiled Config: the descriptor tree of every domain and the
// rules that count its limits.
type table struct {
	domains map[string]*node
	rules   []core.Rule
	paths   []string // rules[i]'s configuration path
}

// node is a Descriptor: its limit, if any, and the entries after it.
type node struct {
	limit    *limitRef // nil: a request stopping here is not limited
	children map[string]*keyNode
}

// keyNode holds the Descriptors of one key at one level.
type keyNode struct {
	exact map[string]*node
	wild  []wildNode // in the order written
	any   *node      // the Descriptor with no Value
}

type wildNode struct {
	prefix  string
	pattern string
	shared  bool
	n       *node
}

// limitRef is what a request that stops at a node is limited by.
type limitRef struct {
	rule      string // the core rule's name; "" when unlimited
	unlimited bool
	shadow    bool
	name      string // Descriptor.Name
	replaces  []string
	limits    []core.Limit // with their policy names
	algorithm backend.Algorithm
	policy    string // the RateLimit-Policy items of limits
}

// compile validates cfg and compiles it. The error joins one
// *core.ConfigError per problem, with paths such as
// "domains[0].descriptors[1].limits[0]".
func compile(cfg *Config) (*table, error) {
	c := compiler{t: &table{domains: map[string]*node{}}}
	if cfg == nil {
		return nil, &core.ConfigError{Path: "config", Value: nil, Err: errors.New("no configuration")}
	}
	seen := map[string]int{}
	for i, d := range cfg.Domains {
		at := fmt.Sprintf("domains[%d]", i)
		if d.Name == "" {
			c.bad(at+".domain", "", "a domain needs a name")
		}
		if j, dup := seen[d.Name]; dup && d.Name != "" {
			c.bad(at+".domain", d.Name, "duplicate of domains[%d]", j)
			continue
		}
		seen[d.Name] = i
		root := &node{}
		c.level(root, d.Descriptors, at, escapeRuleName(d.Name), 1)
		c.t.domains[d.Name] = root
	}
	// core checks the rules too (limits, bursts, failure modes), even when
	// other problems were found, so that every problem is reported at once.
	if err := checkRules(c.t); err != nil {
		c.errs = append(c.errs, errorList(err)...)
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c.t, nil
}

type compiler struct {
	t    *table
	errs []error
}

func (c *compiler) bad(path string, value any, format string, args ...any) {
	c.errs = append(c.errs, &core.ConfigError{Path: path, Value: value, Err: fmt.Errorf(format, args...)})
}

// level compiles the Descriptors below parent, at depth (1 for the top
// level); at is their parent's path and rule its rule name.
func (c *compiler) level(parent *node, ds []Descriptor, at, rule string, depth int) {
	if len(ds) == 0 {
		return
	}
	if depth > maxDepth {
		c.bad(at+".descriptors", len(ds), "descriptors nest at most %d deep", maxDepth)
		return
	}
	parent.children = map[string]*keyNode{}
	for i := range ds {
		d := &ds[i]
		dat := fmt.Sprintf("%s.descriptors[%d]", at, i)
		if d.Key == "" {
			c.bad(dat+".key", "", "a descriptor needs a key")
			continue
		}
		kn := parent.children[d.Key]
		if kn == nil {
			kn = &keyNode{exact: map[string]*node{}}
			parent.children[d.Key] = kn
		}
		n := &node{}
		wild := strings.HasSuffix(d.Value, "*")
		switch {
		case d.Value == "":
			if kn.any != nil {
				c.bad(dat, d.Key, "duplicate descriptor: key %q with no value appears twice", d.Key)
			}
			kn.any = n
		case wild:
			for _, w := range kn.wild {
				if w.pattern == d.Value {
					c.bad(dat, d.Key+"="+d.Value, "duplicate descriptor: key %q with value %q appears twice", d.Key, d.Value)
				}
			}
			kn.wild = append(kn.wild, wildNode{prefix: strings.TrimSuffix(d.Value, "*"), pattern: d.Value, shared: d.Shared, n: n})
		default:
			if _, dup := kn.exact[d.Value]; dup {
				c.bad(dat, d.Key+"="+d.Value, "duplicate descriptor: key %q with value %q appears twice", d.Key, d.Value)
			}
			kn.exact[d.Value] = n
		}
		if d.Shared && !wild {
			c.bad(dat+".shared", true, "only a wildcard value (ending in *) can be shared, not %q", d.Value)
		}
		name := rule + ":" + escapeRuleName(d.Key)
		if d.Value != "" {
			name += "=" + escapeRuleName(d.Value)
		}
		n.limit = c.limit(d, dat, name)
		c.level(n, d.Descriptors, dat, name, depth+1)
	}
}

// limit compiles the limit of one Descriptor, and adds its rule.
func (c *compiler) limit(d *Descriptor, at, rule string) *limitRef {
	for j, r := range d.Replaces {
		switch {
		case r == "":
			c.bad(fmt.Sprintf("%s.replaces[%d]", at, j), r, "a replaced limit needs a name")
		case r == d.Name:
			c.bad(fmt.Sprintf("%s.replaces[%d]", at, j), r, "a limit cannot replace itself")
		}
	}
	switch {
	case d.Unlimited && len(d.Limits) > 0:
		c.bad(at+".unlimited", true, "an unlimited descriptor cannot have limits")
		return nil
	case d.Unlimited:
		return &limitRef{unlimited: true, name: d.Name, replaces: d.Replaces}
	case len(d.Limits) == 0:
		if len(d.Replaces) > 0 {
			c.bad(at+".replaces", d.Replaces, "only a limit can replace others")
		}
		return nil
	case len(d.Limits) > backend.MaxWindows:
		c.bad(at+".limits", len(d.Limits), "at most %d limits", backend.MaxWindows)
		return nil
	}
	if d.Algorithm == backend.Concurrency {
		c.bad(at+".algorithm", d.Algorithm, "Envoy never releases a request, so concurrency limits cannot be served; use a rate")
		return nil
	}
	ref := &limitRef{
		rule: rule, shadow: d.Shadow, name: d.Name, replaces: d.Replaces,
		algorithm: d.Algorithm, limits: make([]core.Limit, len(d.Limits)),
	}
	ok := true
	for j, l := range d.Limits {
		if l.Per <= 0 {
			c.bad(fmt.Sprintf("%s.limits[%d]", at, j), l, "a limit needs a period")
			ok = false
		}
		if l.Name == "" && d.Name != "" {
			l.Name = d.Name
			if len(d.Limits) > 1 {
				l.Name += "-" + formatPeriod(l.Per)
			}
		}
		ref.limits[j] = l
	}
	if !ok {
		return nil
	}
	c.t.rules = append(c.t.rules, core.Rule{
		Name: rule, NameOnly: true, Algorithm: d.Algorithm, Limits: ref.limits,
		Shadow: d.Shadow, Failure: d.Failure,
	})
	c.t.paths = append(c.t.paths, at)
	return ref
}

// checkRules has core validate the table's rules, reports its errors at
// the paths of the Descriptors they come from, and fills in the limits'
// default names (the rule's) for the policy header.
func checkRules(t *table) error {
	lim, err := core.New(core.WithRules(rulesOrPlaceholder(t.rules)...))
	if err != nil {
		return mapRuleErrors(err, t.paths)
	}
	byName := map[string]core.Rule{}
	for _, r := range lim.Rules() {
		byName[r.Name] = r
	}
	lim.Close()
	for _, root := range t.domains {
		root.walk(func(n *node) {
			if n.limit != nil && n.limit.rule != "" {
				n.limit.limits = byName[n.limit.rule].Limits
				n.limit.policy = policyValue(n.limit.limits)
			}
		})
	}
	return nil
}

func (n *node) walk(f func(*node)) {
	f(n)
	for _, kn := range n.children {
		for _, c := range kn.exact {
			c.walk(f)
		}
		for _, w := range kn.wild {
			w.n.walk(f)
		}
		if kn.any != nil {
			kn.any.walk(f)
		}
	}
}

// placeholder is the rule of a Limiter whose configuration limits nothing
// (core wants at least one rule); no request ever names it.
var placeholder = core.Rule{Name: "sluiceenvoy:none", NameOnly: true, Exempt: true}

func rulesOrPlaceholder(rules []core.Rule) []core.Rule {
	if len(rules) == 0 {
		return []core.Rule{placeholder}
	}
	return rules
}

var rulePath = regexp.MustCompile(`^rules\[(\d+)\]`)

// mapRuleErrors rewrites the paths of core's errors about rules[i] to the
// paths of the Descriptors those rules come from.
func mapRuleErrors(err error, paths []string) error {
	list := errorList(err)
	out := make([]error, 0, len(list))
	for _, e := range list {
		var ce *core.ConfigError
		if errors.As(e, &ce) {
			if m := rulePath.FindStringSubmatch(ce.Path); m != nil {
				if i, _ := strconv.Atoi(m[1]); i < len(paths) {
					c := *ce
					c.Path = paths[i] + ce.Path[len(m[0]):]
					e = &c
				}
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// errorList returns the errors a joined error holds, or err alone.
func errorList(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// escapeRuleName escapes the separators of rule names (":", "=" and "\")
// in a domain, key or value, so that distinct descriptor paths always have
// distinct rule names.
func escapeRuleName(s string) string {
	if !strings.ContainsAny(s, `:=\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ':' || c == '=' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// formatPeriod writes a period as limits are written: "s", "m", "h", "d"
// for one unit, "5m" or "36h" for a multiple, a Go duration otherwise.
func formatPeriod(d time.Duration) string {
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if d%u.d == 0 {
			if d == u.d {
				return u.name
			}
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}
