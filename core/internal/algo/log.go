package algo

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Log is the state of one sliding-log window: the admitted requests still
// inside the window, oldest first, in a ring buffer, and their total cost.
// An entry at time t counts during [t, t+Period). The zero value is an empty
// log. A Log can be forgotten once Expiry has passed.
type Log struct {
	ring []logEntry
	head int
	n    int
	sum  int64
}

type logEntry struct{ at, cost int64 }

func (l *Log) at(i int) *logEntry { return &l.ring[(l.head+i)%len(l.ring)] }

// Len returns the number of entries in the log.
func (l *Log) Len() int { return l.n }

// Expiry returns the time at which the newest entry leaves the window, or 0
// for an empty log.
func (l *Log) Expiry(w backend.Window) int64 {
	if l.n == 0 {
		return 0
	}
	return l.at(l.n-1).at + int64(w.Period)
}

// Eval prunes the entries that have left the window at now and evaluates a
// request of the given cost without charging it. It returns the time the
// request is evaluated at (never earlier than the newest entry, so the log
// stays ordered when callers' clocks disagree); pass it to Add. before is
// the window's result without the charge, after with it.
func (l *Log) Eval(now int64, w backend.Window, cost int64) (at int64, before, after backend.WindowResult, ok bool) {
	c, peek := unit(cost)
	callerNow := now
	if l.n > 0 {
		now = max(now, l.at(l.n-1).at)
	}
	// Durations are measured from the caller's clock, even when the log
	// is evaluated at its newest entry's later time.
	lag := time.Duration(now - callerNow)
	p := int64(w.Period)
	for l.n > 0 && l.at(0).at+p <= now {
		l.sum -= l.at(0).cost
		l.head = (l.head + 1) % len(l.ring)
		l.n--
	}
	if l.n == 0 {
		l.head = 0
	}
	// wait returns the time until the entries holding need units have
	// left the window, with sum the log's total plus extra units charged
	// at now.
	wait := func(need, extra int64) time.Duration {
		acc := int64(0)
		for i := range l.n {
			e := l.at(i)
			if acc += e.cost; acc >= need {
				return time.Duration(e.at+p-now) + lag
			}
		}
		if extra > 0 && acc+extra >= need {
			return time.Duration(p) + lag // the new entry at now
		}
		return time.Duration(never(w))
	}
	// nextAfter is the wait for one unit more than remaining, with extra
	// units charged at now: for the entries holding
	// sum-limit+remaining+1 units to leave.
	nextAfter := func(remaining, extra int64) time.Duration {
		switch {
		case w.Limit <= 0:
			return time.Duration(never(w))
		case remaining >= w.Limit:
			return 0
		}
		return wait(l.sum+extra-w.Limit+remaining+1, extra)
	}
	r := backend.WindowResult{Remaining: max(0, w.Limit-l.sum)}
	if l.n > 0 {
		r.ResetAfter = time.Duration(l.at(l.n-1).at+p-now) + lag
	}
	r.NextAfter = nextAfter(r.Remaining, 0)
	switch {
	case c > w.Limit:
		r.RetryAfter = time.Duration(never(w))
		return now, r, r, false
	case l.sum+c > w.Limit:
		r.RetryAfter = wait(l.sum+c-w.Limit, 0)
		return now, r, r, false
	case peek:
		return now, r, r, true
	}
	after = backend.WindowResult{Remaining: r.Remaining - c, ResetAfter: time.Duration(p) + lag}
	after.NextAfter = nextAfter(after.Remaining, c)
	return now, r, after, true
}

// Add records an admitted request of the given cost at at, the time Eval
// returned.
func (l *Log) Add(at, cost int64) {
	if l.n > 0 {
		if last := l.at(l.n - 1); last.at == at {
			last.cost += cost
			l.sum += cost
			return
		}
	}
	if l.n == len(l.ring) {
		grown := make([]logEntry, max(4, 2*len(l.ring)))
		for i := range l.n {
			grown[i] = *l.at(i)
		}
		l.ring, l.head = grown, 0
	}
	*l.at(l.n) = logEntry{at, cost}
	l.n++
	l.sum += cost
}

// Shrink releases ring capacity that is more than four times what the log
// holds, so a key whose burst has passed stops costing its peak memory.
func (l *Log) Shrink() {
	if len(l.ring) <= 8 || l.n*4 > len(l.ring) {
		return
	}
	small := make([]logEntry, max(4, 2*l.n))
	for i := range l.n {
		small[i] = *l.at(i)
	}
	l.ring, l.head = small, 0
}
