package core

import (
	"fmt"
	"testing"
)

// benchRules returns n rules of every pattern kind, spread over 20 first
// segments so the trie has wide and deep levels, a tenth of them
// method-specific and a tenth tier-specific.
func benchRules(n int) []Rule {
	rules := make([]Rule, 0, n+1)
	for i := range n {
		var p string
		switch i % 10 {
		case 0, 1, 2, 3:
			p = fmt.Sprintf("/svc%d/res%d", i%20, i)
		case 4, 5, 6:
			p = fmt.Sprintf("/svc%d/res%d/{id}", i%20, i)
		case 7, 8:
			p = fmt.Sprintf("/svc%d/res%d/*/items", i%20, i)
		default:
			p = fmt.Sprintf("/static%d/**", i)
		}
		r := Rule{Name: fmt.Sprintf("r%d", i), Path: p, Limits: []Limit{PerSecond(10)}}
		switch i % 10 {
		case 3:
			r.Methods = []string{"POST"}
		case 5:
			r.Tiers = []string{tierPremium}
		}
		rules = append(rules, r)
	}
	return append(rules, Rule{Name: "default", Limits: []Limit{PerSecond(10)}})
}

// BenchmarkMatch measures choosing the rule of a request among 1,000 rules:
// cleaning the path, walking the trie for the path and, where given, the
// route template.
func BenchmarkMatch(b *testing.B) {
	pol, _ := newPolicy(&config{})
	compiled, err := compileRules(benchRules(1000), pol)
	if err != nil {
		b.Fatal(err)
	}
	rs := newRuleSet(compiled)
	for _, bc := range []struct {
		name, method, path, route, tier, want string
	}{
		{"exact", "GET", "/svc10/res990", "", tierAnonymous, "r990"},
		{"param", "GET", "/svc16/res996/42", "", tierAnonymous, "r996"},
		{"param-tier", "GET", "/svc15/res995/42", "", tierPremium, "r995"},
		{"star", "GET", "/svc18/res998/7/items", "", tierAnonymous, "r998"},
		{"rest", "GET", "/static999/css/site.css", "", tierAnonymous, "r999"},
		{"route", "GET", "/svc16/res996/42", "/svc16/res996/{id}", tierAnonymous, "r996"},
		{"default", "GET", "/nowhere/at/all", "", tierAnonymous, "default"},
		{"unclean", "GET", "//svc10/./res990/", "", tierAnonymous, "r990"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if r := rs.match(bc.method, cleanPath(bc.path), bc.route, bc.tier); r == nil || r.Name != bc.want {
				b.Fatalf("matched %v, want %s", name(r), bc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				rs.match(bc.method, cleanPath(bc.path), bc.route, bc.tier)
			}
		})
	}
}

// BenchmarkResolve measures what Decide does before the backend for
// BenchmarkDecide's request: exempt endpoints, the rule, the client key and
// tier, exemptions.
func BenchmarkResolve(b *testing.B) {
	l, err := New(
		WithRules(Rule{Name: "api", Path: "/api/**", Limits: []Limit{PerSecond(1 << 40)}},
			Rule{Name: "login", Path: "/login", Limits: []Limit{PerMinute(5)}}),
		WithDefault(PerSecond(1<<40)),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := Request{Method: "GET", Path: "/api/items", RemoteAddr: "203.0.113.7:51234"}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		var id Identity
		if rule, _, _ := l.resolve(ctx, &r, &id); rule == nil {
			b.Fatal("no rule")
		}
	}
}
