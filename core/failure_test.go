package core_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/breaker"
	"github.com/sluicehq/sluice/core/memory"
)

// flaky is a "remote" backend over memory that counts calls and can be made
// to fail or hang.
type flaky struct {
	mem   *memory.Backend
	calls atomic.Int64
	down  atomic.Bool // fail every call
	hang  atomic.Bool // block until the context ends
	pings atomic.Int64
}

var errDown = errors.New("connection refused")

func newFlaky(t *testing.T) *flaky {
	f := &flaky{mem: memory.New(memory.WithSweepInterval(0))}
	t.Cleanup(func() { f.mem.Close() })
	return f
}

func (f *flaky) fail(ctx context.Context) error {
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	f.calls.Add(1)
	if err := f.fail(ctx); err != nil {
		return backend.Result{}, err
	}
	return f.mem.Apply(ctx, req)
}

func (f *flaky) Release(ctx context.Context, req backend.Request) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	return f.mem.Release(ctx, req)
}

func (f *flaky) Settle(ctx context.Context, s backend.Settlement) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	return f.mem.Settle(ctx, s)
}

func (f *flaky) Reset(ctx context.Context, ns, key string) error { return f.mem.Reset(ctx, ns, key) }

func (f *flaky) Ping(ctx context.Context) error {
	f.pings.Add(1)
	return f.fail(ctx)
}

func TestBackendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky(t)
		f.hang.Store(true)
		lim, err := core.New(core.WithDefault(core.PerMinute(5)), core.WithBackend(f), core.WithBackendTimeout(40*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer lim.Close()
		start := time.Now()
		d, err := lim.Decide(t.Context(), get("/", "192.0.2.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 40*time.Millisecond {
			t.Errorf("a hung backend held the decision for %v, want the 40ms timeout", got)
		}
		if d.Outcome != core.FailOpen || !errors.Is(d.Err, context.DeadlineExceeded) || !errors.Is(d.Err, core.ErrBackendUnavailable) {
			t.Errorf("Outcome %v, Err %v; want fail_open wrapping DeadlineExceeded and ErrBackendUnavailable", d.Outcome, d.Err)
		}
	})
}

func TestCallerCancellationIsNotAFailure(t *testing.T) {
	f := newFlaky(t)
	f.hang.Store(true)
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(5)), core.WithBackend(f))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := lim.Decide(ctx, get("/", "192.0.2.1:1")); !errors.Is(err, context.Canceled) {
		t.Errorf("Decide with a canceled caller: %v, want context.Canceled", err)
	}
}

func TestFailureModesPerRule(t *testing.T) {
	f := newFlaky(t)
	f.down.Store(true)
	l5 := []core.Limit{core.PerMinute(5)}
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithFailureMode(core.FailModeClosed), core.WithLocalDivisor(2), core.WithRules(
		core.Rule{Name: "inherits", Path: "/a", Limits: l5},
		core.Rule{Name: "open", Path: "/b", Limits: l5, Failure: core.FailModeOpen},
		core.Rule{Name: "local", Path: "/c", Limits: l5, Failure: core.FailModeLocal},
	))
	if d := decide(t, lim, get("/a", "192.0.2.1:1")); d.Outcome != core.FailClosed {
		t.Errorf("rule inheriting closed: %v", d.Outcome)
	}
	if d := decide(t, lim, get("/b", "192.0.2.1:1")); d.Outcome != core.FailOpen || d.Remaining != -1 {
		t.Errorf("rule failing open: %v remaining %d, want fail_open, -1", d.Outcome, d.Remaining)
	}
	// Local: 5/min divided by 2 instances is 3 per instance.
	var outcomes []core.Outcome
	for range 4 {
		d := decide(t, lim, get("/c", "192.0.2.1:1"))
		if !d.Local || !errors.Is(d.Err, errDown) || d.Limit != 3 {
			t.Errorf("local decision: Local %v, Err %v, Limit %d; want true, the backend error, 3", d.Local, d.Err, d.Limit)
		}
		outcomes = append(outcomes, d.Outcome)
	}
	if want := []core.Outcome{core.Allowed, core.Allowed, core.Allowed, core.Denied}; !equalOutcomes(outcomes, want) {
		t.Errorf("local outcomes %v, want %v", outcomes, want)
	}
	// Back up: the shared backend decides again, with the full limit.
	f.down.Store(false)
	if d := decide(t, lim, get("/c", "192.0.2.1:1")); d.Local || d.Outcome != core.Allowed || d.Remaining != 4 {
		t.Errorf("after recovery: Local %v %v remaining %d, want shared, allowed, 4", d.Local, d.Outcome, d.Remaining)
	}
}

func TestLocalConcurrencySlotIsReleasedLocally(t *testing.T) {
	f := newFlaky(t)
	f.down.Store(true)
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithFailureMode(core.FailModeLocal),
		core.WithRules(core.Rule{Algorithm: core.Concurrency, Limits: []core.Limit{core.Concurrent(1)}}))
	req := get("/", "192.0.2.1:1")
	a := decide(t, lim, req)
	if a.Outcome != core.Allowed || !a.Local {
		t.Fatalf("first: %v local %v", a.Outcome, a.Local)
	}
	f.down.Store(false) // the shared backend returns while the slot is held
	a.Release()
	f.down.Store(true)
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Errorf("after releasing the local slot: %v, want allowed", d.Outcome)
	}
}

func equalOutcomes(a, b []core.Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBreakerStopsCallingADeadBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky(t)
		f.down.Store(true)
		var states []breaker.State
		br := breaker.New(breaker.WithConsecutiveFailures(3), breaker.WithCoolDown(5*time.Second),
			breaker.WithOnStateChange(func(_, to breaker.State) { states = append(states, to) }))
		lim, err := core.New(core.WithDefault(core.PerMinute(100)), core.WithBackend(f), core.WithBreaker(br))
		if err != nil {
			t.Fatal(err)
		}
		defer lim.Close()
		for range 10 {
			d, err := lim.Decide(t.Context(), get("/", "192.0.2.1:1"))
			if err != nil || d.Outcome != core.FailOpen {
				t.Fatalf("decision while down: %v, %v", d.Outcome, err)
			}
		}
		if got := f.calls.Load(); got != 3 {
			t.Errorf("the backend was called %d times, want 3: an open breaker must not call it", got)
		}
		if got := br.State(); got != breaker.StateOpen {
			t.Errorf("state %v, want open", got)
		}
		// After the cool-down a probe goes through; the backend is back.
		time.Sleep(5*time.Second + time.Millisecond)
		f.down.Store(false)
		if d, _ := lim.Decide(t.Context(), get("/", "192.0.2.1:1")); d.Outcome != core.Allowed {
			t.Errorf("after cool-down and recovery: %v, want allowed", d.Outcome)
		}
		if got := br.State(); got != breaker.StateClosed {
			t.Errorf("state %v after a good probe, want closed", got)
		}
		if want := []breaker.State{breaker.StateOpen, breaker.StateHalfOpen, breaker.StateClosed}; len(states) != 3 || states[0] != want[0] || states[1] != want[1] || states[2] != want[2] {
			t.Errorf("state changes %v, want %v", states, want)
		}
	})
}

// TestDenyCache floods one limit and checks that the cache makes exactly the
// decisions the backend would, with far fewer backend calls.
func TestDenyCache(t *testing.T) {
	run := func(cache bool) ([]core.Outcome, int64) {
		f := newFlaky(t)
		lim, clk := newLimiter(t, core.WithBackend(f), core.WithDenyCache(cache),
			core.WithRules(core.Rule{Limits: []core.Limit{core.PerMinute(10), core.PerHour(30)}}))
		var outcomes []core.Outcome
		for range 3000 { // 3000 requests over 30 minutes
			outcomes = append(outcomes, decide(t, lim, get("/", "192.0.2.1:1")).Outcome)
			clk.Advance(600 * time.Millisecond)
		}
		return outcomes, f.calls.Load()
	}
	without, callsWithout := run(false)
	with, callsWith := run(true)
	if !equalOutcomes(with, without) {
		t.Fatal("the deny cache changed decisions")
	}
	admitted := int64(0)
	for _, o := range with {
		if o == core.Allowed {
			admitted++
		}
	}
	if callsWithout != 3000 {
		t.Errorf("without the cache: %d backend calls, want 3000", callsWithout)
	}
	// Each admission is one call; each denial period costs one more.
	if callsWith > 2*admitted+2 {
		t.Errorf("with the cache: %d backend calls for %d admissions, want about one per retry period", callsWith, admitted)
	}
	t.Logf("3000 requests, %d admitted: %d backend calls without the deny cache, %d with", admitted, callsWithout, callsWith)
}

func TestDenyCacheRespectsCost(t *testing.T) {
	f := newFlaky(t)
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithDefault(core.PerMinute(10)))
	req := get("/", "192.0.2.1:1")
	req.Cost = 8
	decide(t, lim, req) // 2 left
	req.Cost = 5
	if d := decide(t, lim, req); d.Outcome != core.Denied {
		t.Fatalf("cost 5 with 2 left: %v", d.Outcome)
	}
	req.Cost = 2 // cheaper than the cached denial: must reach the backend
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Errorf("cost 2 with 2 left after a cached denial of cost 5: %v, want allowed", d.Outcome)
	}
}

func TestPing(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)))
	if _, err := lim.Ping(t.Context()); err != nil {
		t.Errorf("Ping on memory: %v", err)
	}
	f := newFlaky(t)
	lim2, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)), core.WithBackend(f))
	if _, err := lim2.Ping(t.Context()); err != nil || f.pings.Load() != 1 {
		t.Errorf("Ping: %v after %d pings", err, f.pings.Load())
	}
	f.down.Store(true)
	if _, err := lim2.Ping(t.Context()); !errors.Is(err, errDown) || !errors.Is(err, core.ErrBackendUnavailable) {
		t.Errorf("Ping of a down backend: %v", err)
	}
}

func TestFailureModeStrings(t *testing.T) {
	for _, m := range []core.FailureMode{core.FailModeInherit, core.FailModeOpen, core.FailModeClosed, core.FailModeLocal} {
		got, err := core.ParseFailureMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseFailureMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := core.ParseFailureMode("sideways"); err == nil {
		t.Error("ParseFailureMode(sideways) succeeded")
	}
}
