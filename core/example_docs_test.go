package core_test

// The code snippets of docs/rules.md and docs/troubleshooting.md are regions
// of these examples (see docs/gen/snippets.go).

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
)

// The policy at the top of docs/rules.md: which rule decides which request.
func ExampleRule_docs() {
	// snippet:rules
	lim, err := core.New(
		identify.Use(identify.WithExemptIPs("10.0.0.0/8")), // internal clients
		core.WithTiers("standard", "enterprise"),
		core.WithDefault(core.PerMinute(60)), // everyone else
		core.WithRules(
			core.Rule{Name: "enterprise", Tiers: []string{"enterprise"},
				Limits: []core.Limit{core.PerMinute(6000)}}, // a tier's limits
			core.Rule{Name: "login", Path: "/login", Methods: []string{"POST"},
				Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerMinute(5)}},
			core.Rule{Name: "user", Path: "/users/{id}", Limits: []core.Limit{core.PerSecond(10)}},
			core.Rule{Name: "search-enterprise", Path: "/search", Tiers: []string{"enterprise"},
				Limits: []core.Limit{core.PerMinute(600)}}, // a per-endpoint override for a tier
			core.Rule{Name: "static", Path: "/static/**", Exempt: true},
		),
	)
	// end snippet:rules
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	enterprise := core.Identity{Kind: core.KindUser, Value: "dave", Tier: "enterprise"}
	for _, r := range []core.Request{
		{Method: "POST", Path: "/login", RemoteAddr: "203.0.113.7:1"},
		{Method: "GET", Path: "/users/42", RemoteAddr: "203.0.113.7:1"},
		{Method: "GET", Path: "/search", RemoteAddr: "203.0.113.7:1"},
		{Method: "GET", Path: "/search", Identity: enterprise},
		{Method: "GET", Path: "/items", Identity: enterprise},
		{Method: "GET", Path: "/static/app.js", RemoteAddr: "203.0.113.7:1"},
		{Method: "GET", Path: "/items", RemoteAddr: "10.1.2.3:1"},
	} {
		d, _ := lim.Decide(context.Background(), r)
		fmt.Println(r.Method, r.Path, d.Outcome, d.Rule, d.Limit)
	}
	// Output:
	// POST /login allowed login 5
	// GET /users/42 allowed user 10
	// GET /search allowed default 60
	// GET /search allowed search-enterprise 600
	// GET /items allowed enterprise 6000
	// GET /static/app.js exempt static 0
	// GET /items exempt default 0
}

// The progressive penalty of docs/rules.md.
func ExamplePenalty_docs() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(core.WithClock(clk), core.WithRules(
		// snippet:penalty
		core.Rule{Name: "login", Path: "/login", Limits: []core.Limit{core.PerMinute(5)},
			Penalty: &core.Penalty{Threshold: 10, Window: time.Minute, Base: time.Minute,
				Multiplier: 2, Max: time.Hour, Decay: 6 * time.Hour}},
		// end snippet:penalty
	))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	login := core.Request{Method: "POST", Path: "/login", RemoteAddr: "203.0.113.7:1"}
	for block := range 3 {
		for range 15 { // 5 allowed, then 10 denials
			lim.Decide(context.Background(), login)
		}
		d, _ := lim.Decide(context.Background(), login)
		fmt.Printf("block %d: %s blocked=%v retry after %v\n", block+1, d.Outcome, d.Blocked, d.RetryAfter)
		clk.Advance(d.RetryAfter)
	}
	// Output:
	// block 1: denied blocked=true retry after 1m0s
	// block 2: denied blocked=true retry after 2m0s
	// block 3: denied blocked=true retry after 4m0s
}

// Trusting the load balancer's network, as docs/troubleshooting.md says.
func ExampleWithIdentifier_trustedProxies() {
	// snippet:trusted-proxies
	lim, err := core.New(
		identify.Use(identify.WithTrustedProxies("10.0.0.0/8")),
		core.WithDefault(core.PerMinute(100)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// end snippet:trusted-proxies
	for _, xff := range []string{"198.51.100.9", "6.6.6.6, 198.51.100.9, 10.0.0.2"} {
		d, _ := lim.Decide(context.Background(), core.Request{
			Method: "GET", Path: "/items", RemoteAddr: "10.0.0.1:443",
			Header: http.Header{"X-Forwarded-For": {xff}},
		})
		fmt.Println(d.Client)
	}
	// Output:
	// ip:198.51.100.9
	// ip:198.51.100.9
}
