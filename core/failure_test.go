package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

// flaky is a "remote" backend over memory that counts calls and can be made
// to fail or hang.
type flaky struct {
	mem   *memory.Backend
	calls atomic.Int64
	down  atomic.Bool // fail every call
	gone  atomic.Bool // refuse every connection
	hang  atomic.Bool // block until the context ends
	busy  atomic.Bool // the key cannot be served (backend.ErrKeyUnavailable)
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
	if f.gone.Load() {
		return fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)
	}
	if f.busy.Load() {
		return fmt.Errorf("%w: TRYAGAIN", backend.ErrKeyUnavailable)
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

// Name makes flaky a backend.Remote, with Ping.
func (f *flaky) Name() string { return "flaky" }

func TestBackendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFlaky(t)
		f.hang.Store(true)
		lim, err := core.New(core.WithDefault(core.PerMinute(5)), core.WithBackend(f), core.WithFailure(core.Failure{Timeout: 40 * time.Millisecond}))
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
		if d.Outcome != core.FailedOpen || !errors.Is(d.Err, context.DeadlineExceeded) || !errors.Is(d.Err, core.ErrBackendUnavailable) {
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
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithFailure(core.Failure{Mode: "closed", LocalDivisor: 2, BreakerFailures: -1}), core.WithRules(
		core.Rule{Name: "inherits", Path: "/a", Limits: l5},
		core.Rule{Name: "open", Path: "/b", Limits: l5, Failure: "open"},
		core.Rule{Name: "local", Path: "/c", Limits: l5, Failure: "local"},
	))
	if d := decide(t, lim, get("/a", "192.0.2.1:1")); d.Outcome != core.FailedClosed {
		t.Errorf("rule inheriting closed: %v", d.Outcome)
	}
	if d := decide(t, lim, get("/b", "192.0.2.1:1")); d.Outcome != core.FailedOpen || d.Remaining != -1 {
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
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithFailure(core.Failure{Mode: "local"}),
		core.WithRules(core.Rule{Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(1)}}))
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
	f := newFlaky(t)
	f.down.Store(true)
	rec := &recorder{}
	lim, clk := newLimiter(t, core.WithDefault(core.PerMinute(100)), core.WithBackend(f), core.WithObserver(rec),
		core.WithFailure(core.Failure{BreakerFailures: 3, BreakerBackoff: time.Second}))
	for range 10 {
		if d := decide(t, lim, get("/", "192.0.2.1:1")); d.Outcome != core.FailedOpen {
			t.Fatalf("decision while down: %v", d.Outcome)
		}
	}
	if got := f.calls.Load(); got != 3 {
		t.Errorf("the backend was called %d times, want 3: an open breaker must not call it", got)
	}
	// After the backoff one probe goes through and fails: the next backoff
	// is twice as long.
	clk.Advance(time.Second)
	decide(t, lim, get("/", "192.0.2.1:1"))
	clk.Advance(1999 * time.Millisecond)
	decide(t, lim, get("/", "192.0.2.1:1"))
	if got := f.calls.Load(); got != 4 {
		t.Errorf("the backend was called %d times, want 4: one probe per backoff", got)
	}
	// The backend is back: the next probe closes the breaker.
	f.down.Store(false)
	clk.Advance(time.Millisecond)
	if d := decide(t, lim, get("/", "192.0.2.1:1")); d.Outcome != core.Allowed {
		t.Errorf("after the backoff and recovery: %v, want allowed", d.Outcome)
	}
	if d := decide(t, lim, get("/", "192.0.2.1:1")); d.Outcome != core.Allowed {
		t.Errorf("with the breaker closed: %v, want allowed", d.Outcome)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := "flaky/closed flaky/open flaky/half_open flaky/open flaky/half_open flaky/closed" // from the starting state
	if got := strings.Join(rec.breaker, " "); got != want {
		t.Errorf("breaker states %q, want %q", got, want)
	}
}

// TestBreakerIgnoresAKeyUnavailable: a backend that is up but cannot serve
// one key just now (a Redis Cluster slot moving) fails that decision by the
// failure mode, and never opens the breaker for every other key.
func TestBreakerIgnoresAKeyUnavailable(t *testing.T) {
	f := newFlaky(t)
	f.busy.Store(true)
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(100)), core.WithBackend(f),
		core.WithFailure(core.Failure{BreakerFailures: 3}))
	for range 10 {
		d := decide(t, lim, get("/", "192.0.2.1:1"))
		if d.Outcome != core.FailedOpen || !errors.Is(d.Err, backend.ErrKeyUnavailable) {
			t.Fatalf("decision on a moving key: %v, %v; want fail_open wrapping ErrKeyUnavailable", d.Outcome, d.Err)
		}
	}
	if got := f.calls.Load(); got != 10 {
		t.Errorf("the backend was called %d times for 10 decisions, want 10: the breaker opened", got)
	}
	f.busy.Store(false)
	if d := decide(t, lim, get("/", "192.0.2.2:1")); d.Outcome != core.Allowed {
		t.Errorf("another client: %v, want allowed", d.Outcome)
	}
}

// TestBreakerOpensAtOnceWhenTheConnectionIsGone: a refused connection opens
// the breaker on the first failure, so decisions stop waiting on a dead
// backend at once.
func TestBreakerOpensAtOnceWhenTheConnectionIsGone(t *testing.T) {
	f := newFlaky(t)
	f.gone.Store(true)
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(100)), core.WithBackend(f))
	for range 10 {
		decide(t, lim, get("/", "192.0.2.1:1"))
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("the backend was called %d times after refusing the connection, want 1", got)
	}
}

// TestRemoteIsDeclared: a backend is remote because it says so
// (backend.Remote), not because of its type: a memory backend behind a
// decorator that does not declare it is called directly, with no deny
// cache and no breaker, and is named "memory".
func TestRemoteIsDeclared(t *testing.T) {
	mem := memory.New(memory.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	rec := &recorder{}
	lim, _ := newLimiter(t, core.WithBackend(decorator{mem}), core.WithObserver(rec), core.WithDefault(core.PerMinute(1)))
	for range 3 {
		decide(t, lim, get("/", "192.0.2.1:1"))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := "memory/apply/ok memory/apply/ok memory/apply/ok"; strings.Join(rec.backends, " ") != want {
		t.Errorf("backend calls %v, want %q: every denial reaches the backend, under its name", rec.backends, want)
	}
	for _, e := range rec.events {
		if e.Cached {
			t.Errorf("a local backend's denial came from the deny cache: %+v", e)
		}
	}
}

// decorator wraps a backend without declaring anything.
type decorator struct{ backend.Backend }

// TestDenyCache floods one limit and checks that the cache makes exactly the
// decisions the backend would, with far fewer backend calls.
func TestDenyCache(t *testing.T) {
	run := func(cache bool) ([]core.Outcome, int64) {
		f := newFlaky(t)
		lim, clk := newLimiter(t, core.WithBackend(f), core.WithFailure(core.Failure{NoDenyCache: !cache}),
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

// TestDenyCacheForgetsOnSetRules: a denial cached under the old rules does
// not outlive them, so a raised limit admits at once.
func TestDenyCacheForgetsOnSetRules(t *testing.T) {
	f := newFlaky(t)
	rule := core.Rule{Name: "api", Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerHour(2)}}
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithRules(rule))
	for i, want := range []core.Outcome{core.Allowed, core.Allowed, core.Denied, core.Denied} {
		if got := decide(t, lim, get("/", "192.0.2.1:1")).Outcome; got != want {
			t.Fatalf("request %d: %v, want %v", i, got, want)
		}
	}
	rule.Limits = []core.Limit{core.PerHour(3)}
	if err := lim.SetRules(rule); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, lim, get("/", "192.0.2.1:1")); d.Outcome != core.Allowed || d.Cached {
		t.Fatalf("after raising the limit: %v (cached %v), want allowed", d.Outcome, d.Cached)
	}
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

func TestFailureModeErrors(t *testing.T) {
	_, err := core.New(core.WithDefault(core.PerMinute(1)), core.WithFailure(core.Failure{Mode: "sideways"}))
	expectConfigErrors(t, err, []string{"failure.mode"})
	_, err = core.New(core.WithRules(core.Rule{Limits: []core.Limit{core.PerMinute(1)}, Failure: "sideways"}))
	expectConfigErrors(t, err, []string{"rules[0].failure"})
}

// TestResetDropsCachedDenial: a client the deny cache holds is decided
// afresh, and admitted, right after a Reset through the same Limiter.
func TestResetDropsCachedDenial(t *testing.T) {
	f := newFlaky(t)
	lim, _ := newLimiter(t, core.WithBackend(f), core.WithDefault(core.PerMinute(1)))
	req := get("/", "192.0.2.1:1")
	decide(t, lim, req)
	decide(t, lim, req) // denied by the backend, and cached
	if d := decide(t, lim, req); !d.Cached {
		t.Fatalf("third request: Cached = false, want a denial from the deny cache")
	}
	if err := lim.Reset(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	calls := f.calls.Load()
	if d := decide(t, lim, req); d.Outcome != core.Allowed || d.Cached {
		t.Errorf("after Reset: %v (cached %v), want allowed by the backend", d.Outcome, d.Cached)
	}
	if got := f.calls.Load() - calls; got != 1 {
		t.Errorf("after Reset: %d backend calls, want 1", got)
	}
}
