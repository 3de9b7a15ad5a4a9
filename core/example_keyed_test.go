package core_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
)

// A job worker that slows down rather than fails: each tenant may start 2
// jobs a second, and Wait blocks until the tenant's next job may start.
// The fake clock stands in for time passing.
func ExampleLimiter_Wait() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "jobs", NameOnly: true, Limits: []core.Limit{core.PerSecond(2)}}),
		core.WithClock(clk),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	start := clk.Now()

	var wg sync.WaitGroup
	wg.Go(func() {
		for job := range 4 {
			if _, err := lim.Wait(context.Background(), "jobs", "tenant-acme", 1); err != nil {
				panic(err) // the context ended, or the wait would outlast it
			}
			fmt.Printf("job %d starts at +%v\n", job, clk.Now().Sub(start))
		}
	})
	for range 2 { // time passes while the worker waits
		for clk.Sleepers() == 0 {
			time.Sleep(time.Millisecond)
		}
		clk.Advance(500 * time.Millisecond)
	}
	wg.Wait()
	// Output:
	// job 0 starts at +0s
	// job 1 starts at +0s
	// job 2 starts at +500ms
	// job 3 starts at +1s
}

// An outbound API budget per account: 5000 calls an hour to a partner's
// API, shared by every instance of the service when the Limiter has the
// Redis backend. A call the budget does not allow is not sent.
func ExampleLimiter_Take() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	// snippet:keyed-rule
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "github-api", NameOnly: true, Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerHour(5000)}}),
		// end snippet:keyed-rule
		core.WithClock(clk),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()

	call := func(account string) {
		d, err := lim.Take(context.Background(), "github-api", account, 1)
		if err != nil {
			panic(err)
		}
		if !d.Outcome.Proceed() {
			fmt.Printf("%s: over budget, retry in %v\n", account, d.RetryAfter)
			return
		}
		fmt.Printf("%s: call sent, %d left this hour\n", account, d.Remaining)
	}
	call("acct-1")
	lim.Take(context.Background(), "github-api", "acct-2", 5000) // another account spent its budget
	call("acct-2")
	// Output:
	// acct-1: call sent, 4999 left this hour
	// acct-2: over budget, retry in 1h0m0s
}

// An LLM token budget of 10000 tokens a minute per API key: a call
// reserves the most tokens it may use (its max_tokens) before it is sent,
// and settles the tokens it really used once the response says, so the
// unused reservation goes back to the budget.
func ExampleDecision_Settle() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "llm-tokens", NameOnly: true, Algorithm: backend.SlidingWindow, Limits: []core.Limit{core.PerMinute(10000)}}),
		core.WithClock(clk),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	ctx := context.Background()

	// snippet:reserve
	d, err := lim.Take(ctx, "llm-tokens", "key-123", 4000) // max_tokens
	if err != nil || d.Outcome != core.Allowed {
		panic("over budget")
	}
	fmt.Println("reserved 4000, left:", d.Remaining)

	clk.Advance(3 * time.Second) // the call runs; its response reports 1250 tokens
	if err := d.Settle(ctx, 1250); err != nil {
		fmt.Println("not settled:", err) // the reservation stays charged
	}
	// end snippet:reserve
	p, _ := lim.Take(ctx, "llm-tokens", "key-123", 0) // 0 peeks
	fmt.Println("settled at 1250, left:", p.Remaining)
	// Output:
	// reserved 4000, left: 6000
	// settled at 1250, left: 8750
}

// One tenant's whole API is one key, decided by three instances: each
// leases the key's units in batches from the shared backend (Redis, in
// production) and spends them locally, instead of one backend call per
// request. Together they admit the limit exactly.
func ExampleRule_prefetch() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	shared := memory.New() // sluiceredis.New(client) in production
	defer shared.Close()
	var calls atomic.Int64
	counted := countingApply{shared, &calls}
	rule :=
		// snippet:prefetch
		core.Rule{Name: "tenant-api", NameOnly: true, Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerSecond(50_000)}, Prefetch: 100 * time.Millisecond}
		// end snippet:prefetch
	var instances [3]*core.Limiter
	for i := range instances {
		lim, err := core.New(core.WithBackend(counted), core.WithClock(clk), core.WithRules(rule))
		if err != nil {
			panic(err)
		}
		defer lim.Close()
		instances[i] = lim
	}
	admitted := 0
	for i := range 60_000 {
		d, err := instances[i%3].Take(context.Background(), "tenant-api", "acme", 1)
		if err != nil {
			panic(err)
		}
		if d.Outcome == core.Allowed {
			admitted++
		}
		if i == 49_999 {
			fmt.Println("backend calls for 50,000 decisions:", calls.Load())
		}
	}
	fmt.Println("admitted in all:", admitted)
	// Output:
	// backend calls for 50,000 decisions: 195
	// admitted in all: 50000
}

// countingApply counts a backend's Apply calls.
type countingApply struct {
	backend.Backend
	n *atomic.Int64
}

func (c countingApply) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	c.n.Add(1)
	return c.Backend.Apply(ctx, req)
}
