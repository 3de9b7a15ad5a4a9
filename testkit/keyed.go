package testkit

import (
	"context"
	"errors"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

// The conformance cases of the keyed call (core.Limiter.Take), Wait and
// Decision.Settle, run through a Limiter on the backend under test: every
// backend must give the Limiter the same decisions. The Limiter fails
// closed, so that a backend error shows as a failure, not as an admission.

// limiter returns a Limiter on the backend under test and a fake clock at
// Epoch, with one name-only rule, "keyed", of h's algorithm and limit.
func (h *harness) limiter(limit core.Limit) (*core.Limiter, clock.Fake) {
	h.t.Helper()
	clk := clock.NewFake(Epoch)
	rule := core.Rule{Name: "keyed", NameOnly: true, Algorithm: h.alg, Limits: []core.Limit{limit}, Failure: "closed"}
	lim, err := core.New(core.WithBackend(h.b), core.WithClock(clk), core.WithRules(rule))
	if err != nil {
		h.t.Fatalf("core.New: %v", err)
	}
	h.t.Cleanup(func() { lim.Close() })
	return lim, clk
}

// take calls Take and checks the outcome and, when remaining is not
// negative, the remaining count.
func (h *harness) take(lim *core.Limiter, key string, n int64, want core.Outcome, remaining int64) core.Decision {
	h.t.Helper()
	d, err := lim.Take(h.ctx, "keyed", key, n)
	switch {
	case err != nil:
		h.t.Errorf("Take(%q, %d): unexpected error: %v", key, n, err)
	case d.Outcome != want || remaining >= 0 && d.Remaining != remaining:
		h.t.Errorf("Take(%q, %d) = %v with %d remaining, want %v with %d (err %v)", key, n, d.Outcome, d.Remaining, want, remaining, d.Err)
	}
	return d
}

// keyedLimit is the limit of the keyed cases: n per second, or n in
// flight.
func (h *harness) keyedLimit(n int64) core.Limit {
	if h.alg == backend.Concurrency {
		return core.Concurrent(n)
	}
	return core.PerSecond(n)
}

func testKeyedTake(h *harness) {
	lim, _ := h.limiter(h.keyedLimit(4))
	key, other := h.ns+":a", h.ns+":b"
	a := h.take(lim, key, 3, core.Allowed, 1)
	h.take(lim, key, 2, core.Denied, 1)
	h.take(lim, key, 0, core.Allowed, 1) // a peek
	b := h.take(lim, other, 4, core.Allowed, 0)
	h.take(lim, key, 1, core.Allowed, 0)
	if _, err := lim.Take(h.ctx, "no-such-rule", key, 1); !errors.Is(err, backend.ErrInvalidRequest) {
		h.t.Errorf("Take of an unknown rule: %v, want an error wrapping backend.ErrInvalidRequest", err)
	}
	a.Release()
	b.Release()
}

func testKeyedWait(h *harness) {
	lim, clk := h.limiter(h.keyedLimit(2))
	key := h.ns
	h.take(lim, key, 2, core.Allowed, 0)
	denied := h.take(lim, key, 1, core.Denied, 0)
	if denied.RetryAfter <= 0 {
		h.t.Fatalf("denial with RetryAfter %v, want positive", denied.RetryAfter)
	}
	// A wait the deadline does not outlast fails at once and charges
	// nothing.
	ctx, cancel := context.WithTimeout(h.ctx, denied.RetryAfter/2)
	_, err := lim.Wait(ctx, "keyed", key, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		h.t.Errorf("Wait that would outlast its deadline: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan core.Decision, 1)
	go func() {
		d, err := lim.Wait(ctx, "keyed", key, 1)
		if err != nil && ctx.Err() == nil {
			h.t.Errorf("Wait: %v", err)
		}
		done <- d
	}()
	// asleep waits until Wait sleeps on the clock, and reports false if it
	// returned instead.
	asleep := func() (core.Decision, bool) {
		for clk.Sleepers() == 0 {
			select {
			case d := <-done:
				return d, false
			case <-time.After(time.Millisecond):
			}
		}
		return core.Decision{}, true
	}
	if d, ok := asleep(); !ok {
		h.t.Fatalf("Wait returned %v without waiting", d.Outcome)
	}
	clk.Advance(denied.RetryAfter)
	d, ok := asleep()
	if ok {
		cancel()
		<-done
		h.t.Fatalf("Wait slept again once the denial's RetryAfter (%v) had passed", denied.RetryAfter)
	}
	if d.Outcome != core.Allowed {
		h.t.Errorf("Wait: %v, want allowed once the denial's RetryAfter passed", d.Outcome)
	}
	// Wait's charge stays: a peek sees what Wait's decision left.
	peek := core.Allowed
	if d.Remaining == 0 {
		peek = core.Denied
	}
	h.take(lim, key, 0, peek, d.Remaining)
}

func testKeyedSettle(h *harness) {
	lim, clk := h.limiter(h.keyedLimit(10))
	key := h.ns
	d := h.take(lim, key, 8, core.Allowed, 2)
	clk.Advance(200 * time.Millisecond)
	if err := d.Settle(h.ctx, 3); err != nil {
		h.t.Fatalf("Settle: %v", err)
	}
	// As testSettleRefund: a token bucket has drained 2 of the 8.
	h.take(lim, key, 0, core.Allowed, h.pick(9, 7, 7))
	e := h.take(lim, key, 1, core.Allowed, -1)
	if err := e.Settle(h.ctx, 11); err != nil {
		h.t.Fatalf("Settle: %v", err)
	}
	h.take(lim, key, 1, core.Denied, 0)
}
