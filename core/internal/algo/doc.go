// Package algo holds the rate-limiting algorithms as pure functions of
// (stored state, now, window, cost): no locks, no clocks, no maps. Backends
// keep the state; the in-memory backend calls these directly, and the Redis
// scripts implement the same arithmetic, which the conformance suite checks.
//
// Time is int64 Unix nanoseconds throughout. Arithmetic is integer-only and
// errs towards denial: where a period does not divide evenly by its limit,
// the token bucket's emission interval is rounded up by under a nanosecond.
package algo

import "github.com/sluicehq/sluice/core/backend"

// Never is the RetryAfter, in nanoseconds, reported for a cost that a window
// can never admit; the backend contract reports the window's Period then.
func never(w backend.Window) int64 { return int64(w.Period) }

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) == (b < 0) {
		q++
	}
	return q
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// unit returns the cost to evaluate and whether the call is a peek.
func unit(cost int64) (int64, bool) {
	if cost <= 0 {
		return 1, true
	}
	return cost, false
}

// Capacity returns the most units window w admits at once under algorithm
// a: its Burst for a token bucket with a burst, its Limit otherwise.
func Capacity(w backend.Window, a backend.Algorithm) int64 {
	if a == backend.TokenBucket && w.Burst > 0 {
		return w.Burst
	}
	return w.Limit
}
