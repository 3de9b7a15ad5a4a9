package main

// The code snippets of docs/algorithms.md are regions of these examples
// (see snippets.go): go test in this module compiles them and checks their
// output.

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

// client is the request every example sends.
var client = core.Request{Method: "GET", Path: "/api/items", RemoteAddr: "203.0.113.7:51234"}

// newLimiter returns a Limiter with the given rules on a fake clock set to
// the given time.
func newLimiter(at time.Time, rules ...core.Rule) (*core.Limiter, clock.Fake) {
	clk := clock.NewFake(at)
	lim, err := core.New(core.WithRules(rules...), core.WithClock(clk))
	if err != nil {
		panic(err)
	}
	return lim, clk
}

// A token bucket with a burst, throttling: requests that would conform
// within MaxDelay wait instead of being denied.
func Example_tokenBucket() {
	lim, _ := newLimiter(epoch, core.Rule{
		Name: "api",
		// snippet:token-bucket
		Limits:   []core.Limit{core.Limit{N: 10, Per: time.Second, Burst: 20}}, // 20 at once, then one per 100ms
		MaxDelay: 250 * time.Millisecond,
		// end snippet:token-bucket
	})
	defer lim.Close()
	for i := range 23 {
		d, _ := lim.Decide(context.Background(), client)
		if i >= 19 {
			fmt.Printf("request %d: %s delay=%v retry-after=%v\n", i+1, d.Outcome, d.Delay, d.RetryAfter)
		}
	}
	// Output:
	// request 20: allowed delay=0s retry-after=0s
	// request 21: delayed delay=100ms retry-after=0s
	// request 22: delayed delay=200ms retry-after=0s
	// request 23: denied delay=0s retry-after=300ms
}

// A sliding log for logins: at most 5 in any 15 minutes, exactly.
func Example_slidingLog() {
	lim, clk := newLimiter(epoch, core.Rule{
		Name:    "login",
		Path:    "/login",
		Methods: []string{"POST"},
		// snippet:sliding-log
		Algorithm: backend.SlidingLog,
		Limits:    []core.Limit{core.Limit{N: 5, Per: 15 * time.Minute}},
		// end snippet:sliding-log
	})
	defer lim.Close()
	login := core.Request{Method: "POST", Path: "/login", RemoteAddr: "203.0.113.7:51234"}
	for range 5 {
		lim.Decide(context.Background(), login)
		clk.Advance(time.Minute)
	}
	d, _ := lim.Decide(context.Background(), login) // 5 minutes after the first
	fmt.Println(d.Outcome, d.RetryAfter)            // until the first leaves the window
	// Output:
	// denied 10m0s
}

// A daily quota in a fixed window resets at midnight UTC, whatever the time
// zone of the server.
func Example_fixedWindowDaily() {
	lim, clk := newLimiter(time.Date(2030, time.January, 1, 23, 59, 30, 0, time.UTC), core.Rule{
		Name: "daily",
		// snippet:fixed-window
		Algorithm: backend.FixedWindow,
		Limits:    []core.Limit{core.Limit{N: 3, Per: 24 * time.Hour}},
		// end snippet:fixed-window
	})
	defer lim.Close()
	for range 4 {
		d, _ := lim.Decide(context.Background(), client)
		fmt.Println(d.Outcome, d.Remaining, d.RetryAfter, d.At.Add(d.ResetAfter).Format(time.RFC3339))
	}
	clk.Advance(30 * time.Second) // midnight
	d, _ := lim.Decide(context.Background(), client)
	fmt.Println(d.Outcome, d.Remaining)
	// Output:
	// allowed 2 0s 2030-01-02T00:00:00Z
	// allowed 1 0s 2030-01-02T00:00:00Z
	// allowed 0 0s 2030-01-02T00:00:00Z
	// denied 0 30s 2030-01-02T00:00:00Z
	// allowed 2
}

// A rule with two windows admits a request only if both do; the Decision
// reports the window that constrains the client most.
func Example_multiWindow() {
	lim, clk := newLimiter(epoch, core.Rule{
		Name: "api",
		// snippet:multi-window
		Algorithm: backend.SlidingLog,
		Limits:    []core.Limit{core.PerSecond(2), core.PerMinute(3)},
		// end snippet:multi-window
	})
	defer lim.Close()
	for range 3 {
		lim.Decide(context.Background(), client)
		clk.Advance(500 * time.Millisecond)
	}
	d, _ := lim.Decide(context.Background(), client)
	fmt.Println(d.Outcome, "by the window of", d.Limit, "retry after", d.RetryAfter)
	for _, w := range d.Windows() {
		fmt.Printf("  %s (%s): remaining %d, retry after %v\n", w.Limit, w.Limit.Name, w.Remaining, w.RetryAfter)
	}
	// Output:
	// denied by the window of 3 retry after 58.5s
	//   2/s (api-s): remaining 1, retry after 0s
	//   3/m (api-m): remaining 0, retry after 58.5s
}

// A limit of 0 denies everything: maintenance mode for one rule, switched
// at run time. Counters are kept by rule name, so usage survives the switch.
func Example_maintenance() {
	lim, _ := newLimiter(epoch, core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(100)}})
	defer lim.Close()
	// snippet:maintenance
	if err := lim.SetRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(0)}}); err != nil {
		panic(err)
	}
	// end snippet:maintenance
	d, _ := lim.Decide(context.Background(), client)
	fmt.Println(d.Outcome, d.RetryAfter)
	// Output:
	// denied 1m0s
}

// A concurrency limit with leases: Release frees a slot; a slot that is
// never released frees itself when its lease expires.
func Example_concurrency() {
	lim, clk := newLimiter(epoch, core.Rule{
		Name: "export",
		// snippet:concurrency
		Algorithm: backend.Concurrency,
		Limits:    []core.Limit{core.Concurrent(2)},
		Lease:     time.Minute,
		// end snippet:concurrency
	})
	defer lim.Close()
	ctx := context.Background()
	first, _ := lim.Decide(ctx, client)
	lim.Decide(ctx, client) // never released: say, its process crashed
	third, _ := lim.Decide(ctx, client)
	fmt.Println(third.Outcome, third.RetryAfter)
	first.Release()
	fourth, _ := lim.Decide(ctx, client)
	fmt.Println(fourth.Outcome)
	fourth.Release()
	clk.Advance(time.Minute) // the unreleased lease expires
	d, _ := lim.Decide(ctx, client)
	fmt.Println(d.Outcome, d.Remaining)
	// Output:
	// denied 1s
	// allowed
	// allowed 1
}

// A request's Cost charges several units at once, here for an expensive
// export endpoint; a denied request is not charged.
func Example_cost() {
	lim, _ := newLimiter(epoch, core.Rule{
		Name: "api",
		// snippet:cost
		Algorithm: backend.SlidingWindow,
		Limits:    []core.Limit{core.PerMinute(100)},
		// end snippet:cost
	})
	defer lim.Close()
	export := client
	export.Cost = 40
	for range 3 {
		d, _ := lim.Decide(context.Background(), export)
		fmt.Println(d.Outcome, d.Remaining)
	}
	// Output:
	// allowed 60
	// allowed 20
	// denied 20
}
