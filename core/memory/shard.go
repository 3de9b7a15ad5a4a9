package memory

import (
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// shard holds the state of the keys whose digest selects it, one map per
// algorithm so that each map's values are small and fixed in size.
type shard struct {
	mu   sync.Mutex
	tb   map[dkey]int64 // theoretical arrival time; expires at itself
	fw   map[dkey]algo.FixedState
	sw   map[dkey]slidingEntry
	sl   map[dkey]*logEntry
	cc   map[dkey]*leaseEntry
	peak int // largest len() since the maps were last rebuilt
	_    [64]byte
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

func (sh *shard) init() {
	sh.tb = make(map[dkey]int64)
	sh.fw = make(map[dkey]algo.FixedState)
	sh.sw = make(map[dkey]slidingEntry)
	sh.sl = make(map[dkey]*logEntry)
	sh.cc = make(map[dkey]*leaseEntry)
}

func (sh *shard) len() int { return len(sh.tb) + len(sh.fw) + len(sh.sw) + len(sh.sl) + len(sh.cc) }

// admitNew makes room for one new entry if the shard is at its bound.
func (sh *shard) admitNew(b *Backend, now int64) {
	if b.maxPer > 0 {
		for sh.len() >= b.maxPer {
			sh.evict(now)
		}
	}
	if n := sh.len() + 1; n > sh.peak {
		sh.peak = n
	}
}

// evict removes one entry: of a random sample of up to evictSample entries,
// the one whose state expires first (an expired one if the sample has any),
// because it holds the least information about its client.
func (sh *shard) evict(now int64) {
	type cand struct {
		k   dkey
		exp int64
		m   int
	}
	best, seen := cand{exp: 1<<63 - 1, m: -1}, 0
	consider := func(k dkey, exp int64, m int) bool {
		if exp < best.exp {
			best = cand{k, exp, m}
		}
		seen++
		return seen < evictSample && best.exp > now
	}
	func() {
		for k, v := range sh.tb {
			if !consider(k, v, 0) {
				return
			}
		}
		for k, v := range sh.fw {
			if !consider(k, v.End, 1) {
				return
			}
		}
		for k, v := range sh.sw {
			if !consider(k, v.exp, 2) {
				return
			}
		}
		for k, v := range sh.sl {
			if !consider(k, v.exp, 3) {
				return
			}
		}
		for k, v := range sh.cc {
			if !consider(k, v.Expiry(), 4) {
				return
			}
		}
	}()
	switch best.m {
	case 0:
		delete(sh.tb, best.k)
	case 1:
		delete(sh.fw, best.k)
	case 2:
		delete(sh.sw, best.k)
	case 3:
		delete(sh.sl, best.k)
	case 4:
		delete(sh.cc, best.k)
	}
}

const evictSample = 8

// sweep drops the states that have fully reset at now, and rebuilds the maps
// when they hold less than a quarter of their peak, because Go maps never
// give memory back on delete.
func (sh *shard) sweep(now int64) {
	for k, v := range sh.tb {
		if v <= now {
			delete(sh.tb, k)
		}
	}
	for k, v := range sh.fw {
		if v.End <= now {
			delete(sh.fw, k)
		}
	}
	for k, v := range sh.sw {
		if v.exp <= now {
			delete(sh.sw, k)
		}
	}
	for k, v := range sh.sl {
		if v.exp <= now {
			delete(sh.sl, k)
		} else {
			v.Shrink()
		}
	}
	for k, v := range sh.cc {
		if v.Expiry() <= now {
			delete(sh.cc, k)
		}
	}
	if n := sh.len(); sh.peak >= rebuildMin && n < sh.peak/4 {
		sh.tb = rebuild(sh.tb)
		sh.fw = rebuild(sh.fw)
		sh.sw = rebuild(sh.sw)
		sh.sl = rebuild(sh.sl)
		sh.cc = rebuild(sh.cc)
		sh.peak = n
	}
}

const rebuildMin = 256

func rebuild[V any](m map[dkey]V) map[dkey]V {
	n := make(map[dkey]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

func (sh *shard) applyGCRA(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res  backend.Result
		next [backend.MaxWindows]int64
		ok   = true
	)
	for i, w := range req.Windows {
		tat := sh.tb[k.window(i)]
		n, r, delay, admit := algo.GCRA(tat, now, w, req.Cost, int64(req.MaxDelay))
		next[i], res.Windows[i] = n, r
		res.Delay = max(res.Delay, time.Duration(delay))
		ok = ok && admit
	}
	res.Allowed = ok
	if !ok {
		res.Delay = 0
		return res
	}
	if req.Cost > 0 {
		for i := range req.Windows {
			wk := k.window(i)
			if _, exists := sh.tb[wk]; !exists {
				sh.admitNew(b, now)
			}
			sh.tb[wk] = next[i]
		}
	}
	return res
}

func (sh *shard) applyFixed(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res  backend.Result
		next [backend.MaxWindows]algo.FixedState
		ok   = true
	)
	for i, w := range req.Windows {
		n, r, admit := algo.Fixed(sh.fw[k.window(i)], now, w, req.Cost)
		next[i], res.Windows[i] = n, r
		ok = ok && admit
	}
	res.Allowed = ok
	if ok && req.Cost > 0 {
		for i := range req.Windows {
			wk := k.window(i)
			if _, exists := sh.fw[wk]; !exists {
				sh.admitNew(b, now)
			}
			sh.fw[wk] = next[i]
		}
	}
	return res
}

func (sh *shard) applySliding(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res  backend.Result
		next [backend.MaxWindows]algo.SlidingState
		ok   = true
	)
	for i, w := range req.Windows {
		n, r, admit := algo.Sliding(sh.sw[k.window(i)].SlidingState, now, w, req.Cost)
		next[i], res.Windows[i] = n, r
		ok = ok && admit
	}
	res.Allowed = ok
	if ok && req.Cost > 0 {
		for i, w := range req.Windows {
			wk := k.window(i)
			if _, exists := sh.sw[wk]; !exists {
				sh.admitNew(b, now)
			}
			sh.sw[wk] = slidingEntry{next[i], next[i].Start + 2*int64(w.Period)}
		}
	}
	return res
}

func (sh *shard) applyLog(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var (
		res  backend.Result
		logs [backend.MaxWindows]*logEntry
		at   [backend.MaxWindows]int64
		ok   = true
	)
	var empty [backend.MaxWindows]logEntry // evaluated only; stored below if charged
	for i, w := range req.Windows {
		l := sh.sl[k.window(i)]
		if l == nil {
			l = &empty[i]
		}
		a, r, admit := l.Eval(now, w, req.Cost)
		logs[i], at[i], res.Windows[i] = l, a, r
		ok = ok && admit
	}
	res.Allowed = ok
	if ok && req.Cost > 0 {
		for i, w := range req.Windows {
			l := logs[i]
			if l == &empty[i] {
				sh.admitNew(b, now)
				l = new(logEntry)
				sh.sl[k.window(i)] = l
			}
			l.Add(at[i], req.Cost)
			l.exp = l.Expiry(w)
		}
	}
	return res
}

func (sh *shard) applyLeases(b *Backend, k dkey, now int64, req backend.Request) backend.Result {
	var res backend.Result
	w := req.Windows[0]
	ls := sh.cc[k]
	var empty leaseEntry
	if ls == nil {
		ls = &empty
	}
	r, ok := ls.Eval(now, w, req.Cost)
	res.Windows[0], res.Allowed = r, ok
	if ok && req.Cost > 0 {
		if ls == &empty {
			sh.admitNew(b, now)
			ls = new(leaseEntry)
			sh.cc[k] = ls
		}
		ls.Add(req.Lease, now+int64(w.Period), req.Cost)
	} else if ls != &empty && ls.Len() == 0 {
		delete(sh.cc, k)
	}
	return res
}
