package testkit

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

const ms = time.Millisecond

// sequences are the exact behaviour of every algorithm, computed by hand.
// Each step's time is relative to Epoch.
var sequences = []struct {
	name     string
	alg      backend.Algorithm
	windows  []backend.Window
	maxDelay time.Duration
	steps    []step
}{
	{
		// 10/s with a burst of 5: one token per 100ms, at most 5 stored.
		name: "burst", alg: backend.TokenBucket,
		windows: []backend.Window{{Limit: 10, Period: time.Second, Burst: 5}},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 4, resetAfter: 100 * ms},
			{at: 0, cost: 1, allowed: true, remaining: 3, resetAfter: 200 * ms},
			{at: 0, cost: 1, allowed: true, remaining: 2, resetAfter: 300 * ms},
			{at: 0, cost: 1, allowed: true, remaining: 1, resetAfter: 400 * ms},
			{at: 0, cost: 1, allowed: true, remaining: 0, resetAfter: 500 * ms},
			{at: 0, cost: 1, allowed: false, remaining: 0, resetAfter: 500 * ms, retryAfter: 100 * ms},
			{at: 100 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 500 * ms},
			{at: 150 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 450 * ms, retryAfter: 50 * ms},
			{at: 1000 * ms, cost: 1, allowed: true, remaining: 4, resetAfter: 100 * ms},
			{at: 1000 * ms, cost: 3, allowed: true, remaining: 1, resetAfter: 400 * ms},
			{at: 1000 * ms, cost: 2, allowed: false, remaining: 1, resetAfter: 400 * ms, retryAfter: 100 * ms},
			{at: 1000 * ms, cost: 0, allowed: true, remaining: 1, resetAfter: 400 * ms},
			{at: 1000 * ms, cost: 6, allowed: false, remaining: 1, resetAfter: 400 * ms, retryAfter: time.Second},
			{at: 2000 * ms, cost: 0, allowed: true, remaining: 5},
		},
	},
	{
		// 10/s, throttled: a request that conforms within 250ms is
		// admitted with a delay.
		name: "throttle", alg: backend.TokenBucket,
		windows:  []backend.Window{{Limit: 10, Period: time.Second}},
		maxDelay: 250 * ms,
		steps: []step{
			{at: 0, cost: 10, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 0, cost: 1, allowed: true, delay: 100 * ms, remaining: 0, resetAfter: 1100 * ms},
			{at: 0, cost: 1, allowed: true, delay: 200 * ms, remaining: 0, resetAfter: 1200 * ms},
			{at: 0, cost: 1, allowed: false, remaining: 0, resetAfter: 1200 * ms, retryAfter: 300 * ms},
			{at: 100 * ms, cost: 1, allowed: true, delay: 200 * ms, remaining: 0, resetAfter: 1200 * ms},
			{at: 100 * ms, cost: 0, allowed: false, remaining: 0, resetAfter: 1200 * ms, retryAfter: 300 * ms},
		},
	},
	{
		// 6 of 10 per hour used, then a reload loosens the limit to 8 per
		// minute (one token per 7.5s): the 36 minutes of the old bucket
		// read as an empty new bucket, so the client waits one token, not
		// the old limit's 35 minutes.
		name: "reload-looser", alg: backend.TokenBucket,
		windows: []backend.Window{{Limit: 10, Period: time.Hour}},
		steps: []step{
			{at: 0, cost: 6, allowed: true, remaining: 4, resetAfter: 36 * time.Minute},
			{at: 0, cost: 1, reload: []backend.Window{{Limit: 8, Period: time.Minute}},
				allowed: false, remaining: 0, resetAfter: time.Minute, retryAfter: 7500 * ms},
			{at: 7500 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: time.Minute},
			{at: 67500 * ms, cost: 0, allowed: true, remaining: 8},
		},
	},
	{
		// A request whose now is behind the writer's (out of order, or a
		// skewed clock) under the same limit is denied and changes
		// nothing: it must not read the bucket as written under another
		// limit and give capacity back.
		name: "stale-now", alg: backend.TokenBucket,
		windows: []backend.Window{{Limit: 10, Period: time.Second}},
		steps: []step{
			{at: 1000 * ms, cost: 10, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 500 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 1500 * ms, retryAfter: 600 * ms},
			{at: 1000 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: time.Second, retryAfter: 100 * ms},
		},
	},
	{
		// 50 of 100 per minute used, then a reload tightens the limit to
		// 10 per minute: a token bucket keeps its usage as time, so half
		// the old bucket is half the new one.
		name: "reload-tighter", alg: backend.TokenBucket,
		windows: []backend.Window{{Limit: 100, Period: time.Minute}},
		steps: []step{
			{at: 0, cost: 50, allowed: true, remaining: 50, resetAfter: 30 * time.Second},
			{at: 0, cost: 0, reload: []backend.Window{{Limit: 10, Period: time.Minute}},
				allowed: true, remaining: 5, resetAfter: 30 * time.Second},
			{at: 0, cost: 6, allowed: false, remaining: 5, resetAfter: 30 * time.Second, retryAfter: 6 * time.Second},
			{at: 0, cost: 5, allowed: true, remaining: 0, resetAfter: time.Minute},
		},
	},
	{
		// 6 of 10 per hour used, then a reload to 8 per minute: the count
		// is kept, in the current minute, which resets on its own
		// boundary, not at the end of the hour.
		name: "reload-shorter-period", alg: backend.FixedWindow,
		windows: []backend.Window{{Limit: 10, Period: time.Hour}},
		steps: []step{
			{at: 10 * time.Minute, cost: 6, allowed: true, remaining: 4, resetAfter: 50 * time.Minute},
			{at: 10*time.Minute + 30*time.Second, cost: 1, reload: []backend.Window{{Limit: 8, Period: time.Minute}},
				allowed: true, remaining: 1, resetAfter: 30 * time.Second},
			{at: 10*time.Minute + 45*time.Second, cost: 2, allowed: false, remaining: 1, resetAfter: 15 * time.Second, retryAfter: 15 * time.Second},
			{at: 11 * time.Minute, cost: 0, allowed: true, remaining: 8},
		},
	},
	{
		// 6 of 10 per minute used, then a reload to 100 per hour: the
		// count is kept, in the hour.
		name: "reload-longer-period", alg: backend.FixedWindow,
		windows: []backend.Window{{Limit: 10, Period: time.Minute}},
		steps: []step{
			{at: 30 * time.Second, cost: 6, allowed: true, remaining: 4, resetAfter: 30 * time.Second},
			{at: 40 * time.Second, cost: 1, reload: []backend.Window{{Limit: 100, Period: time.Hour}},
				allowed: true, remaining: 93, resetAfter: time.Hour - 40*time.Second},
			{at: 61 * time.Second, cost: 0, allowed: true, remaining: 93, resetAfter: time.Hour - 61*time.Second},
		},
	},
	{
		// 3 per second, windows aligned to whole seconds; the first request
		// comes 700ms into a window.
		name: "aligned", alg: backend.FixedWindow,
		windows: []backend.Window{{Limit: 3, Period: time.Second}},
		steps: []step{
			{at: 700 * ms, cost: 1, allowed: true, remaining: 2, resetAfter: 300 * ms},
			{at: 800 * ms, cost: 1, allowed: true, remaining: 1, resetAfter: 200 * ms},
			{at: 900 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 100 * ms},
			{at: 950 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 50 * ms, retryAfter: 50 * ms},
			{at: 1000 * ms, cost: 1, allowed: true, remaining: 2, resetAfter: time.Second},
			{at: 1000 * ms, cost: 2, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 1999 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: ms, retryAfter: ms},
			{at: 2000 * ms, cost: 0, allowed: true, remaining: 3},
			{at: 2000 * ms, cost: 4, allowed: false, remaining: 3, retryAfter: time.Second},
		},
	},
	{
		// 10 per second; the previous second counts in proportion to its
		// overlap with the sliding window.
		name: "weighted", alg: backend.SlidingWindow,
		windows: []backend.Window{{Limit: 10, Period: time.Second}},
		steps: []step{
			{at: 0, cost: 8, allowed: true, remaining: 2, resetAfter: 2 * time.Second},
			// 8+3 > 10 in this window; next window, 8*(1-e)+3 <= 10 from e=125ms.
			{at: 500 * ms, cost: 3, allowed: false, remaining: 2, resetAfter: 1500 * ms, retryAfter: 625 * ms},
			// Half of the previous 8 still counts: 4.
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 5, resetAfter: 1500 * ms},
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 4, resetAfter: 1500 * ms},
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 3, resetAfter: 1500 * ms},
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 2, resetAfter: 1500 * ms},
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 1, resetAfter: 1500 * ms},
			{at: 1500 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 1500 * ms},
			// 8*(1-e) + 7 <= 10 from e = 625ms.
			{at: 1500 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 1500 * ms, retryAfter: 125 * ms},
			{at: 1625 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: 1375 * ms},
			{at: 2000 * ms, cost: 1, allowed: true, remaining: 2, resetAfter: 2 * time.Second},
			{at: 2000 * ms, cost: 2, allowed: true, remaining: 0, resetAfter: 2 * time.Second},
			// 7*(1-e) + 4 <= 10 from e = 1 - 6/7 s: rounding errs towards waiting.
			{at: 2000 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 2 * time.Second, retryAfter: 142857143},
			{at: 3500 * ms, cost: 0, allowed: true, remaining: 8, resetAfter: 500 * ms},
			{at: 5000 * ms, cost: 0, allowed: true, remaining: 10},
		},
	},
	{
		// At most 3 in any second.
		name: "exact", alg: backend.SlidingLog,
		windows: []backend.Window{{Limit: 3, Period: time.Second}},
		steps: []step{
			{at: 0, cost: 1, allowed: true, remaining: 2, resetAfter: time.Second},
			{at: 200 * ms, cost: 1, allowed: true, remaining: 1, resetAfter: time.Second},
			{at: 400 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 600 * ms, cost: 1, allowed: false, remaining: 0, resetAfter: 800 * ms, retryAfter: 400 * ms},
			{at: 1000 * ms, cost: 1, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 1100 * ms, cost: 2, allowed: false, remaining: 0, resetAfter: 900 * ms, retryAfter: 300 * ms},
			{at: 1400 * ms, cost: 2, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 1400 * ms, cost: 0, allowed: false, remaining: 0, resetAfter: time.Second, retryAfter: 600 * ms},
			{at: 1400 * ms, cost: 4, allowed: false, remaining: 0, resetAfter: time.Second, retryAfter: time.Second},
			{at: 2400 * ms, cost: 0, allowed: true, remaining: 3},
		},
	},
	{
		// 2 in flight, leases of 10s.
		name: "leases", alg: backend.Concurrency,
		windows: []backend.Window{{Limit: 2, Period: 10 * time.Second}},
		steps: []step{
			{at: 0, cost: 1, lease: 1, allowed: true, remaining: 1, resetAfter: 10 * time.Second},
			{at: 0, cost: 1, lease: 2, allowed: true, remaining: 0, resetAfter: 10 * time.Second},
			{at: time.Second, cost: 1, lease: 3, allowed: false, remaining: 0, resetAfter: 9 * time.Second, retryAfter: time.Second},
			{at: time.Second, lease: 1, release: true},
			{at: time.Second, cost: 1, lease: 3, allowed: true, remaining: 0, resetAfter: 10 * time.Second},
			{at: 9500 * ms, cost: 1, lease: 4, allowed: false, remaining: 0, resetAfter: 1500 * ms, retryAfter: 500 * ms},
			{at: 10 * time.Second, cost: 0, allowed: true, remaining: 1, resetAfter: time.Second},
			{at: 10 * time.Second, lease: 2, release: true},
			{at: 10 * time.Second, lease: 99, release: true},
			{at: 10 * time.Second, cost: 0, allowed: true, remaining: 1, resetAfter: time.Second},
			{at: 11 * time.Second, cost: 0, allowed: true, remaining: 2},
		},
	},
}
