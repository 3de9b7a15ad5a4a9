package core_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

// countingBackend counts the applies of a memory backend and the units
// they ask for, and fails them while fail is set.
type countingBackend struct {
	*memory.Backend
	applies, units atomic.Int64
	fail           atomic.Bool
}

func (c *countingBackend) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if c.fail.Load() {
		return backend.Result{}, errors.New("down")
	}
	if req.Cost > 0 {
		c.applies.Add(1)
		c.units.Add(req.Cost)
	}
	return c.Backend.Apply(ctx, req)
}

func newCounting(t *testing.T) *countingBackend {
	m := memory.New()
	t.Cleanup(func() { m.Close() })
	return &countingBackend{Backend: m}
}

func hotRule(alg backend.Algorithm, n int64) core.Rule {
	return core.Rule{Name: "hot", NameOnly: true, Algorithm: alg, Limits: []core.Limit{core.PerSecond(n)}, Prefetch: 100 * time.Millisecond}
}

func takeHot(t *testing.T, lim *core.Limiter, key string, n int64) core.Decision {
	t.Helper()
	d, err := lim.Take(t.Context(), "hot", key, n)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return d
}

func TestPrefetchConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule core.Rule
		want string
	}{
		{"negative", core.Rule{Name: "r", Limits: []core.Limit{core.PerSecond(1)}, Prefetch: -1}, "rules[0].prefetch"},
		{"sliding-log", core.Rule{Name: "r", Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerSecond(1)}, Prefetch: time.Second}, "sliding_log"},
		{"concurrency", core.Rule{Name: "r", Limits: []core.Limit{core.Concurrent(1)}, Prefetch: time.Second}, "concurrency"},
		{"throttle", core.Rule{Name: "r", Limits: []core.Limit{core.PerSecond(1)}, MaxDelay: time.Second, Prefetch: time.Second}, "max_delay"},
		{"penalty", core.Rule{Name: "r", Limits: []core.Limit{core.PerSecond(1)}, Penalty: &core.Penalty{}, Prefetch: time.Second}, "penalty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := core.New(core.WithRules(tc.rule))
			var ce *core.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "prefetch") {
				t.Errorf("New: %v, want a ConfigError on prefetch mentioning %q", err, tc.want)
			}
		})
	}
}

// TestPrefetchBatchesGrow: a key decided many times at one instant takes
// one ordinary call, then batches of 2, 4, 8, ... up to 1/16 of the
// capacity; decisions from a batch count its units as remaining.
func TestPrefetchBatchesGrow(t *testing.T) {
	b := newCounting(t)
	lim, _ := newLimiter(t, core.WithBackend(b), core.WithRules(hotRule(backend.FixedWindow, 1000)))
	for i := range 200 {
		d := takeHot(t, lim, "k", 1)
		if d.Outcome != core.Allowed || d.Remaining != 1000-int64(i)-1 {
			t.Fatalf("take %d: %v with %d remaining, want allowed with %d", i, d.Outcome, d.Remaining, 1000-i-1)
		}
	}
	// 1 + 2 + 4 + 8 + 16 + 32 = 63, then batches of 62 (1000/16).
	if got, want := b.applies.Load(), int64(6+3); got != want {
		t.Errorf("%d applies for 200 decisions, want %d", got, want)
	}
	if got, want := b.units.Load(), int64(63+3*62); got != want {
		t.Errorf("%d units leased, want %d", got, want)
	}
}

// TestPrefetchColdKeys: a key slower than one unit per Prefetch takes no
// batch, and one that slows down stops taking them.
func TestPrefetchColdKeys(t *testing.T) {
	b := newCounting(t)
	lim, clk := newLimiter(t, core.WithBackend(b), core.WithRules(hotRule(backend.FixedWindow, 1000)))
	for range 10 {
		takeHot(t, lim, "cold", 1)
		clk.Advance(150 * time.Millisecond)
	}
	if got := b.units.Load(); got != 10 {
		t.Errorf("a key decided every 150ms with a 100ms Prefetch leased %d units for 10 decisions, want 10", got)
	}
	b.units.Store(0)
	for range 100 { // hot: batches grow
		takeHot(t, lim, "warm", 1)
	}
	clk.Advance(time.Second) // the batch expires, and goes back
	b.units.Store(0)
	for range 5 {
		clk.Advance(50 * time.Millisecond) // 20/s: about 2 per Prefetch
		takeHot(t, lim, "warm", 1)
	}
	if got := b.units.Load(); got > 10 {
		t.Errorf("a key slowed to 20/s leased %d units for 5 decisions, want batches of about 2", got)
	}
}

// TestPrefetchObserved: the observer sees every decision, and backend
// applies only for leases.
func TestPrefetchObserved(t *testing.T) {
	obs := &leaseRecorder{}
	b := newCounting(t)
	lim, _ := newLimiter(t, core.WithBackend(b), core.WithObserver(obs), core.WithRules(hotRule(backend.TokenBucket, 1000)))
	for range 30 {
		takeHot(t, lim, "k", 1)
	}
	if got := obs.decisions.Load(); got != 30 {
		t.Errorf("%d decisions observed, want 30", got)
	}
	if got, want := obs.applies.Load(), b.applies.Load(); got != want || got != 5 { // 1, 2, 4, 8, 16
		t.Errorf("%d applies observed, %d made, want 5", got, want)
	}
}

type leaseRecorder struct{ decisions, applies atomic.Int64 }

func (r *leaseRecorder) ObserveDecision(core.Request, core.Decision) { r.decisions.Add(1) }
func (r *leaseRecorder) ObserveBackend(_, op string, _ time.Duration, _ error) {
	if op == "apply" {
		r.applies.Add(1)
	}
}
func (r *leaseRecorder) ObserveBreaker(string, string) {}

// TestPrefetchFailure: a lease the backend fails is a decision of the
// rule's failure mode; a batch already leased keeps deciding.
func TestPrefetchFailure(t *testing.T) {
	b := newCounting(t)
	rule := hotRule(backend.FixedWindow, 1000)
	rule.Failure = "closed"
	lim, _ := newLimiter(t, core.WithBackend(b), core.WithRules(rule))
	takeHot(t, lim, "k", 1)
	takeHot(t, lim, "k", 1) // leases 2
	b.fail.Store(true)
	if d := takeHot(t, lim, "k", 1); d.Outcome != core.Allowed {
		t.Errorf("decision from the batch while the backend is down: %v, want allowed", d.Outcome)
	}
	if d := takeHot(t, lim, "k", 1); d.Outcome != core.FailedClosed || !errors.Is(d.Err, core.ErrBackendUnavailable) {
		t.Errorf("lease while the backend is down: %v (%v), want fail_closed", d.Outcome, d.Err)
	}
}

// TestPrefetchSettle: a batch's decision settles as any other on a
// window rule; on a token bucket a refund gives nothing back.
func TestPrefetchSettle(t *testing.T) {
	for _, tc := range []struct {
		alg  backend.Algorithm
		want int64 // remaining at the backend after settling 30 units to 20
	}{
		// 1, a batch of 2 (one unit goes back), then one of 60 for the 30.
		{backend.FixedWindow, 1000 - 62 + 10},
		{backend.TokenBucket, 1000 - 63},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			b := newCounting(t)
			lim, _ := newLimiter(t, core.WithBackend(b), core.WithRules(hotRule(tc.alg, 1000)))
			takeHot(t, lim, "k", 1)
			takeHot(t, lim, "k", 1) // leases 2
			d := takeHot(t, lim, "k", 30)
			if d.Outcome != core.Allowed {
				t.Fatalf("take 30: %v", d.Outcome)
			}
			if err := d.Settle(t.Context(), 20); err != nil {
				t.Fatal(err)
			}
			if got := takeHot(t, lim, "k", 0).Remaining; got != tc.want {
				t.Errorf("remaining %d after settling, want %d", got, tc.want)
			}
		})
	}
}

// TestPrefetchReset: Reset forgets the key's batch with the backend's state.
func TestPrefetchReset(t *testing.T) {
	lim, _ := newLimiter(t, core.WithBackend(newCounting(t)), core.WithRules(hotRule(backend.FixedWindow, 1000)))
	takeHot(t, lim, "k", 1)
	takeHot(t, lim, "k", 1) // a batch of 2: 1 held
	if err := lim.Reset(t.Context(), core.Request{Rule: "hot", Identity: core.Identity{Kind: core.KindCustom, Value: "k"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := takeHot(t, lim, "k", 1).Remaining, int64(999); got != want {
		t.Errorf("after Reset: %d remaining, want %d (a new batch, on a fresh count)", got, want)
	}
}
