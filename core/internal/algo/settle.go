package algo

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Settlement: correcting a charge to the cost it really had (see
// backend.Settlement). An extra charge is made now, whatever the limit. A
// refund goes back only where the charge still counts, and never below what
// other requests left.

// MaxDebt bounds how far an extra charge can push a token bucket's tat
// beyond now: 2^53 ns, about 104 days, the range the Redis scripts keep
// exact.
const MaxDebt = 1 << 53

// RefundMod is the modulus of a token bucket's refund total
// (backend.WindowResult.Refunded): 2^52 ns, about 52 days.
const RefundMod = 1 << 52

// GCRASettle corrects a charge of charged units that a token-bucket window
// admitted to cost units. tat and refunded are the stored state (0 and 0
// when there is none); end is the instant the charge's own units ended when
// it was made (its Apply's now plus its ResetAfter), and refundedAt the
// refund total Apply returned with it. It returns the state to store, which
// lives until GCRAExpiry.
//
// An extra charge moves the tat on by the extra units, from now if the
// bucket is full, up to MaxDebt beyond now. A refund moves it back by the
// refunded units, but only by what is left of the charge: units that later
// charges stacked on top of it keep their place. Earlier refunds may have
// moved the charge's units back since it was made, by at most the refund
// total since then, so the charge is taken to end that much earlier: a
// refund errs towards giving back too little, never too much.
func GCRASettle(tat, refunded, now int64, w backend.Window, charged, cost, end, refundedAt int64) (nextTAT, nextRefunded int64) {
	if w.Limit <= 0 || cost == charged {
		return tat, refunded
	}
	t := ceilDiv(int64(w.Period), w.Limit)
	if cost > charged {
		base, most := max(tat, now), now+MaxDebt
		if base >= most || cost-charged > (most-base)/t {
			return max(base, most), refunded
		}
		return base + (cost-charged)*t, refunded
	}
	if tat <= now {
		return tat, refunded // full: nothing of the charge is left
	}
	shift := ((refunded-refundedAt)%RefundMod + RefundMod) % RefundMod
	left := end - shift - now // what is left of the charge, at most
	if left <= 0 {
		return tat, refunded
	}
	units := min(charged-cost, Capacity(w, backend.TokenBucket))
	give := min(units*t, left, tat-now)
	return tat - give, (refunded + give) % RefundMod
}

// RefundMemory bounds how long a token bucket's state outlives its tat for
// its refund total (see GCRAExpiry).
const RefundMemory = int64(24 * time.Hour)

// GCRAExpiry returns the instant a token bucket's state can be forgotten:
// its tat, when no refund moved it, and otherwise the refund total later,
// up to RefundMemory. Settlements find how far refunds moved their charge
// from the difference of two refund totals, so the total must outlive
// every charge it moved: a charge made before the bucket was last full
// ended, by then, at most the refund total before its recorded end.
func GCRAExpiry(tat, refunded int64) int64 {
	if refunded == 0 {
		return tat
	}
	return tat + min(refunded, RefundMemory)
}

// FixedSettle corrects a charge of charged units that a fixed window
// admitted to cost units. s is the stored state and end the end of the
// window the charge went into (its Apply's now plus its ResetAfter). It
// returns the state to store. An extra charge counts in the window current
// at now; a refund lowers the count of the charge's window while it is
// still current, never below 0.
func FixedSettle(s FixedState, now int64, w backend.Window, charged, cost, end int64) FixedState {
	p := int64(w.Period)
	if cost > charged {
		cur := fixedCurrent(s, now, p)
		cur.Count = addSat(cur.Count, cost-charged)
		return cur
	}
	if s.Period == p && s.End > now && near(s.End, end, p) {
		s.Count = max(0, s.Count-(charged-cost))
	}
	return s
}

// SlidingSettle corrects a charge of charged units that a sliding window
// counter admitted to cost units. s is the stored state and reset the
// instant the charge's state would have reset (its Apply's now plus its
// ResetAfter: the charge's window start plus two periods). It returns the
// state to store. An extra charge counts in the window current at now; a
// refund lowers the count of the charge's window, current or previous,
// never below 0, and gives nothing back once it has left both.
func SlidingSettle(s SlidingState, now int64, w backend.Window, charged, cost, reset int64) SlidingState {
	p := int64(w.Period)
	if cost > charged {
		cur := slidingCurrent(s, now, p)
		cur.Curr = addSat(cur.Curr, cost-charged)
		return cur
	}
	start, refund := reset-2*p, charged-cost
	switch {
	case near(s.Start, start, p):
		s.Curr = max(0, s.Curr-refund)
	case near(s.Start, start+p, p):
		s.Prev = max(0, s.Prev-refund)
	}
	return s
}

// Settle corrects a charge of charged units that the log admitted to cost
// units: an extra charge is a new entry, at now or at the newest entry if
// that is later; a refund gives nothing back.
func (l *Log) Settle(now int64, w backend.Window, charged, cost int64) {
	if cost <= charged {
		return
	}
	at, _, _, _ := l.Eval(now, w, 0) // prunes, and orders the new entry
	l.Add(at, cost-charged)
}

// near reports whether the window boundaries a and b, of period p, are the
// same boundary: boundaries are whole periods apart, and a backend that
// keeps its own clock finds a charge's boundary from the caller's elapsed
// time, within a fraction of a period.
func near(a, b, p int64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= p/2
}

func addSat(a, b int64) int64 {
	if a > 1<<62-b {
		return 1 << 62
	}
	return a + b
}
