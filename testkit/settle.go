package testkit

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// The conformance cases of Backend.Settle: a charge corrected to the cost
// it really had. Times are since Epoch; the limits are 10 per second
// unless a case says otherwise, so that a token-bucket unit is 100ms.

// settle corrects the charge res of req, made at req.Now, to cost at at.
func (h *harness) settle(req backend.Request, res backend.Result, at time.Duration, cost int64) {
	h.t.Helper()
	s := backend.Settlement{Request: req, Charged: req.Cost, Elapsed: Epoch.Add(at).Sub(req.Now), Charge: res.Windows}
	s.Cost, s.Now = cost, Epoch.Add(at)
	if err := h.b.Settle(h.ctx, s); err != nil {
		h.t.Errorf("Settle(key=%q, charged=%d, cost=%d, at=%v): unexpected error: %v", req.Key, req.Cost, cost, at, err)
	}
}

// chargeReq charges and returns the request and its result, for a later
// settle.
func (h *harness) chargeReq(key string, windows []backend.Window, at time.Duration, cost int64) (backend.Request, backend.Result) {
	h.t.Helper()
	req := h.request(key, windows, at, cost)
	res, ok := h.apply(req)
	if ok && !res.Allowed {
		h.t.Errorf("Apply(key=%q, cost=%d, at=%v) denied, want admitted", key, cost, at)
	}
	return req, res
}

// expect peeks at key and compares window i's Remaining and, when
// resetAfter is not negative, its ResetAfter.
func (h *harness) expect(what, key string, windows []backend.Window, at time.Duration, i int, remaining int64, resetAfter time.Duration) {
	h.t.Helper()
	r, ok := h.peek(key, windows, at)
	if !ok {
		return
	}
	w := r.Windows[i]
	if w.Remaining != remaining {
		h.t.Errorf("%s: window %d: Remaining = %d, want %d", what, i, w.Remaining, remaining)
	}
	if resetAfter >= 0 {
		for _, p := range durationProblem("ResetAfter", w.ResetAfter, resetAfter) {
			h.t.Errorf("%s: window %d: %s", what, i, p)
		}
	}
}

// pick returns the value of the case's algorithm.
func (h *harness) pick(tokenBucket, fixed, sliding int64) int64 {
	switch h.alg {
	case backend.TokenBucket:
		return tokenBucket
	case backend.FixedWindow:
		return fixed
	}
	return sliding
}

func pickDuration(h *harness, tokenBucket, fixed, sliding time.Duration) time.Duration {
	return time.Duration(h.pick(int64(tokenBucket), int64(fixed), int64(sliding)))
}

// testSettleRefund: a charge of 8 settled at 3, 200ms later, gives 5 back.
// A token bucket has drained 2 of the 8 by then: 1 of the 3 is left.
func testSettleRefund(h *harness) {
	w := one(10, time.Second)
	req, res := h.chargeReq("client", w, 0, 8)
	h.settle(req, res, 200*time.Millisecond, 3)
	h.expect("8 settled at 3", "client", w, 200*time.Millisecond, 0,
		h.pick(9, 7, 7), pickDuration(h, 100*time.Millisecond, 800*time.Millisecond, 1800*time.Millisecond))
}

// testSettleExtra: a charge of 2 settled at 12 charges 10 more, beyond the
// limit of 10: the next unit waits.
func testSettleExtra(h *harness) {
	w := one(10, time.Second)
	req, res := h.chargeReq("client", w, 0, 2)
	h.settle(req, res, 100*time.Millisecond, 12)
	r, ok := h.peek("client", w, 100*time.Millisecond)
	if !ok {
		return
	}
	var retry time.Duration
	switch h.alg {
	case backend.TokenBucket:
		// tat 200ms + 10 units of 100ms = 1.2s; one more unit conforms at 1.3s - 1s.
		retry = 200 * time.Millisecond
	case backend.FixedWindow:
		retry = 900 * time.Millisecond // the window's end
	case backend.SlidingWindow:
		// 12 in this window: next window, once 12*(1-e) <= 9, e = 250ms.
		retry = 1150 * time.Millisecond
	case backend.SlidingLog:
		// Entries of 2 at 0 and 10 at 100ms: 3 must leave, so both.
		retry = time.Second
	}
	if r.Allowed || r.Windows[0].Remaining != 0 {
		h.t.Errorf("2 settled at 12 of 10: Allowed = %v, Remaining = %d, want false, 0: the extra was not charged", r.Allowed, r.Windows[0].Remaining)
	}
	for _, p := range durationProblem("RetryAfter", r.Windows[0].RetryAfter, retry) {
		h.t.Errorf("2 settled at 12 of 10: %s", p)
	}
}

// testSettleRefundAfterOthers: a refund of a charge that no longer counts
// (a drained token bucket, a fixed window that ended, a sliding window's
// previous window) gives back nothing that another request's charge
// holds: the other request's 3 units stay charged.
func testSettleRefundAfterOthers(h *harness) {
	w := one(10, time.Second)
	later := pickDuration(h, 600*time.Millisecond, 1200*time.Millisecond, 1200*time.Millisecond)
	req, res := h.chargeReq("client", w, 0, 5)
	h.chargeReq("client", w, later, 3) // another request, after the first one's units
	h.settle(req, res, later, 0)
	h.expect("the first request refunded after another's", "client", w, later, 0, 7, -1)
}

// testSettleOutOfOrder: a token bucket's units drain oldest first. Two
// charges of 4 at once end at 400ms and 800ms; the first settles at 1 at
// 100ms, giving back 3 units, which moves the second's units 300ms
// earlier: they end at 500ms, so at 600ms, after a third request of 2,
// the second's refund has nothing left to give back.
func testSettleOutOfOrder(h *harness) {
	w := one(10, time.Second)
	a, ares := h.chargeReq("client", w, 0, 4)
	b, bres := h.chargeReq("client", w, 0, 4)
	h.settle(a, ares, 100*time.Millisecond, 1)
	h.expect("the first settled at 1", "client", w, 100*time.Millisecond, 0, 6, 400*time.Millisecond)
	h.chargeReq("client", w, 600*time.Millisecond, 2)
	h.settle(b, bres, 600*time.Millisecond, 0)
	h.expect("the second refunded after it drained", "client", w, 600*time.Millisecond, 0, 8, 200*time.Millisecond)
}

// testSettleMultiWindow: a settlement corrects every window.
func testSettleMultiWindow(h *harness) {
	ws := []backend.Window{{Limit: 10, Period: time.Second}, {Limit: 20, Period: time.Minute}}
	req, res := h.chargeReq("client", ws, 0, 8)
	h.settle(req, res, 0, 3)
	h.expect("8 settled at 3", "client", ws, 0, 0, 7, -1)
	h.expect("8 settled at 3", "client", ws, 0, 1, 17, -1)
}

// testSettleLog: a sliding log keeps its estimate: a refund gives nothing
// back.
func testSettleLog(h *harness) {
	w := one(10, time.Second)
	req, res := h.chargeReq("client", w, 0, 8)
	h.settle(req, res, 200*time.Millisecond, 3)
	h.expect("8 settled at 3 (kept)", "client", w, 200*time.Millisecond, 0, 2, 800*time.Millisecond)
}

// testSettleConcurrency: Settle changes nothing for a concurrency limit:
// its units come back with Release.
func testSettleConcurrency(h *harness) {
	w := one(10, time.Minute)
	req := h.request("client", w, 0, 8)
	req.Lease = nextLease.Add(1)
	res, ok := h.apply(req)
	if !ok {
		return
	}
	h.settle(req, res, 0, 1)
	h.expect("a lease of 8 settled at 1", "client", w, 0, 0, 2, -1)
	if err := h.b.Release(h.ctx, req); err != nil {
		h.t.Errorf("Release: %v", err)
	}
	h.expect("released after Settle", "client", w, 0, 0, 10, -1)
}

// testSettleConcurrent: requests of estimate 3 settled at 1 concurrently,
// at one instant: every admitted one leaves exactly 1 unit charged in a
// fixed or sliding window. A token bucket may give back less when
// settlements overlap (an earlier refund moves later charges' units, and
// it errs towards too little), never more.
func testSettleConcurrent(h *harness) {
	const limit, workers, attempts = 30, 16, 4
	w := one(limit, time.Second)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for range attempts {
				req := h.request("hot", w, 0, 3)
				res, err := h.b.Apply(h.ctx, req)
				if err != nil {
					h.t.Errorf("Apply: %v", err)
					return
				}
				if res.Allowed {
					admitted.Add(1)
					h.settle(req, res, 0, 1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	n := admitted.Load()
	r, ok := h.peek("hot", w, 0)
	if !ok {
		return
	}
	switch got := r.Windows[0].Remaining; {
	case n < limit/3 || n > limit:
		h.t.Errorf("%d admitted of estimate 3 settled at 1, limit %d: want %d to %d", n, limit, limit/3, limit)
	case got > limit-n:
		h.t.Errorf("%d admitted, each settled at 1: Remaining = %d, more than %d: a refund gave back units other charges hold", n, got, limit-n)
	case got != limit-n && h.alg != backend.TokenBucket:
		h.t.Errorf("%d admitted, each settled at 1: Remaining = %d, want %d: a settlement was lost or doubled", n, got, limit-n)
	}
}
