package algo

import (
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// ConcurrencyRetryAfter caps the RetryAfter of a denied concurrency request.
// A slot usually frees when a request finishes, long before its lease
// expires, so a client is told to retry after at most this long.
const ConcurrencyRetryAfter = time.Second

// Leases is the state of a concurrency window: the slots held, each with its
// lease expiry. The zero value holds no slot.
type Leases struct {
	items []lease
	sum   int64
}

type lease struct {
	id        uint64
	exp, cost int64
}

// Len returns the number of leases held.
func (l *Leases) Len() int { return len(l.items) }

// Expiry returns the time at which the last lease expires, or 0 when none is
// held.
func (l *Leases) Expiry() int64 {
	var exp int64
	for _, it := range l.items {
		exp = max(exp, it.exp)
	}
	return exp
}

// Eval drops expired leases and evaluates acquiring cost units at now,
// without acquiring them. The result is the state after the acquisition if
// ok, and the unchanged state otherwise.
func (l *Leases) Eval(now int64, w backend.Window, cost int64) (r backend.WindowResult, ok bool) {
	c, peek := unit(cost)
	kept := l.items[:0]
	l.sum = 0
	for _, it := range l.items {
		if it.exp > now {
			kept = append(kept, it)
			l.sum += it.cost
		}
	}
	clear(l.items[len(kept):])
	l.items = kept
	r = backend.WindowResult{Remaining: max(0, w.Limit-l.sum)}
	if exp := l.Expiry(); exp > 0 {
		r.ResetAfter = time.Duration(exp - now)
	}
	// A slot usually comes back when a request ends, which nobody can
	// predict, or at the latest when its lease expires: both waits are
	// capped at ConcurrencyRetryAfter.
	first := time.Duration(1<<63 - 1)
	for _, it := range l.items {
		first = min(first, time.Duration(it.exp-now))
	}
	if len(l.items) > 0 {
		r.NextAfter = min(ConcurrencyRetryAfter, first)
	}
	if w.Limit <= 0 {
		r.NextAfter = time.Duration(never(w))
	}
	switch {
	case c > w.Limit:
		r.RetryAfter = time.Duration(never(w))
		return r, false
	case l.sum+c > w.Limit:
		r.RetryAfter = min(ConcurrencyRetryAfter, first)
		return r, false
	case peek:
		return r, true
	}
	r.Remaining -= c
	r.ResetAfter = max(r.ResetAfter, w.Period)
	r.NextAfter = min(ConcurrencyRetryAfter, first, w.Period)
	return r, true
}

// Add records a lease of cost units that expires at exp.
func (l *Leases) Add(id uint64, exp, cost int64) {
	l.items = append(l.items, lease{id: id, exp: exp, cost: cost})
	l.sum += cost
}

// Remove frees the lease id and reports whether it was held.
func (l *Leases) Remove(id uint64) bool {
	for i, it := range l.items {
		if it.id == id {
			l.sum -= it.cost
			last := len(l.items) - 1
			l.items[i] = l.items[last]
			l.items[last] = lease{}
			l.items = l.items[:last]
			return true
		}
	}
	return false
}
