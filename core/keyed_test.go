package core_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

func take(t *testing.T, lim *core.Limiter, rule, key string, n int64) core.Decision {
	t.Helper()
	d, err := lim.Take(t.Context(), rule, key, n)
	if err != nil {
		t.Fatalf("Take(%q, %q, %d): %v", rule, key, n, err)
	}
	return d
}

func jobs(limits ...core.Limit) core.Option {
	return core.WithRules(core.Rule{Name: "jobs", NameOnly: true, Limits: limits})
}

func TestTake(t *testing.T) {
	lim, _ := newLimiter(t, jobs(core.PerMinute(10)))
	if d := take(t, lim, "jobs", "tenant-1", 7); d.Outcome != core.Allowed || d.Remaining != 3 || d.Rule != "jobs" {
		t.Errorf("Take 7 of 10: %v remaining %d rule %q, want allowed, 3, jobs", d.Outcome, d.Remaining, d.Rule)
	}
	d := take(t, lim, "jobs", "tenant-1", 4)
	if d.Outcome != core.Denied || d.RetryAfter != 6*time.Second {
		t.Errorf("Take 4 more: %v RetryAfter %v, want denied 6s", d.Outcome, d.RetryAfter)
	}
	if got, want := d.Client, (core.Identity{Kind: core.KindCustom, Value: "tenant-1", Tier: "standard"}); got != want {
		t.Errorf("Client = %+v, want %+v", got, want)
	}
	if d := take(t, lim, "jobs", "tenant-2", 10); d.Outcome != core.Allowed {
		t.Errorf("another tenant: %v, want allowed: keys must not share a counter", d.Outcome)
	}
	if d := take(t, lim, "jobs", "tenant-1", 0); d.Outcome != core.Allowed || d.Remaining != 3 {
		t.Errorf("Take 0 (a peek): %v remaining %d, want allowed, 3", d.Outcome, d.Remaining)
	}
	if d := take(t, lim, "jobs", "tenant-1", 3); d.Outcome != core.Allowed || d.Remaining != 0 {
		t.Errorf("Take 3 after the peek: %v remaining %d, want allowed, 0: the peek charged", d.Outcome, d.Remaining)
	}
}

func TestTakeErrors(t *testing.T) {
	lim, _ := newLimiter(t, jobs(core.PerMinute(10)))
	for _, tc := range []struct {
		rule, key string
		n         int64
		want      string
	}{
		{"nope", "k", 1, `no rule named "nope"`},
		{"", "k", 1, `no rule named ""`},
		{"jobs", "", 1, "empty key"},
		{"jobs", "k", -1, "negative cost"},
	} {
		d, err := lim.Take(t.Context(), tc.rule, tc.key, tc.n)
		if !errors.Is(err, backend.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Take(%q, %q, %d) = %v, %v; want an invalid-request error saying %q", tc.rule, tc.key, tc.n, d.Outcome, err, tc.want)
		}
	}
	lim.Close()
	if _, err := lim.Take(t.Context(), "jobs", "k", 1); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Take after Close: %v, want ErrClosed", err)
	}
}

// TestTakeKeysAreEscaped: no key, whatever bytes it holds, reaches another
// key's counter, and keys never share one with HTTP clients of another
// kind.
func TestTakeKeysAreEscaped(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(1)}}))
	long := strings.Repeat("x", 200)
	keys := []string{"a", "a:b", "a b", "#a", long, long + "y", "{t}", "ip:1.2.3.4", "1.2.3.4", "\x00"}
	for _, k := range keys {
		if d := take(t, lim, "api", k, 1); d.Outcome != core.Allowed {
			t.Errorf("key %q: %v, want allowed: it shares a counter with an earlier key", k, d.Outcome)
		}
	}
	if d := decide(t, lim, get("/", "1.2.3.4:5")); d.Outcome != core.Allowed {
		t.Errorf("the IP 1.2.3.4 after the key \"1.2.3.4\": %v, want allowed", d.Outcome)
	}
}

// TestNameOnlyRules: a name-only rule matches no request, not even as a
// default, and is found by name.
func TestNameOnlyRules(t *testing.T) {
	lim, _ := newLimiter(t, jobs(core.PerMinute(1)))
	if d := decide(t, lim, get("/anything", "192.0.2.1:1")); d.Outcome != core.Exempt || d.Rule != "" {
		t.Errorf("an HTTP request with only a name-only rule: %v rule %q, want exempt with no rule", d.Outcome, d.Rule)
	}
	req := get("/anything", "192.0.2.1:1")
	req.Rule = "jobs"
	if d := decide(t, lim, req); d.Outcome != core.Allowed || d.Rule != "jobs" {
		t.Errorf("Request.Rule = jobs: %v rule %q, want allowed by jobs", d.Outcome, d.Rule)
	}
	if d := decide(t, lim, req); d.Outcome != core.Denied {
		t.Errorf("Request.Rule = jobs again: %v, want denied", d.Outcome)
	}
	req.Rule = "nope"
	if _, err := lim.Decide(t.Context(), req); !errors.Is(err, backend.ErrInvalidRequest) {
		t.Errorf("Request.Rule = nope: %v, want an invalid-request error", err)
	}
	_, err := core.New(core.WithRules(core.Rule{Name: "x", NameOnly: true, Path: "/x", Limits: []core.Limit{core.PerSecond(1)}},
		core.Rule{NameOnly: true, Limits: []core.Limit{core.PerSecond(1)}}))
	expectConfigErrors(t, err, []string{"rules[0].name_only", "rules[1].name"})
}

// TestNoSharedBucket: a request the Limiter cannot attribute to a client
// is an error, never one counter every such request shares.
func TestNoSharedBucket(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)))
	for _, tc := range []struct {
		name string
		r    core.Request
	}{
		{"empty request", core.Request{}},
		{"no remote address", core.Request{Method: "GET", Path: "/"}},
		{"identity without a kind", core.Request{Identity: core.Identity{Value: "tenant-999"}}},
		{"identity without a value", core.Request{Identity: core.Identity{Kind: core.KindUser}}},
	} {
		if d, err := lim.Decide(t.Context(), tc.r); !errors.Is(err, backend.ErrInvalidRequest) {
			t.Errorf("%s: %v, %v; want an invalid-request error", tc.name, d.Outcome, err)
		}
	}
	empty := identifierFunc(func(context.Context, core.Request) (core.Identity, error) { return core.Identity{}, nil })
	lim2, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), core.WithIdentifier(empty))
	if d, err := lim2.Decide(t.Context(), get("/", "192.0.2.1:1")); !errors.Is(err, backend.ErrInvalidRequest) {
		t.Errorf("an identifier that names no client: %v, %v; want an invalid-request error", d.Outcome, err)
	}
}

func TestConcurrentImpliesAlgorithm(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "workers", NameOnly: true, Limits: []core.Limit{core.Concurrent(2)}}))
	a, b := take(t, lim, "workers", "k", 1), take(t, lim, "workers", "k", 1)
	if a.Algorithm != backend.Concurrency || b.Outcome != core.Allowed {
		t.Fatalf("Concurrent(2): algorithm %v, second %v; want concurrency, allowed", a.Algorithm, b.Outcome)
	}
	if d := take(t, lim, "workers", "k", 1); d.Outcome != core.Denied {
		t.Errorf("a third in flight: %v, want denied", d.Outcome)
	}
	a.Release()
	if d := take(t, lim, "workers", "k", 1); d.Outcome != core.Allowed {
		t.Errorf("after a release: %v, want allowed", d.Outcome)
	}
	_, err := core.New(core.WithRules(
		core.Rule{Name: "mixed", Limits: []core.Limit{core.Concurrent(2), core.PerSecond(5)}},
		core.Rule{Name: "rate-as-concurrency", Algorithm: backend.Concurrency, Limits: []core.Limit{core.PerSecond(5)}},
		core.Rule{Name: "concurrent-as-log", Algorithm: backend.SlidingLog, Limits: []core.Limit{core.Concurrent(2)}},
	))
	expectConfigErrors(t, err, []string{"rules[0].limits", "rules[1].limits[0]", "rules[2].algorithm"})
	for _, name := range []string{`"mixed"`, `"rate-as-concurrency"`, `"concurrent-as-log"`} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name rule %s: %v", name, err)
		}
	}
}

func TestWait(t *testing.T) {
	lim, clk := newLimiter(t, jobs(core.PerSecond(2)))
	take(t, lim, "jobs", "t", 2)
	done := make(chan core.Decision, 1)
	go func() {
		d, err := lim.Wait(t.Context(), "jobs", "t", 1)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- d
	}()
	waitForSleeper(t, clk)
	clk.Advance(499 * time.Millisecond)
	select {
	case d := <-done:
		t.Fatalf("Wait returned %v after 499ms; the unit comes back after 500ms", d.Outcome)
	case <-time.After(10 * time.Millisecond):
	}
	clk.Advance(time.Millisecond)
	if d := <-done; d.Outcome != core.Allowed || d.Remaining != 0 {
		t.Errorf("Wait: %v remaining %d, want allowed with 0 left: it was charged", d.Outcome, d.Remaining)
	}
}

func waitForSleeper(t *testing.T, clk interface{ Sleepers() int }) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Sleepers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing went to sleep on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWaitDeadline: a wait that would outlast the context's deadline fails
// at once, charging nothing.
func TestWaitDeadline(t *testing.T) {
	lim, clk := newLimiter(t, jobs(core.PerSecond(2)))
	take(t, lim, "jobs", "t", 2)
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	d, err := lim.Wait(ctx, "jobs", "t", 1)
	if !errors.Is(err, context.DeadlineExceeded) || d.Outcome != core.Denied || d.RetryAfter != 500*time.Millisecond {
		t.Errorf("Wait with 400ms to go: %v %v, %v; want denied 500ms and an error wrapping DeadlineExceeded", d.Outcome, d.RetryAfter, err)
	}
	if n := clk.Sleepers(); n != 0 {
		t.Errorf("%d sleepers: it went to sleep before failing", n)
	}
	clk.Advance(500 * time.Millisecond)
	if d := take(t, lim, "jobs", "t", 1); d.Outcome != core.Allowed || d.Remaining != 0 {
		t.Errorf("after the failed Wait: %v remaining %d, want allowed, 0: the failed Wait charged", d.Outcome, d.Remaining)
	}
}

func TestWaitCanceled(t *testing.T) {
	lim, clk := newLimiter(t, jobs(core.PerSecond(2)))
	take(t, lim, "jobs", "t", 2)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := lim.Wait(ctx, "jobs", "t", 1)
		errc <- err
	}()
	waitForSleeper(t, clk)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait canceled while asleep: %v, want context.Canceled", err)
	}
	clk.Advance(500 * time.Millisecond)
	if d := take(t, lim, "jobs", "t", 1); d.Outcome != core.Allowed {
		t.Errorf("after the canceled Wait: %v, want allowed: it charged", d.Outcome)
	}
}

// TestWaitNeverSpins: a Wait behind a long denial makes one backend call
// per retry, not a loop of them.
func TestWaitNeverSpins(t *testing.T) {
	var calls atomic.Int64
	mem := memory.New(memory.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	lim, clk := newLimiter(t, jobs(core.PerMinute(1)), core.WithBackend(counting{mem, &calls}))
	take(t, lim, "jobs", "t", 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := lim.Wait(t.Context(), "jobs", "t", 1); err != nil {
			t.Errorf("Wait: %v", err)
		}
	}()
	waitForSleeper(t, clk)
	time.Sleep(20 * time.Millisecond) // real time passes; the fake clock does not
	if n := calls.Load(); n != 2 {
		t.Errorf("%d backend calls while waiting a minute, want 2 (the take, and Wait's one)", n)
	}
	clk.Advance(time.Minute)
	<-done
}

type counting struct {
	backend.Backend
	calls *atomic.Int64
}

func (c counting) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	c.calls.Add(1)
	return c.Backend.Apply(ctx, req)
}

func TestWaitErrors(t *testing.T) {
	lim, _ := newLimiter(t, jobs(core.PerSecond(5)), core.WithRules(core.Rule{Name: "closed", NameOnly: true, Limits: []core.Limit{core.PerSecond(5)}, Failure: "closed"}))
	if _, err := lim.Wait(t.Context(), "jobs", "t", 6); !errors.Is(err, backend.ErrInvalidRequest) {
		t.Errorf("Wait(6) of a limit of 5: %v, want an invalid-request error: no wait admits it", err)
	}
	boom := errors.New("down")
	lim2, _ := newLimiter(t, core.WithRules(core.Rule{Name: "closed", NameOnly: true, Limits: []core.Limit{core.PerSecond(5)}, Failure: "closed"}),
		core.WithBackend(failing{boom}))
	if d, err := lim2.Wait(t.Context(), "closed", "t", 1); d.Outcome != core.FailedClosed || !errors.Is(err, core.ErrBackendUnavailable) {
		t.Errorf("Wait with the backend down, failing closed: %v, %v; want fail_closed and ErrBackendUnavailable", d.Outcome, err)
	}
}

// TestWaitThrottled: a Delayed decision is waited out; one the deadline
// does not outlast is refunded.
func TestWaitThrottled(t *testing.T) {
	lim, clk := newLimiter(t, core.WithRules(core.Rule{Name: "pace", NameOnly: true, Limits: []core.Limit{core.PerSecond(1)}, MaxDelay: 5 * time.Second}))
	take(t, lim, "pace", "t", 1)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := lim.Wait(ctx, "pace", "t", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for a 1s delay with 500ms to go: %v, want DeadlineExceeded", err)
	}
	done := make(chan core.Decision, 1)
	go func() {
		d, err := lim.Wait(t.Context(), "pace", "t", 1)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- d
	}()
	waitForSleeper(t, clk)
	clk.Advance(time.Second) // exactly one unit's wait: the failed Wait's charge was refunded
	if d := <-done; d.Outcome != core.Delayed || d.Delay != time.Second {
		t.Errorf("Wait: %v delay %v, want delayed 1s", d.Outcome, d.Delay)
	}
}

func TestSettle(t *testing.T) {
	lim, clk := newLimiter(t, core.WithRules(core.Rule{Name: "tokens", NameOnly: true, Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerMinute(1000)}}))
	d := take(t, lim, "tokens", "acct", 800) // the most the call may use
	clk.Advance(time.Second)
	if err := d.Settle(t.Context(), 300); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if err := d.Settle(t.Context(), 0); err != nil {
		t.Errorf("a second Settle: %v, want nil", err)
	}
	if p := take(t, lim, "tokens", "acct", 0); p.Remaining != 700 {
		t.Errorf("800 settled at 300: Remaining %d, want 700 (a second Settle must do nothing)", p.Remaining)
	}
	e := take(t, lim, "tokens", "acct", 100)
	if err := e.Settle(t.Context(), 900); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if p := take(t, lim, "tokens", "acct", 0); p.Remaining != 0 || p.Outcome != core.Denied {
		t.Errorf("100 settled at 900: %v remaining %d, want denied, 0: the extra was not charged", p.Outcome, p.Remaining)
	}
	denied := take(t, lim, "tokens", "acct", 1)
	if err := denied.Settle(t.Context(), 0); err != nil || denied.Outcome != core.Denied {
		t.Errorf("Settle of a denial: %v, %v; want a no-op", denied.Outcome, err)
	}
	if err := e.Settle(t.Context(), -1); err != nil {
		t.Errorf("Settle of a settled decision with a negative cost: %v, want nil (nothing to settle)", err)
	}
	f := take(t, lim, "tokens", "other", 1)
	if err := f.Settle(t.Context(), -1); !errors.Is(err, backend.ErrInvalidRequest) {
		t.Errorf("Settle(-1): %v, want an invalid-request error", err)
	}
}

// TestSettleLocal: a decision the fail-local fallback made is settled in
// the fallback.
func TestSettleLocal(t *testing.T) {
	boom := errors.New("down")
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "tokens", NameOnly: true, Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerMinute(10)}, Failure: "local"}),
		core.WithBackend(failing{boom}))
	d := take(t, lim, "tokens", "acct", 8)
	if !d.Local || d.Outcome != core.Allowed {
		t.Fatalf("with the backend down: %v local %v, want allowed locally", d.Outcome, d.Local)
	}
	if err := d.Settle(t.Context(), 2); err != nil {
		t.Fatalf("Settle of a local decision: %v, want nil (settled in the fallback)", err)
	}
	if p := take(t, lim, "tokens", "acct", 0); p.Remaining != 8 {
		t.Errorf("8 settled at 2 in the fallback: Remaining %d, want 8", p.Remaining)
	}
}

// TestEvictionsAreObserved: a bounded memory backend's evictions reach the
// Observer as backend op "evict".
func TestEvictionsAreObserved(t *testing.T) {
	mem := memory.New(memory.WithMaxKeys(16), memory.WithSweepInterval(0))
	t.Cleanup(func() { mem.Close() })
	rec := &recorder{}
	lim, _ := newLimiter(t, jobs(core.PerMinute(10)), core.WithBackend(mem), core.WithObserver(rec))
	for i := range 20 {
		take(t, lim, "jobs", strconv.Itoa(i), 1)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := strings.Count(strings.Join(rec.backends, " "), "memory/evict/ok"); n != 4 {
		t.Errorf("%d evictions observed for 20 keys in a bound of 16, want 4: %v", n, rec.backends)
	}
}
