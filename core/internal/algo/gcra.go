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
// denial or a peek), and the delay to wait before serving. For a denial or a
// peek, next is the tat passed in, unless it was corrected as below.
//
// A tat later than now+Capacity*T+maxDelay cannot come from this window (it
// was written under another limit, before a configuration change) and is
// read as now+Capacity*T+maxDelay: the bucket is empty and refills at the
// new rate. Then next is that corrected tat even for a denial, and callers
// store it when they charge (cost > 0) but are denied: otherwise every
// request would find the old tat and correct it again to an empty bucket,
// and the client would wait for the old limit after all. Peeks must pass
// the rule's maxDelay too, so they read a tat as charges do.
func GCRA(tat, now int64, w backend.Window, cost, maxDelay int64) (next int64, before, after backend.WindowResult, delay int64, ok bool) {
	c, peek := unit(cost)
	stored := tat
	if tat < now {
		tat = now
	}
	if w.Limit <= 0 {
		r := backend.WindowResult{RetryAfter: time.Duration(never(w))}
		return stored, r, r, 0, false
	}
	t := ceilDiv(int64(w.Period), w.Limit)
	capacity := w.Capacity(backend.TokenBucket)
	tau := capacity * t
	// Under one limit, a stored tat is never later than now+tau+maxDelay
	// (an empty bucket and the longest delay). A later one was written under
	// another limit, before a reload: the client gets the new bucket empty,
	// never a wait longer than the new limit itself can impose.
	if most := now + tau + maxDelay; most >= now && tat > most { // most < now: overflow, no limit
		tat, stored = most, most
	}
	state := backend.WindowResult{
		Remaining:  max(0, floorDiv(now+tau-tat, t)),
		ResetAfter: time.Duration(tat - now),
	}
	if c > capacity {
		state.RetryAfter = time.Duration(never(w))
		return stored, state, state, 0, false
	}
	newTAT := tat + c*t
	wait := newTAT - tau - now
	switch {
	case peek:
		state.RetryAfter = time.Duration(max(0, wait))
		return stored, state, state, 0, wait <= 0
	case wait <= 0 || wait <= maxDelay:
		delay = max(0, wait)
		return newTAT, state, backend.WindowResult{
			Remaining:  max(0, floorDiv(now+tau-newTAT, t)),
			ResetAfter: time.Duration(newTAT - now),
		}, delay, true
	default:
		state.RetryAfter = time.Duration(wait)
		return stored, state, state, 0, false
	}
}
