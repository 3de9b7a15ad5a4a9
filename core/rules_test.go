package core_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// precedenceRules exercise every step of the precedence order; the table in
// docs/rules.md is this one.
var precedenceRules = []core.Rule{
	{Name: "exact", Path: "/users/me"},
	{Name: "param", Path: "/users/{id}"},
	{Name: "star", Path: "/users/*"},
	{Name: "rest", Path: "/users/**"},
	{Name: "param-post", Path: "/users/{id}", Methods: []string{"POST"}},
	{Name: "param-premium", Path: "/users/{id}", Tiers: []string{"premium"}},
	{Name: "param-post-premium", Path: "/users/{id}", Methods: []string{"POST"}, Tiers: []string{"premium"}},
	{Name: "posts-param", Path: "/users/{id}/posts"},
	{Name: "posts-star", Path: "/users/*/posts"},
	{Name: "user-rest", Path: "/users/{id}/**"},
	{Name: "api-v1", Path: "/api/v1/**"},
	{Name: "api", Path: "/api/**"},
	{Name: "api-items", Path: "/api/*/items"},
	{Name: "files", Path: "/files/{path...}"},
	{Name: "root", Path: "/"},
	{Name: "delete-anything", Path: "/**", Methods: []string{"DELETE"}},
	{Name: "default"},
	{Name: "default-premium", Tiers: []string{"premium"}},
}

var precedenceCases = []struct {
	name, method, path, route, tier string
	want                            string
}{
	{"exact beats parameter", "GET", "/users/me", "", "", "exact"},
	{"parameter beats star and rest", "GET", "/users/42", "", "", "param"},
	{"rest matches its own root", "GET", "/users", "", "", "rest"},
	{"method-specific beats any method", "POST", "/users/42", "", "", "param-post"},
	{"tier-specific beats tier-less", "GET", "/users/42", "", "premium", "param-premium"},
	{"method beats tier", "POST", "/users/42", "", "premium", "param-post-premium"},
	{"exact beats a tier rule", "GET", "/users/me", "", "premium", "exact"},
	{"parameter beats star deeper", "GET", "/users/42/posts", "", "", "posts-param"},
	{"parameter then rest beats rest", "GET", "/users/42/likes", "", "", "user-rest"},
	{"longer literal prefix wins", "GET", "/api/v1/items", "", "", "api-v1"},
	{"star beats rest at the same segment", "GET", "/api/v2/items", "", "", "api-items"},
	{"shorter prefix", "GET", "/api/v2/other", "", "", "api"},
	{"named rest", "GET", "/files/a/b/c", "", "", "files"},
	{"root", "GET", "/", "", "", "root"},
	{"catch-all with method", "DELETE", "/nowhere", "", "", "delete-anything"},
	{"exact beats catch-all with method", "DELETE", "/users/me", "", "", "exact"},
	{"default", "GET", "/nowhere", "", "", "default"},
	{"tier default", "GET", "/nowhere", "", "premium", "default-premium"},
	{"unknown tier gets the default tier's rules", "GET", "/users/42", "", "platinum", "param"},
	{"cleaned path", "GET", "//users/./me/", "", "", "exact"},
	{"route template", "GET", "/users/42", "/users/{id}", "", "param"},
	{"the path's literal beats the route's parameter", "GET", "/users/me", "/users/{id}", "", "exact"},
	{"route when the path has more segments", "GET", "/users/a/b", "/users/{id}", "", "param"},
	{"route rest parameter", "GET", "/files/x", "/files/{p...}", "", "files"},
	{"route in chi syntax", "GET", "/users/42", "/users/{id:[0-9]+}", "", "param"},
}

// tierIdentity is a trusted caller-set identity of the given tier ("" for
// an anonymous client).
func tierIdentity(tier string) core.Identity {
	if tier == "" {
		return core.Identity{}
	}
	return core.Identity{Kind: core.KindUser, Value: "u-" + tier, Tier: tier}
}

func TestPrecedence(t *testing.T) {
	limits := []core.Limit{core.PerSecond(1000)}
	// Precedence never depends on the order rules are declared in: run the
	// table against several shuffles.
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		rules := slices.Clone(precedenceRules)
		if round > 0 {
			rng.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
		}
		for i := range rules {
			rules[i].Limits = limits
		}
		lim, _ := newLimiter(t, core.WithRules(rules...))
		for _, tc := range precedenceCases {
			t.Run(fmt.Sprintf("%d/%s", round, tc.name), func(t *testing.T) {
				r := core.Request{Method: tc.method, Path: tc.path, Route: tc.route, RemoteAddr: "192.0.2.1:1", Identity: tierIdentity(tc.tier)}
				if d := decide(t, lim, r); d.Rule != tc.want {
					t.Errorf("%s %s (route %q, tier %q): rule %q, want %q", tc.method, tc.path, tc.route, tc.tier, d.Rule, tc.want)
				}
			})
		}
	}
}

// TestDeclarationOrderBreaksTies: of two rules with the same pattern,
// methods and tiers, the one declared first applies.
func TestDeclarationOrderBreaksTies(t *testing.T) {
	l := []core.Limit{core.PerSecond(1)}
	lim, _ := newLimiter(t, core.WithRules(
		core.Rule{Name: "first", Path: "/users/{id}", Limits: l},
		core.Rule{Name: "second", Path: "/users/{uid}", Limits: l},
	))
	if d := decide(t, lim, get("/users/1", "192.0.2.1:1")); d.Rule != "first" {
		t.Errorf("rule %q, want first", d.Rule)
	}
}

func TestTiers(t *testing.T) {
	l := func(n int64) []core.Limit { return []core.Limit{core.PerMinute(n)} }
	lim, _ := newLimiter(t,
		core.WithTiers("standard", "gold"),
		core.WithDefault(core.PerMinute(1)),
		core.WithRules(
			core.Rule{Name: "default-standard", Tiers: []string{"standard"}, Limits: l(2)},
			core.Rule{Name: "default-gold", Tiers: []string{"gold"}, Limits: l(3)},
			core.Rule{Name: "search-gold", Path: "/search", Tiers: []string{"gold"}, Limits: l(4)}),
	)
	for _, tc := range []struct {
		name     string
		id       core.Identity
		path     string
		wantRule string
		wantTier string
	}{
		{"anonymous by ip", core.Identity{}, "/", "default", "anonymous"},
		{"a user without a tier gets the default tier", core.Identity{Kind: core.KindUser, Value: "a"}, "/", "default-standard", "standard"},
		{"a user in a declared tier", core.Identity{Kind: core.KindUser, Value: "b", Tier: "gold"}, "/", "default-gold", "gold"},
		{"an undeclared tier falls back", core.Identity{Kind: core.KindUser, Value: "c", Tier: "platinum"}, "/", "default-standard", "standard"},
		{"an ip never has a tier", core.Identity{Kind: core.KindIP, Value: "192.0.2.9", Tier: "gold"}, "/", "default", "anonymous"},
		{"an unverified subject never has a tier", core.Identity{Kind: core.KindUnverified, Value: "alice", Tier: "gold"}, "/", "default", "anonymous"},
		{"per-endpoint override for a tier", core.Identity{Kind: core.KindAPIKey, Value: "k", Tier: "gold"}, "/search", "search-gold", "gold"},
		{"override is for that tier only", core.Identity{Kind: core.KindAPIKey, Value: "k2", Tier: "standard"}, "/search", "default-standard", "standard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(t, lim, core.Request{Method: "GET", Path: tc.path, RemoteAddr: "192.0.2.1:1", Identity: tc.id})
			if d.Rule != tc.wantRule || d.Client.Tier != tc.wantTier {
				t.Errorf("rule %q tier %q, want %q %q", d.Rule, d.Client.Tier, tc.wantRule, tc.wantTier)
			}
		})
	}
}

func TestTierValidation(t *testing.T) {
	ok := []core.Limit{core.PerSecond(1)}
	for _, tc := range []struct {
		name string
		opts []core.Option
		want string
	}{
		{"rule names an undeclared tier", []core.Option{core.WithRules(core.Rule{Tiers: []string{"premum"}, Limits: ok})}, "rules[0].tiers[0]: premum: undeclared tier"},
		{"default tier undeclared", []core.Option{core.WithTiers("gold"), core.WithDefault(ok...)}, "default_tier: gold"},
		{"default tier anonymous", []core.Option{core.WithTiers("anonymous"), core.WithDefault(ok...)}, "default_tier: anonymous"},
		{"empty tier name", []core.Option{core.WithTiers("", " x"), core.WithDefault(ok...)}, "tiers[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := core.New(tc.opts...)
			var ce *core.ConfigError
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want a ConfigError mentioning %q", err, tc.want)
			}
		})
	}
	// SetRules checks tiers too.
	lim, _ := newLimiter(t, core.WithDefault(ok...))
	if err := lim.SetRules(core.Rule{Tiers: []string{"gold"}, Limits: ok}); err == nil {
		t.Error("SetRules with an undeclared tier: error = nil")
	}
	if got := lim.Rules(); len(got) != 1 || got[0].Name != "default" {
		t.Errorf("Rules() = %+v after a failed SetRules", got)
	}
}

func TestExemptions(t *testing.T) {
	lim, _ := newLimiter(t,
		core.WithDefault(core.PerMinute(1)),
		core.WithRules(
			core.Rule{Name: "metrics", Path: "/metrics", Exempt: true},
			core.Rule{Name: "internal", Path: "/internal/**", Exempt: true},
			core.Rule{Name: "internal-login", Path: "/internal/login", Limits: []core.Limit{core.PerMinute(1)}},
		),
	)
	exempt := core.Identity{Kind: core.KindUser, Value: "ops-bot", Exempt: true}
	for _, tc := range []struct {
		name     string
		path     string
		id       core.Identity
		wantRule string // of the exempt decision
	}{
		{"health endpoint by default", "/healthz", core.Identity{}, ""},
		{"readyz", "/readyz", core.Identity{}, ""},
		{"livez", "/livez", core.Identity{}, ""},
		{"health", "/health/", core.Identity{}, ""},
		{"exempt rule", "/metrics", core.Identity{}, "metrics"},
		{"exempt pattern rule", "/internal/status", core.Identity{}, "internal"},
		{"exempt client", "/", exempt, "default"},
		{"exempt client by rule name", "/", exempt, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				d := decide(t, lim, core.Request{Method: "GET", Path: tc.path, RemoteAddr: "192.0.2.1:1", Identity: tc.id})
				if d.Outcome != core.Exempt || d.Rule != tc.wantRule || len(d.Windows()) != 0 {
					t.Fatalf("request %d: %v rule %q, want exempt rule %q", i, d.Outcome, d.Rule, tc.wantRule)
				}
			}
		})
	}
	// A more specific rule beats an exempt pattern.
	decide(t, lim, get("/internal/login", "192.0.2.1:1"))
	if d := decide(t, lim, get("/internal/login", "192.0.2.1:1")); d.Outcome != core.Denied {
		t.Errorf("/internal/login under an exempt /internal/**: %v, want denied by its own rule", d.Outcome)
	}
	// A health endpoint is limited once a rule names it exactly.
	lim2, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)),
		core.WithRules(core.Rule{Name: "probe", Path: "/healthz", Limits: []core.Limit{core.PerMinute(1)}}))
	decide(t, lim2, get("/healthz", "192.0.2.1:1"))
	if d := decide(t, lim2, get("/healthz", "192.0.2.1:1")); d.Outcome != core.Denied || d.Rule != "probe" {
		t.Errorf("a rule for /healthz: %v by %q, want denied by probe", d.Outcome, d.Rule)
	}
	if d := decide(t, lim2, get("/livez", "192.0.2.1:1")); d.Outcome != core.Exempt {
		t.Errorf("/livez, which no rule names: %v, want exempt", d.Outcome)
	}
}

// joiningBackend is a backend that counts every (namespace, key) pair joined the
// way a key-value store would join them, with ":".
type joiningBackend struct {
	counts map[string]int64
}

func (r *joiningBackend) Apply(_ context.Context, req backend.Request) (backend.Result, error) {
	k := req.Namespace + ":" + req.Key
	r.counts[k] += req.Cost
	res := backend.Result{Allowed: r.counts[k] <= req.Windows[0].Limit}
	res.Windows[0].Remaining = max(0, req.Windows[0].Limit-r.counts[k])
	return res, nil
}
func (r *joiningBackend) Release(context.Context, backend.Request) error   { return nil }
func (r *joiningBackend) Settle(context.Context, backend.Settlement) error { return nil }
func (r *joiningBackend) Reset(context.Context, string, string) error      { return nil }

// TestKeysNeverCollide sends one request each for crafted identities that
// try to spell another client's, rule's or tier's key, to a backend that
// joins namespace and key into one string: each must land on a counter of
// its own.
func TestKeysNeverCollide(t *testing.T) {
	rec := &joiningBackend{counts: map[string]int64{}}
	l := []core.Limit{core.PerMinute(1)}
	lim, _ := newLimiter(t, core.WithBackend(rec), core.WithTiers("", "gold"), core.WithRules(
		core.Rule{Name: "a", Path: "/a", Limits: l},
		core.Rule{Name: "a:b", Path: "/ab", Limits: l},
		core.Rule{Name: "g", Path: "/g", Group: "a", Limits: l},
		core.Rule{Name: "{a}", Path: "/braces", Limits: l},
		core.Rule{Name: "a-gold", Path: "/a", Tiers: []string{"gold"}, Limits: l},
		core.Rule{Name: "a%3Ab", Path: "/escaped", Limits: l},
	))
	long := strings.Repeat("x", 200)
	decide(t, lim, core.Request{Method: "GET", Path: "/a", Identity: core.Identity{Kind: core.KindUser, Value: "b c"}})
	var hashed string // the key "b c" is counted by: "#" and a digest
	for k := range rec.counts {
		hashed = strings.TrimPrefix(k, "user:r:a:")
	}
	if !strings.HasPrefix(hashed, "#") {
		t.Fatalf("the key of \"b c\" is %q, want a digest", hashed)
	}
	crafted := []struct {
		path string
		id   core.Identity
	}{
		{"/a", core.Identity{Kind: core.KindUser, Value: hashed}}, // the key of "b c", spelled out
		{"/a", core.Identity{Kind: core.KindUser, Value: "b:c"}},
		{"/ab", core.Identity{Kind: core.KindUser, Value: "c"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "r:a:b:c"}},
		{"/g", core.Identity{Kind: core.KindUser, Value: "b:c"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "{a}"}},
		{"/braces", core.Identity{Kind: core.KindUser, Value: "b:c"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "}:{"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "b:c", Tier: "gold"}},
		{"/escaped", core.Identity{Kind: core.KindUser, Value: "c"}},
		{"/a", core.Identity{Kind: core.KindCustom, Value: "b:c"}},
		{"/a", core.Identity{Kind: core.KindIP, Value: "b:c"}},
		{"/a", core.Identity{Kind: core.KindUnverified, Value: "b:c"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: long}},
		{"/a", core.Identity{Kind: core.KindUser, Value: long + "y"}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "#" + long}},
		{"/a", core.Identity{Kind: core.KindUser, Value: "\x00"}},
		{"/a", core.Identity{Kind: core.KindAPIKey, Value: "b:c"}},
	}
	for i, c := range crafted {
		d := decide(t, lim, core.Request{Method: "GET", Path: c.path, Identity: c.id})
		if d.Outcome != core.Allowed {
			t.Errorf("crafted %d (%s %v): %v: it shares a counter with an earlier client", i, c.path, c.id, d.Outcome)
		}
		if d.Client.Value != c.id.Value {
			t.Errorf("crafted %d: Client.Value = %q, want the identity's value %q", i, d.Client.Value, c.id.Value)
		}
	}
	for k, n := range rec.counts {
		if n != 1 {
			t.Errorf("counter %q charged %d times", k, n)
		}
		if len(k) > 160 || strings.ContainsAny(k, " \x00") || strings.Count(k, "{")+strings.Count(k, "}") > 0 {
			t.Errorf("counter key %q is long or holds unsafe bytes", k)
		}
	}
}

// TestDecisionClientRoundTrips: the Client of a Decision, sent back as the
// request's Identity, reaches the same counter, even when its key is a
// digest.
func TestDecisionClientRoundTrips(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)))
	for _, v := range []string{"alice", "Ålice with spaces", strings.Repeat("x", 500)} {
		r := core.Request{Method: "GET", Path: "/", Identity: core.Identity{Kind: core.KindUser, Value: v}}
		d := decide(t, lim, r)
		back := core.Request{Method: "GET", Path: "/", Identity: d.Client}
		if p, err := lim.Peek(t.Context(), back); err != nil || p.Outcome != core.Denied {
			t.Errorf("%q: Peek with the decision's Client: %v %v, want denied", v, p.Outcome, err)
		}
		if err := lim.Reset(t.Context(), back); err != nil {
			t.Fatal(err)
		}
		if d := decide(t, lim, r); d.Outcome != core.Allowed {
			t.Errorf("%q: after Reset with the decision's Client: %v, want allowed", v, d.Outcome)
		}
	}
}

// TestRulesInPrecedenceOrder: Rules lists the rules in the order a request
// tries them, whatever order they were declared in, and giving the list
// back to SetRules changes no decision.
func TestRulesInPrecedenceOrder(t *testing.T) {
	one := []core.Limit{core.PerMinute(1)}
	lim, _ := newLimiter(t, core.WithRules(
		core.Rule{Name: "default", Limits: one},
		core.Rule{Name: "api-any", Path: "/api/**", Limits: one},
		core.Rule{Name: "jobs", NameOnly: true, Limits: one},
		core.Rule{Name: "users", Path: "/api/users/{id}", Limits: one},
		core.Rule{Name: "users-post", Path: "/api/users/{id}", Methods: []string{"POST"}, Limits: one},
		core.Rule{Name: "login", Path: "/login", Limits: one},
	))
	names := func() string {
		var out []string
		for _, r := range lim.Rules() {
			out = append(out, r.Name)
		}
		return strings.Join(out, " ")
	}
	if got, want := names(), "users-post users api-any login default jobs"; got != want {
		t.Errorf("Rules() = %s, want %s", got, want)
	}
	reqs := []core.Request{
		{Method: "POST", Path: "/api/users/7", RemoteAddr: "192.0.2.1:1"},
		{Method: "GET", Path: "/api/users/7", RemoteAddr: "192.0.2.1:1"},
		{Method: "GET", Path: "/api/items", RemoteAddr: "192.0.2.1:1"},
		{Method: "GET", Path: "/login", RemoteAddr: "192.0.2.1:1"},
		{Method: "GET", Path: "/", RemoteAddr: "192.0.2.1:1"},
	}
	var before []string
	for _, r := range reqs {
		d, _ := lim.Peek(t.Context(), r)
		before = append(before, d.Rule)
	}
	if err := lim.SetRules(lim.Rules()...); err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		if d, _ := lim.Peek(t.Context(), r); d.Rule != before[i] {
			t.Errorf("%s %s: rule %q after SetRules(Rules()...), %q before", r.Method, r.Path, d.Rule, before[i])
		}
	}
	if got, want := strings.Join(before, " "), "users-post users api-any login default"; got != want {
		t.Errorf("rules chosen: %s, want %s", got, want)
	}
}
