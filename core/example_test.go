package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

func ExampleNew() {
	lim, err := core.New(
		core.WithDefault(core.PerMinute(100)),
		core.WithRules(core.Rule{
			Name:      "login",
			Path:      "/login",
			Methods:   []string{"POST"},
			Algorithm: backend.SlidingLog,
			Limits:    []core.Limit{core.PerMinute(5), core.PerHour(20)},
		}),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	for _, r := range lim.Rules() {
		fmt.Println(r.Name, r.Algorithm, r.Limits)
	}
	// Output:
	// login sliding_log [5/m 20/h]
	// default token_bucket [100/m]
}

func ExampleLimiter_Decide() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, _ := core.New(core.WithDefault(core.PerSecond(2)), core.WithClock(clk))
	defer lim.Close()

	req := core.Request{Method: "GET", Path: "/items", RemoteAddr: "203.0.113.7:51234"}
	for range 3 {
		d, err := lim.Decide(context.Background(), req)
		if err != nil {
			panic(err) // only when no decision is possible
		}
		fmt.Printf("%s remaining=%d retry-after=%v\n", d.Outcome, d.Remaining, d.RetryAfter)
	}
	// Output:
	// allowed remaining=1 retry-after=0s
	// allowed remaining=0 retry-after=0s
	// denied remaining=0 retry-after=500ms
}

func ExampleLimiter_Peek() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, _ := core.New(core.WithDefault(core.PerHour(3)), core.WithClock(clk))
	defer lim.Close()
	ctx := context.Background()

	// An admin endpoint asks about a client without charging it.
	client := core.Request{Identity: core.Identity{Kind: core.KindIP, Value: "198.51.100.23"}}
	for range 3 {
		lim.Decide(ctx, client)
	}
	d, _ := lim.Peek(ctx, client)
	fmt.Printf("%s, retry in %v\n", d.Outcome, d.RetryAfter)

	// Support lifts the block.
	lim.Reset(ctx, client)
	d, _ = lim.Peek(ctx, client)
	fmt.Printf("%s, %d remaining\n", d.Outcome, d.Remaining)
	// Output:
	// denied, retry in 20m0s
	// allowed, 3 remaining
}

func ExampleDecision_Release() {
	lim, _ := core.New(core.WithRules(core.Rule{
		Algorithm: backend.Concurrency,
		Limits:    []core.Limit{core.Concurrent(1)},
	}))
	defer lim.Close()
	ctx := context.Background()
	req := core.Request{RemoteAddr: "203.0.113.7:1"}

	first, _ := lim.Decide(ctx, req)
	second, _ := lim.Decide(ctx, req)
	fmt.Println(first.Outcome, second.Outcome)
	first.Release() // the first request is done
	third, _ := lim.Decide(ctx, req)
	defer third.Release()
	fmt.Println(third.Outcome)
	// Output:
	// allowed denied
	// allowed
}
