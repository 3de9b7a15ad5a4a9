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
//
// The tat must have been written under this window and maxDelay (see
// [GCRATag]); one written under another limit goes through [Reconfigured]
// first.
func GCRA(tat, now int64, w backend.Window, cost, maxDelay int64) (next int64, before, after backend.WindowResult, delay int64, ok bool) {
	c, peek := unit(cost)
	if tat < now {
		tat = now
	}
	if w.Limit <= 0 {
		r := backend.WindowResult{RetryAfter: time.Duration(never(w)), NextAfter: time.Duration(never(w))}
		return tat, r, r, 0, false
	}
	t := ceilDiv(int64(w.Period), w.Limit)
	capacity := Capacity(w, backend.TokenBucket)
	tau := capacity * t
	// nextAfter is the wait for one unit more than remaining: a cost of
	// remaining+1 conforms once the tat is that many units within tau.
	nextAfter := func(tat, remaining int64) time.Duration {
		if remaining >= capacity {
			return 0
		}
		return time.Duration(tat - now - tau + (remaining+1)*t)
	}
	state := backend.WindowResult{
		Remaining:  max(0, floorDiv(now+tau-tat, t)),
		ResetAfter: time.Duration(tat - now),
	}
	state.NextAfter = nextAfter(tat, state.Remaining)
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
		after := backend.WindowResult{
			Remaining:  max(0, floorDiv(now+tau-newTAT, t)),
			ResetAfter: time.Duration(newTAT - now),
		}
		after.NextAfter = nextAfter(newTAT, after.Remaining)
		return newTAT, state, after, delay, true
	default:
		state.RetryAfter = time.Duration(wait)
		return tat, state, state, 0, false
	}
}

// GCRATag identifies the limit a stored tat was written under: the window
// (its limit, period and capacity) and maxDelay. Backends store it with the
// tat. A tat whose tag differs from the request's was written under another
// limit, before a configuration change, and is read through
// [Reconfigured]; one with the same tag is read as it is, even when the
// request's now is older than the writer's (out of order, or skewed), so
// that such a request never gives capacity back. Backends keep as many
// bits of it as they have room for: a collision only means that a changed
// limit reads an old tat as it is. It takes no division: it is on every
// decision's path.
func GCRATag(w backend.Window, maxDelay int64) uint64 {
	return mix(mix(uint64(w.Limit), uint64(w.Period)), uint64(Capacity(w, backend.TokenBucket))^uint64(maxDelay)*0x94d049bb133111eb)
}

// Reconfigured returns the tat to read in place of one written under
// another limit: the same, unless it runs further ahead of now than this
// window allows (Capacity*T+maxDelay), when the bucket is read as empty
// under the new limit. So no client waits longer than the new limit itself
// could make it: 6 of 10 per hour used leaves a 36-minute tat, which under
// 8 per minute means one token's wait, not 35 minutes. The caller stores
// the result, with the new tag, even when it denies the request.
func Reconfigured(tat, now int64, w backend.Window, maxDelay int64) int64 {
	if w.Limit <= 0 {
		return tat
	}
	t := ceilDiv(int64(w.Period), w.Limit)
	if most := now + Capacity(w, backend.TokenBucket)*t + maxDelay; most >= now && tat > most { // most < now: overflow
		return most
	}
	return tat
}

// mix combines two words into a well-spread 64-bit value.
func mix(a, b uint64) uint64 {
	h := a*0x9e3779b97f4a7c15 ^ b
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	return h
}
