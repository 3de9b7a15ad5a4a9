package memory

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// shard holds the state of the keys whose digest selects it, one table per
// algorithm so that each table's values are small and fixed in size. A key's
// window i is stored under the digest k.window(i).
type shard struct {
	tb gcraTable // theoretical arrival time; expires at itself (gcra.go)
	mu sync.Mutex
	fw table[algo.FixedState]
	sw table[slidingEntry]
	sl table[*logEntry]
	cc table[*leaseEntry]
	pn table[penaltyEntry] // penalty.go; keyed by the key's digest itself
	// rf holds the refund total of the token-bucket windows whose slot
	// has tagRefunded (settle.go); it lives and dies with their slots.
	rf        table[int64]
	max       int      // the most states the shard holds; 0 is unbounded
	evictions uint64   // states evicted to keep to max
	_         [64]byte // keep neighbouring shards' mutexes off one cache line
}

type slidingEntry struct {
	algo.SlidingState
	exp int64
}

type logEntry struct {
	algo.Log
	exp int64
}

type leaseEntry struct{ algo.Leases }

func (sh *shard) len() int { return sh.tb.n + sh.fw.n + sh.sw.n + sh.sl.n + sh.cc.n + sh.pn.n }

// admitNew makes room for one new entry if the shard is at its bound.
func (sh *shard) admitNew(b *Backend, now int64) {
	if sh.max > 0 {
		for sh.len() >= sh.max {
			if !sh.evict(now) {
				return // nothing evictable: exceed the bound rather than spin
			}
		}
	}
}

const evictSample = 8

// evict removes one entry: of a random sample of up to evictSample entries,
// the one whose state expires first (an expired one if the sample has any),
// because it holds the least information about its client. It reports
// whether it removed anything.
func (sh *shard) evict(now int64) bool {
	var (
		best    dkey
		bestExp int64 = 1<<63 - 1 // an entry expiring then still beats none
		bestTab       = -1
		left          = evictSample
		start         = rand.Uint64()
	)
	consider := func(tab int) func(k dkey, exp int64) bool {
		return func(k dkey, exp int64) bool {
			if exp < bestExp || bestTab < 0 {
				best, bestExp, bestTab = k, exp, tab
			}
			return bestExp > now
		}
	}
	visit := []func() int{
		func() int {
			return sh.tb.sample(start, left, consider(0))
		},
		func() int {
			f := consider(1)
			return sh.fw.sample(start, left, func(k dkey, v *algo.FixedState) bool { return f(k, v.End) })
		},
		func() int {
			f := consider(2)
			return sh.sw.sample(start, left, func(k dkey, v *slidingEntry) bool { return f(k, v.exp) })
		},
		func() int {
			f := consider(3)
			return sh.sl.sample(start, left, func(k dkey, v **logEntry) bool { return f(k, (*v).exp) })
		},
		func() int {
			f := consider(4)
			return sh.cc.sample(start, left, func(k dkey, v **leaseEntry) bool { return f(k, (*v).Expiry()) })
		},
		func() int {
			f := consider(5)
			return sh.pn.sample(start, left, func(k dkey, v *penaltyEntry) bool { return f(k, v.exp) })
		},
	}
	for _, v := range visit {
		if left <= 0 || bestExp <= now {
			break
		}
		left -= v()
	}
	if bestTab >= 0 {
		sh.evictions++
	}
	switch bestTab {
	case 0:
		sh.rf.del(best)
		return sh.tb.del(best)
	case 1:
		return sh.fw.del(best)
	case 2:
		return sh.sw.del(best)
	case 3:
		return sh.sl.del(best)
	case 4:
		return sh.cc.del(best)
	case 5:
		return sh.pn.del(best)
	}
	return false
}

// sweep drops the states that have fully reset at now; the tables shrink
// when they empty out.
func (sh *shard) sweep(now int64) {
	sh.tb.sweep(now, func(k dkey, tat int64) bool {
		p := sh.rf.get(k)
		return p != nil && algo.GCRAExpiry(tat, *p) > now
	})
	if sh.rf.n > 0 {
		sh.rf.sweep(func(k dkey, _ *int64) bool { return sh.tb.slots().find(k) == nil })
	}
	sh.fw.sweep(func(_ dkey, v *algo.FixedState) bool { return v.End <= now })
	sh.sw.sweep(func(_ dkey, v *slidingEntry) bool { return v.exp <= now })
	sh.sl.sweep(func(_ dkey, v **logEntry) bool {
		if (*v).exp <= now {
			return true
		}
		(*v).Shrink()
		return false
	})
	sh.cc.sweep(func(_ dkey, v **leaseEntry) bool { return (*v).Expiry() <= now })
	sh.pn.sweep(func(_ dkey, v *penaltyEntry) bool { return v.exp <= now })
}

// applyGCRA, applyFixed and applySliding share one shape (evaluate every
// window, then commit all or none) but are written out: a generic version
// taking the algorithm as function values measured about 30 ns slower per
// call, a third of the whole hot path, because the calls stop inlining.
func (sh *shard) applyGCRA(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res   backend.Result
		slots [backend.MaxWindows]*gcraSlot
		held  [backend.MaxWindows]int64 // what the claimed slots held
		tags  [backend.MaxWindows]uint64
		read  [backend.MaxWindows]int64 // the tat read: held, or reconfigured
		next  [backend.MaxWindows]int64
		after [backend.MaxWindows]backend.WindowResult
		retag [backend.MaxWindows]bool // written under another limit
		ok    = true
		t     = &sh.tb
	)
	// Room for every window's key first: an insert below must not rebuild
	// the table under the slots claimed here.
	t.reserve(len(req.Windows))
	g := t.slots()
	for i := range req.Windows {
		if s := g.find(k.window(i)); s != nil {
			slots[i], held[i] = s, claim(s)
		}
	}
	for i, w := range req.Windows {
		tags[i] = slotTag(w, req.MaxDelay)
		tat := held[i]
		var refunded int64
		switch {
		case slots[i] == nil || tat < tatLeast:
			tat = 0 // no slot, or a tombstone: no bucket
		default:
			if slots[i].tag()&tagRefunded != 0 {
				tags[i] |= tagRefunded // kept with the total
				if p := sh.rf.get(gcraID(k.window(i))); p != nil {
					refunded = *p
				}
			}
			if slots[i].tag() != tags[i] {
				tat, retag[i] = algo.Reconfigured(tat, now, w, int64(req.MaxDelay)), true
			}
		}
		read[i] = tat
		n, before, a, delay, admit := algo.GCRA(tat, now, w, req.Cost, int64(req.MaxDelay))
		before.Refunded, a.Refunded = refunded, refunded
		next[i], res.Windows[i], after[i] = n, before, a
		res.Delay = max(res.Delay, time.Duration(delay))
		ok = ok && admit
	}
	res.Allowed = ok
	if !ok {
		res.Delay = 0
	} else {
		res.Windows = after
	}
	for i := range req.Windows {
		s := slots[i]
		switch {
		case !ok || req.Cost == 0:
			if s == nil {
				continue // nothing was stored, nothing is
			}
			v := held[i] // unchanged
			if retag[i] && req.Cost > 0 {
				// Stored as read under the new limit, even for a denial:
				// else every request would reconfigure the old tat again
				// and the client would wait for the old limit after all.
				s.setTag(tags[i])
				v = read[i]
			}
			s.v.Store(v)
		case s != nil:
			if held[i] < tatLeast {
				// The key's tombstone comes back to life: a new state, as
				// far as the bound goes.
				if sh.max > 0 {
					sh.admitNew(b, now) // evicting only marks tombstones, and skips claimed slots
				}
				t.n++
			}
			s.setTag(tags[i])
			s.v.Store(next[i])
		default:
			if sh.max > 0 {
				sh.admitNew(b, now) // evicting only marks tombstones: no rebuild
			}
			t.insert(k.window(i), next[i], tags[i])
		}
	}
	return res
}

func putNew[V any](sh *shard, t *table[V], b *Backend, k dkey, now int64) *V {
	if sh.max > 0 && t.get(k) == nil {
		sh.admitNew(b, now)
	}
	return t.put(k)
}

func (sh *shard) applyFixed(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res   backend.Result
		next  [backend.MaxWindows]algo.FixedState
		after [backend.MaxWindows]backend.WindowResult
		ok    = true
	)
	for i, w := range req.Windows {
		var s algo.FixedState
		if p := sh.fw.get(k.window(i)); p != nil {
			s = *p
		}
		n, before, a, admit := algo.Fixed(s, now, w, req.Cost)
		next[i], res.Windows[i], after[i] = n, before, a
		ok = ok && admit
	}
	res.Allowed = ok
	if ok {
		res.Windows = after
	}
	if ok && req.Cost > 0 {
		for i := range req.Windows {
			*putNew(sh, &sh.fw, b, k.window(i), now) = next[i]
		}
	}
	return res
}

func (sh *shard) applySliding(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res   backend.Result
		next  [backend.MaxWindows]algo.SlidingState
		after [backend.MaxWindows]backend.WindowResult
		ok    = true
	)
	for i, w := range req.Windows {
		var s algo.SlidingState
		if p := sh.sw.get(k.window(i)); p != nil {
			s = p.SlidingState
		}
		n, before, a, admit := algo.Sliding(s, now, w, req.Cost)
		next[i], res.Windows[i], after[i] = n, before, a
		ok = ok && admit
	}
	res.Allowed = ok
	if ok {
		res.Windows = after
	}
	if ok && req.Cost > 0 {
		for i, w := range req.Windows {
			*putNew(sh, &sh.sw, b, k.window(i), now) = slidingEntry{next[i], next[i].Start + 2*int64(w.Period)}
		}
	}
	return res
}

func (sh *shard) applyLog(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res   backend.Result
		logs  [backend.MaxWindows]*logEntry // nil: no log yet
		at    [backend.MaxWindows]int64
		after [backend.MaxWindows]backend.WindowResult
		ok    = true
	)
	for i, w := range req.Windows {
		var (
			t      int64
			before backend.WindowResult
			a      backend.WindowResult
			admit  bool
		)
		if p := sh.sl.get(k.window(i)); p != nil {
			logs[i] = *p
			t, before, a, admit = logs[i].Eval(now, w, req.Cost)
		} else {
			// An empty log, evaluated only. A value of its own, never
			// addressed by what is stored, so it stays on the stack.
			var empty logEntry
			t, before, a, admit = empty.Eval(now, w, req.Cost)
		}
		at[i], res.Windows[i], after[i] = t, before, a
		ok = ok && admit
	}
	res.Allowed = ok
	if ok {
		res.Windows = after
	}
	if ok && req.Cost > 0 {
		for i, w := range req.Windows {
			l := logs[i]
			if l == nil {
				l = new(logEntry)
				*putNew(sh, &sh.sl, b, k.window(i), now) = l
			}
			l.Add(at[i], req.Cost)
			l.exp = l.Expiry(w)
		}
	}
	return res
}

func (sh *shard) applyLeases(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res backend.Result
		w   = req.Windows[0]
		wk  = k.window(0)
		ls  *leaseEntry // nil: no leases yet
		r   backend.WindowResult
		ok  bool
	)
	if p := sh.cc.get(wk); p != nil {
		ls = *p
		r, ok = ls.Eval(now, w, req.Cost)
	} else {
		var empty leaseEntry // evaluated only, so it stays on the stack
		r, ok = empty.Eval(now, w, req.Cost)
	}
	res.Windows[0], res.Allowed = r, ok
	switch {
	case ok && req.Cost > 0:
		if ls == nil {
			ls = new(leaseEntry)
			*putNew(sh, &sh.cc, b, wk, now) = ls
		}
		ls.Add(req.Lease, now+int64(w.Period), req.Cost)
	case ls != nil && ls.Len() == 0:
		sh.cc.del(wk)
	}
	return res
}
