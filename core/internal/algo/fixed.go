package algo

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// FixedState is the stored state of a fixed window: the end of the window
// that Count belongs to. The state can be forgotten at End.
type FixedState struct {
	End   int64
	Count int64
	// Period is the length of the window Count belongs to, so that a
	// state written under another limit is recognised (0 in the zero
	// state: no window yet).
	Period int64
}

// Fixed evaluates a fixed window aligned to multiples of Period since the
// Unix epoch. It returns the state to store if the request is admitted and
// charged, and the window's result before and after the charge. Windows
// never move backwards: a state from a later window (written by a caller
// whose clock runs ahead) is used as the current one. A state written
// under another period (before a reload changed the limit) keeps its
// count while its window is open, in the current window of the new period.
func Fixed(s FixedState, now int64, w backend.Window, cost int64) (next FixedState, before, after backend.WindowResult, ok bool) {
	c, peek := unit(cost)
	cur := fixedCurrent(s, now, int64(w.Period))
	end, count := cur.End, cur.Count
	state := backend.WindowResult{Remaining: max(0, w.Limit-count)}
	if count > 0 {
		state.ResetAfter = time.Duration(end - now)
		state.NextAfter = state.ResetAfter // units come back when the window ends
	}
	if w.Limit <= 0 {
		state.NextAfter = time.Duration(never(w))
	}
	switch {
	case c > w.Limit:
		state.RetryAfter = time.Duration(never(w))
		return cur, state, state, false
	case count+c > w.Limit:
		state.RetryAfter = time.Duration(end - now)
		return cur, state, state, false
	case peek:
		return cur, state, state, true
	}
	cur.Count += c
	return cur, state, backend.WindowResult{
		Remaining:  w.Limit - cur.Count,
		ResetAfter: time.Duration(end - now),
		NextAfter:  time.Duration(end - now),
	}, true
}

// fixedCurrent returns the window a request at now counts in, of period p,
// given the stored state s.
func fixedCurrent(s FixedState, now, p int64) FixedState {
	end := floorDiv(now, p)*p + p
	count := int64(0)
	switch {
	case s.Period != 0 && s.Period != p:
		// The limit changed (a reload): the count of a window still open
		// is kept, but in the current window of the new period, which
		// ends when the new limit says.
		if s.End > now {
			count = s.Count
		}
	case s.End >= end:
		end, count = s.End, s.Count
	}
	return FixedState{End: end, Count: count, Period: p}
}
