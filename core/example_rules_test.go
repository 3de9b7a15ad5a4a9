package core_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
)

func ExampleWithTiers() {
	lim, err := core.New(
		core.WithTiers("standard", "enterprise"),
		core.WithDefault(core.PerMinute(10)), // anonymous clients, and anyone else
		core.WithRules(
			// A tier's default: a rule with no Path that names the tier.
			core.Rule{Name: "standard", Tiers: []string{"standard"}, Limits: []core.Limit{core.PerMinute(100)}},
			core.Rule{Name: "enterprise", Tiers: []string{"enterprise"}, Limits: []core.Limit{core.PerMinute(10_000)}},
			core.Rule{Name: "search", Path: "/search", Tiers: []string{"enterprise"},
				Limits: []core.Limit{core.PerMinute(600)}}), // a per-endpoint override for one tier
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	for _, r := range []core.Request{
		{Path: "/items", RemoteAddr: "203.0.113.7:1"},
		{Path: "/items", Identity: core.Identity{Kind: core.KindUser, Value: "bob"}},
		{Path: "/items", Identity: core.Identity{Kind: core.KindUser, Value: "carol", Tier: "platinum"}},
		{Path: "/items", Identity: core.Identity{Kind: core.KindUser, Value: "dave", Tier: "enterprise"}},
		{Path: "/search", Identity: core.Identity{Kind: core.KindUser, Value: "dave", Tier: "enterprise"}},
	} {
		d, _ := lim.Decide(context.Background(), r)
		fmt.Printf("%-16s %-10s %s %d/min\n", d.Client, d.Client.Tier, d.Rule, d.Limit)
	}
	// Output:
	// ip:203.0.113.7   anonymous  default 10/min
	// user:bob         standard   standard 100/min
	// user:carol       standard   standard 100/min
	// user:dave        enterprise enterprise 10000/min
	// user:dave        enterprise search 600/min
}

// Exemptions: endpoints by an exempt rule, health endpoints by default,
// and clients by package identify's exemption lists.
func ExampleRule_exempt() {
	id, err := identify.New(identify.WithExemptIPs("10.0.0.0/8")) // the monitoring network
	if err != nil {
		panic(err)
	}
	lim, err := core.New(
		core.WithIdentifier(id),
		core.WithDefault(core.PerMinute(1)),
		core.WithRules(core.Rule{Name: "metrics", Path: "/metrics", Exempt: true}),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	for _, r := range []core.Request{
		{Path: "/items", RemoteAddr: "10.1.2.3:1"},
		{Path: "/metrics", RemoteAddr: "203.0.113.7:1"},
		{Path: "/healthz", RemoteAddr: "203.0.113.7:1"}, // health endpoints are exempt by default
		{Path: "/items", RemoteAddr: "203.0.113.7:1"},
	} {
		d, _ := lim.Decide(context.Background(), r)
		fmt.Println(r.Path, d.Outcome)
	}
	// Output:
	// /items exempt
	// /metrics exempt
	// /healthz exempt
	// /items allowed
}

func ExampleRule_patterns() {
	one := []core.Limit{core.PerMinute(60)}
	lim, err := core.New(core.WithRules(
		core.Rule{Name: "me", Path: "/users/me", Limits: one},
		core.Rule{Name: "user", Path: "/users/{id}", Limits: one},
		core.Rule{Name: "user-write", Path: "/users/{id}", Methods: []string{"PUT", "DELETE"}, Limits: one},
		core.Rule{Name: "avatar", Path: "/users/*/avatar", Limits: one},
		core.Rule{Name: "users", Path: "/users/**", Limits: one},
		core.Rule{Name: "default", Limits: one},
	))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	for _, r := range []struct{ method, path string }{
		{"GET", "/users/me"}, {"GET", "/users/42"}, {"PUT", "/users/42"}, {"GET", "/users/42/avatar"},
		{"GET", "/users/42/posts/7"}, {"GET", "/users"}, {"GET", "/about"},
	} {
		d, _ := lim.Decide(context.Background(), core.Request{Method: r.method, Path: r.path, RemoteAddr: "203.0.113.7:1"})
		fmt.Println(r.method, r.path, "->", d.Rule)
	}
	// Output:
	// GET /users/me -> me
	// GET /users/42 -> user
	// PUT /users/42 -> user-write
	// GET /users/42/avatar -> avatar
	// GET /users/42/posts/7 -> users
	// GET /users -> users
	// GET /about -> default
}
