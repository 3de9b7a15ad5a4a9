package algo

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// GCRA evaluates a token-bucket window in the generic cell rate algorithm
// formulation. tat is the stored theoretical arrival time (0 when there is no
// state); the bucket is full whenever tat <= now, so tat is also the instant
// at which the state can be forgotten.
//
// The emission interval is T = ceil(Period/Limit) and the bucket holds
// Capacity tokens, so a request of cost c conforms at now when
// max(tat, now) + c*T - Capacity*T <= now. When it does not conform but would
// within maxDelay, it is admitted with that delay (throttling).
//
// GCRA returns the tat to store if the request is admitted (ok) and charged
// (cost > 0), the window's state before and after the charge (the same for a
// denial or a peek), and the delay to wait before serving.
func GCRA(tat, now int64, w backend.Window, cost, maxDelay int64) (next int64, before, after backend.WindowResult, delay int64, ok bool) {
	c, peek := unit(cost)
	if tat < now {
		tat = now
	}
	if w.Limit <= 0 {
		r := backend.WindowResult{RetryAfter: time.Duration(never(w))}
		return tat, r, r, 0, false
	}
	t := ceilDiv(int64(w.Period), w.Limit)
	capacity := w.Capacity(backend.TokenBucket)
	tau := capacity * t
	state := backend.WindowResult{
		Remaining:  max(0, floorDiv(now+tau-tat, t)),
		ResetAfter: time.Duration(tat - now),
	}
	if c > capacity {
		state.RetryAfter = time.Duration(never(w))
		return tat, state, state, 0, false
	}
	newTAT := tat + c*t
	wait := newTAT - tau - now
	switch {
	case peek:
		state.RetryAfter = time.Duration(max(0, wait))
		return tat, state, state, 0, wait <= 0
	case wait <= 0 || wait <= maxDelay:
		delay = max(0, wait)
		return newTAT, state, backend.WindowResult{
			Remaining:  max(0, floorDiv(now+tau-newTAT, t)),
			ResetAfter: time.Duration(newTAT - now),
		}, delay, true
	default:
		state.RetryAfter = time.Duration(wait)
		return tat, state, state, 0, false
	}
}
