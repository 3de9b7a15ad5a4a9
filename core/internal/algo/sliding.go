package algo

import (
	"math/bits"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// SlidingState is the stored state of a sliding window counter: the start of
// the current fixed window and the counts of the current and previous ones.
// The state can be forgotten at Start + 2*Period.
type SlidingState struct {
	Start int64
	Curr  int64
	Prev  int64
}

// Sliding evaluates a sliding window counter. The usage at now is
// Prev*(Period-elapsed)/Period + Curr, where elapsed is the time since the
// current window's Start: the previous window counts in proportion to how
// much of it still overlaps the sliding window ending at now. A request of
// cost c is admitted when usage + c <= Limit, compared exactly in 128-bit
// integers. It returns the state to store if the request is admitted and
// charged, and the window's result before and after the charge.
func Sliding(s SlidingState, now int64, w backend.Window, cost int64) (next SlidingState, before, after backend.WindowResult, ok bool) {
	c, peek := unit(cost)
	p := int64(w.Period)
	callerNow := now
	cur := slidingCurrent(s, now, p)
	start := cur.Start
	now = max(now, start)    // a caller with a faster clock moved the window on
	rem := p - (now - start) // weight of the previous window, in (0, p]

	// admits reports whether prev*rem + (curr+c)*p <= limit*p.
	admits := func(curr, c int64) bool {
		return le128(add128(mul(cur.Prev, rem), mul(curr+c, p)), mul(w.Limit, p))
	}
	remaining := func(curr int64) int64 {
		return max(0, w.Limit-curr-ceilDiv128(mul(cur.Prev, rem), p))
	}
	resetAfter := func(curr int64) time.Duration {
		switch {
		case curr > 0:
			return time.Duration(start + 2*p - now)
		case cur.Prev > 0:
			return time.Duration(start + p - now)
		}
		return 0
	}

	// Durations are measured from the caller's clock, even when the window
	// was evaluated at a later time.
	lag := time.Duration(now - callerNow)
	// nextAfter is the wait for one unit more than remaining: the wait
	// for a cost of remaining+1, which admits exactly when remaining has
	// grown by one.
	nextAfter := func(c SlidingState, remaining int64) time.Duration {
		switch {
		case w.Limit <= 0:
			return time.Duration(never(w))
		case remaining >= w.Limit:
			return 0
		}
		return time.Duration(slidingWait(c, now, start, p, w.Limit, remaining+1)) + lag
	}
	state := backend.WindowResult{Remaining: remaining(cur.Curr), ResetAfter: resetAfter(cur.Curr) + lag}
	state.NextAfter = nextAfter(cur, state.Remaining)
	if c > w.Limit {
		state.RetryAfter = time.Duration(never(w))
		return cur, state, state, false
	}
	if !admits(cur.Curr, c) {
		state.RetryAfter = time.Duration(slidingWait(cur, now, start, p, w.Limit, c)) + lag
		return cur, state, state, false
	}
	if peek {
		return cur, state, state, true
	}
	cur.Curr += c
	after = backend.WindowResult{Remaining: remaining(cur.Curr), ResetAfter: resetAfter(cur.Curr) + lag}
	after.NextAfter = nextAfter(cur, after.Remaining)
	return cur, state, after, true
}

// slidingCurrent returns the state of the fixed window a request at now
// counts in, of period p, given the stored state s: s itself while its
// window is current (or later: a caller with a faster clock moved the
// window on), s's count as the previous one in the next window, and
// nothing after that.
func slidingCurrent(s SlidingState, now, p int64) SlidingState {
	start := floorDiv(now, p) * p
	switch {
	case s.Start >= start:
		return s
	case s.Start == start-p:
		return SlidingState{Start: start, Prev: s.Curr}
	}
	return SlidingState{Start: start}
}

// slidingWait returns the time from now until a cost c (<= limit) fits.
func slidingWait(cur SlidingState, now, start, p, limit, c int64) int64 {
	// The earliest elapsed time e in a window with previous count prev and
	// current count curr at which prev*(p-e) <= (limit-curr-c)*p.
	earliest := func(prev, curr int64) int64 {
		if prev == 0 {
			return 0
		}
		q, big := div128(mul(limit-curr-c, p), prev)
		if big || q >= p {
			return 0
		}
		return p - q
	}
	if cur.Curr+c <= limit {
		if e := earliest(cur.Prev, cur.Curr); start+e > now {
			return start + e - now
		}
	}
	// Within this window the previous count never decays enough: wait for
	// the next window, where this window's count becomes the previous one.
	return start + p + earliest(cur.Curr, 0) - now
}

// u128 is an unsigned 128-bit integer; all operands here are non-negative.
type u128 struct{ hi, lo uint64 }

func mul(a, b int64) u128 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	return u128{hi, lo}
}

func add128(a, b u128) u128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return u128{hi, lo}
}

func le128(a, b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo <= b.lo }

// div128 returns a/d, and big when the quotient does not fit in 63 bits.
func div128(a u128, d int64) (q int64, big bool) {
	if a.hi >= uint64(d) {
		return 0, true
	}
	uq, _ := bits.Div64(a.hi, a.lo, uint64(d))
	if uq > 1<<63-1 {
		return 0, true
	}
	return int64(uq), false
}

// ceilDiv128 returns ceil(a/d), saturating at 1<<62.
func ceilDiv128(a u128, d int64) int64 {
	if a.hi >= uint64(d) {
		return 1 << 62
	}
	q, r := bits.Div64(a.hi, a.lo, uint64(d))
	if r != 0 {
		q++
	}
	if q > 1<<62 {
		return 1 << 62
	}
	return int64(q)
}
