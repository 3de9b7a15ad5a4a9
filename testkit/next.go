package testkit

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// The conformance cases of WindowResult.NextAfter: the time until a window
// has one unit more than it reports remaining, which the HTTP contract
// sends as the t of the RateLimit field. Each step charges (or peeks, with
// cost 0) at a time since Epoch and checks the result's Remaining and
// NextAfter, before the charge for a denial or a peek, after it otherwise.

type nextStep struct {
	at        time.Duration
	cost      int64
	allowed   bool
	remaining int64
	next      time.Duration
}

func (h *harness) nextSteps(windows []backend.Window, steps []nextStep) {
	h.t.Helper()
	for i, s := range steps {
		req := h.request("client", windows, s.at, s.cost)
		req.Lease = nextLease.Add(1)
		res, ok := h.apply(req)
		if !ok {
			continue
		}
		w := res.Windows[0]
		prefix := fmt.Sprintf("step %d (at %v, cost %d)", i, s.at, s.cost)
		if res.Allowed != s.allowed || w.Remaining != s.remaining {
			h.t.Errorf("%s: Allowed = %v, Remaining = %d, want %v, %d", prefix, res.Allowed, w.Remaining, s.allowed, s.remaining)
		}
		for _, p := range durationProblem("NextAfter", w.NextAfter, s.next) {
			h.t.Errorf("%s: %s", prefix, p)
		}
	}
}

// testNextAfter runs the sequence of h's algorithm, with a limit of 4 per
// minute (4 in flight, with a 10s lease, for concurrency).
func testNextAfter(h *harness) {
	sec := time.Second
	w := one(4, time.Minute)
	switch h.alg {
	case backend.TokenBucket:
		// A token every 15s: one unit more is at most 15s away.
		h.nextSteps(w, []nextStep{
			{at: 0, cost: 1, allowed: true, remaining: 3, next: 15 * sec},
			{at: 0, cost: 3, allowed: true, remaining: 0, next: 15 * sec}, // not 60s: the quota comes back a token at a time
			{at: 0, cost: 1, allowed: false, remaining: 0, next: 15 * sec},
			{at: 10 * sec, cost: 0, allowed: false, remaining: 0, next: 5 * sec},
			{at: 20 * sec, cost: 0, allowed: true, remaining: 1, next: 10 * sec},
			{at: 60 * sec, cost: 0, allowed: true, remaining: 4, next: 0}, // full
		})
	case backend.FixedWindow:
		// Units come back when the window ends.
		h.nextSteps(w, []nextStep{
			{at: 0, cost: 1, allowed: true, remaining: 3, next: 60 * sec},
			{at: 10 * sec, cost: 3, allowed: true, remaining: 0, next: 50 * sec},
			{at: 20 * sec, cost: 0, allowed: false, remaining: 0, next: 40 * sec},
			{at: 60 * sec, cost: 0, allowed: true, remaining: 4, next: 0},
		})
	case backend.SlidingLog:
		// Units come back as the oldest entries leave.
		h.nextSteps(w, []nextStep{
			{at: 0, cost: 1, allowed: true, remaining: 3, next: 60 * sec},
			{at: 10 * sec, cost: 2, allowed: true, remaining: 1, next: 50 * sec},
			{at: 20 * sec, cost: 1, allowed: true, remaining: 0, next: 40 * sec},
			{at: 30 * sec, cost: 0, allowed: false, remaining: 0, next: 30 * sec},
			{at: 65 * sec, cost: 0, allowed: true, remaining: 1, next: 5 * sec}, // the entry of 2 at 10s leaves next
			{at: 90 * sec, cost: 0, allowed: true, remaining: 4, next: 0},
		})
	case backend.SlidingWindow:
		// The previous window's weight decays: 4 in the window of 0-60s
		// weigh ceil(4*(60-e)/60) at e seconds into the next.
		h.nextSteps(w, []nextStep{
			{at: 0, cost: 4, allowed: true, remaining: 0, next: 75 * sec}, // 15s into the next window, 4*45/60 = 3
			{at: 70 * sec, cost: 0, allowed: false, remaining: 0, next: 5 * sec},
			{at: 75 * sec, cost: 0, allowed: true, remaining: 1, next: 15 * sec}, // 4*30/60 = 2
			{at: 90 * sec, cost: 0, allowed: true, remaining: 2, next: 15 * sec}, // 4*15/60 = 1
			{at: 180 * sec, cost: 0, allowed: true, remaining: 4, next: 0},
		})
	case backend.Concurrency:
		// A slot comes back when a request ends or its lease expires: at
		// most a second, or the time left in the first lease.
		lease := []backend.Window{{Limit: 4, Period: 10 * sec}}
		h.nextSteps(lease, []nextStep{
			{at: 0, cost: 0, allowed: true, remaining: 4, next: 0},
			{at: 0, cost: 1, allowed: true, remaining: 3, next: sec},
			{at: 9500 * time.Millisecond, cost: 0, allowed: true, remaining: 3, next: 500 * time.Millisecond},
		})
	}
}
