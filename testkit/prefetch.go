package testkit

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

// The conformance cases of token leasing (core.Rule.Prefetch): several
// Limiters, as several instances of a service would be, share the backend
// under test and one hot key. Whatever the interleaving, what they admit
// together must be what the rule's algorithm admits, no more; a batch that
// an instance leased and did not spend must go back to the backend when it
// expires, on SetRules and on Close (a token bucket's comes back as the
// bucket refills); an instance that crashes loses at most one batch; a key
// seen once takes no batch.

// prefetchLimit is the limit of the leasing cases: 100 per second, so a
// batch is at most 100/16 = 6 units.
var prefetchLimit = core.PerSecond(100)

const prefetchMostBatch = 6

// apiCalls counts a Limiter's backend applies.
type apiCalls struct{ n atomic.Int64 }

func (c *apiCalls) ObserveDecision(core.Request, core.Decision) {}
func (c *apiCalls) ObserveBackend(_, op string, _ time.Duration, _ error) {
	if op == "apply" {
		c.n.Add(1)
	}
}
func (c *apiCalls) ObserveBreaker(string, string) {}

// instances returns n Limiters on the backend under test and clk, with
// the rule "hot" of h's algorithm, prefetching for prefetch (none when 0),
// and the observer counting each one's applies.
func (h *harness) instances(n int, clk clock.Clock, prefetch time.Duration) ([]*core.Limiter, []*apiCalls) {
	h.t.Helper()
	lims := make([]*core.Limiter, n)
	calls := make([]*apiCalls, n)
	for i := range lims {
		calls[i] = new(apiCalls)
		rule := core.Rule{Name: "hot", NameOnly: true, Algorithm: h.alg, Limits: []core.Limit{prefetchLimit}, Prefetch: prefetch, Failure: "closed"}
		// No breaker and a long timeout: a loaded machine's slow call must
		// not pass for a backend failure.
		lim, err := core.New(core.WithBackend(h.b), core.WithClock(clk), core.WithRules(rule), core.WithObserver(calls[i]),
			core.WithFailure(core.Failure{Timeout: 10 * time.Second, BreakerFailures: -1}))
		if err != nil {
			h.t.Fatalf("core.New: %v", err)
		}
		h.t.Cleanup(func() { lim.Close() })
		lims[i] = lim
	}
	return lims, calls
}

// remaining peeks at what the backend itself still admits for key, through
// a Limiter that does not prefetch.
func (h *harness) remaining(peek *core.Limiter, key string) int64 {
	h.t.Helper()
	d, err := peek.Take(h.ctx, "hot", key, 0)
	if err != nil || d.Outcome != core.Allowed && d.Outcome != core.Denied {
		h.t.Fatalf("peek: %v %v (%v)", d.Outcome, err, d.Err)
	}
	return d.Remaining
}

// takeN takes one unit n times at the clock's time, and returns how many
// were admitted.
func (h *harness) takeN(lim *core.Limiter, key string, n int) int64 {
	h.t.Helper()
	var admitted int64
	for range n {
		d, err := lim.Take(h.ctx, "hot", key, 1)
		switch {
		case err != nil || d.Outcome != core.Allowed && d.Outcome != core.Denied:
			h.t.Fatalf("Take: %v %v (%v)", d.Outcome, err, d.Err)
		case d.Outcome == core.Allowed:
			admitted++
		}
	}
	return admitted
}

// testPrefetchRace: three instances of four workers each race on one hot
// key for 6 seconds of a fake clock moving in 10ms steps, in three cycles
// of two windows: 150ms at the rate the limit refills (each instance
// leases batches; a token bucket stays nearly full, so their slots are
// near), 150ms idle (shorter than a batch lives: a token bucket is full
// again), then, as the next window starts, a burst of 150 decisions in
// 100ms that exhausts the limit; then idle. Every admission,
// replayed in time order through the algorithm, must conform to the
// limit.
func testPrefetchRace(h *harness) {
	const instances, workers, steps = 3, 4, 600
	const step = 10 * time.Millisecond
	perStep := func(s int) int {
		switch s := s % 200; {
		case s >= 70 && s < 85:
			return 1
		case s >= 100 && s < 110:
			return 15
		}
		return 0
	}
	clk := clock.NewFake(Epoch)
	lims, calls := h.instances(instances, clk, 200*time.Millisecond)
	// Each step hands out its decisions, waits for them and moves the
	// clock: decisions never straddle a move.
	work := make(chan struct{}, 15)
	var mu sync.Mutex
	var admitted []time.Duration
	var decided atomic.Int64
	var wg sync.WaitGroup
	for _, lim := range lims {
		for range workers {
			wg.Go(func() {
				for range work {
					d, err := lim.Take(h.ctx, "hot", h.ns, 1)
					switch {
					case err != nil || d.Outcome != core.Allowed && d.Outcome != core.Denied:
						h.t.Errorf("Take: %v %v (%v)", d.Outcome, err, d.Err)
					case d.Outcome == core.Allowed:
						mu.Lock()
						admitted = append(admitted, d.At.Sub(Epoch))
						mu.Unlock()
					}
					decided.Add(1)
				}
			})
		}
	}
	var want int64
	for s := range steps {
		for range perStep(s) {
			work <- struct{}{}
		}
		want += int64(perStep(s))
		for decided.Load() < want && h.ctx.Err() == nil {
			runtime.Gosched()
		}
		clk.Advance(step)
	}
	close(work)
	wg.Wait()
	slices.Sort(admitted)
	for _, p := range conformance(h.alg, prefetchLimit, admitted) {
		h.t.Error(p)
	}
	var applies int64
	for _, c := range calls {
		applies += c.n.Load()
	}
	// An exact limiter admits about 115 a cycle here; instances hold back
	// at most a batch each.
	if n := int64(len(admitted)); n < 250 {
		h.t.Errorf("%d admitted in three cycles of a limit of %v: leasing strands too much", n, prefetchLimit)
	}
	h.t.Logf("%v: %d decisions, %d admitted, %d backend applies", h.alg, decided.Load(), len(admitted), applies)
}

// conformance replays admissions, each of one unit at an offset from Epoch
// in time order, through the algorithm with limit l, and returns one
// problem per admission it would not have made.
func conformance(alg backend.Algorithm, l core.Limit, at []time.Duration) []string {
	var problems []string
	p, n := int64(l.Per), l.N
	switch alg {
	case backend.FixedWindow:
		counts := map[int64]int64{}
		for _, a := range at {
			w := int64(a) / p
			if counts[w]++; counts[w] == n+1 {
				problems = append(problems, fmt.Sprintf("fixed window %d (from %v) admitted more than %d", w, time.Duration(w*p), n))
			}
		}
	case backend.SlidingWindow:
		var start, curr, prev int64
		for _, a := range at {
			t := int64(a)
			switch w := t / p * p; {
			case w == start+p:
				start, prev, curr = w, curr, 0
			case w > start:
				start, prev, curr = w, 0, 0
			}
			// prev*(p-elapsed)/p + curr + 1 <= n, in integers.
			if prev*(p-(t-start))+(curr+1)*p > n*p {
				problems = append(problems, fmt.Sprintf("sliding window: admission at %v over the limit (previous %d, current %d)", a, prev, curr))
			}
			curr++
		}
	case backend.TokenBucket:
		t := (p + n - 1) / n
		tau := n * t
		var tat int64
		for _, a := range at {
			tat = max(tat, int64(a)) + t
			if tat-int64(a) > tau {
				problems = append(problems, fmt.Sprintf("token bucket: admission at %v did not conform (tat %v)", a, time.Duration(tat)))
			}
		}
	}
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
	}
	return problems
}

// testPrefetchCrash: instance A leases batches and then dies without
// Close; B takes what is left. Together they admit the limit, less at most
// one batch: what A had leased and not spent.
func testPrefetchCrash(h *harness) {
	clk := clock.NewFake(Epoch)
	lims, _ := h.instances(2, clk, time.Second)
	a, b := lims[0], lims[1]
	spent := h.takeN(a, h.ns, 10) // 1 ordinary, then batches of 2, 4 and 6: 3 left
	// a crashes: it is never called again (Cleanup closes it only after
	// the checks).
	got := spent + h.takeN(b, h.ns, 200)
	if got > prefetchLimit.N || got < prefetchLimit.N-prefetchMostBatch {
		h.t.Errorf("admitted %d in all, want between %d and %d: a crash loses at most one batch", got, prefetchLimit.N-prefetchMostBatch, prefetchLimit.N)
	}
}

// testPrefetchReturn: what an instance leased and did not spend goes back
// to the backend on Close, on SetRules and once it expires, so that the
// backend counts exactly what was spent. A token bucket's units come back
// as the bucket refills instead: the backend counts at most one batch
// more.
func testPrefetchReturn(h *harness) {
	const prefetch = 100 * time.Millisecond
	for _, trigger := range []string{"close", "set-rules", "expiry"} {
		clk := clock.NewFake(Epoch)
		lims, _ := h.instances(1, clk, prefetch)
		peeks, _ := h.instances(1, clk, 0)
		a, peek := lims[0], peeks[0]
		key := h.ns + ":" + trigger
		spent := h.takeN(a, key, 10)
		held := prefetchLimit.N - spent - h.remaining(peek, key)
		if held <= 0 || held > prefetchMostBatch {
			h.t.Fatalf("%s: %d units leased and not spent, want 1 to %d", trigger, held, prefetchMostBatch)
		}
		want := prefetchLimit.N - spent
		switch trigger {
		case "close":
			a.Close()
		case "set-rules":
			if err := a.SetRules(a.Rules()...); err != nil {
				h.t.Fatal(err)
			}
		case "expiry":
			if h.alg == backend.TokenBucket {
				continue // it has refilled by then
			}
			// The sweeper runs every Prefetch on the Limiter's clock.
			waitSleepers(h, clk, 1)
			clk.Advance(prefetch)
			waitSleepers(h, clk, 1)
		}
		if h.alg == backend.TokenBucket {
			want -= held
		}
		if got := h.remaining(peek, key); got != want {
			h.t.Errorf("after %s: the backend has %d remaining, want %d (%d spent, %d held)", trigger, got, want, spent, held)
		}
	}
}

// waitSleepers waits until n goroutines sleep on clk.
func waitSleepers(h *harness, clk clock.Fake, n int) {
	for clk.Sleepers() != n {
		if h.ctx.Err() != nil {
			h.t.Fatalf("%d goroutines sleep on the clock, want %d", clk.Sleepers(), n)
		}
		runtime.Gosched()
	}
}

// testPrefetchColdKey: keys seen once take no batch: one ordinary backend
// call each, and the backend counts exactly the unit spent.
func testPrefetchColdKey(h *harness) {
	clk := clock.NewFake(Epoch)
	lims, calls := h.instances(1, clk, time.Second)
	peeks, _ := h.instances(1, clk, 0)
	a, peek := lims[0], peeks[0]
	const keys = 20
	for i := range keys {
		key := fmt.Sprintf("%s:%d", h.ns, i)
		h.takeN(a, key, 1)
		if got, want := h.remaining(peek, key), prefetchLimit.N-1; got != want {
			h.t.Errorf("key %d: %d remaining, want %d", i, got, want)
		}
		clk.Advance(time.Millisecond)
	}
	if got := calls[0].n.Load(); got != keys {
		h.t.Errorf("%d backend applies for %d keys seen once, want %d", got, keys, keys)
	}
}
