package memory

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// The token bucket, the default algorithm, keeps one number per window: the
// theoretical arrival time (TAT). Its table is built so that the common
// request, one window of a key that already exists, takes no lock at all: it
// finds the key's slot, computes the new TAT and compare-and-swaps it in. Two
// cores charging the same key then contend for that one slot's cache line
// instead of also passing the shard's mutex back and forth, and cores
// charging different keys of one shard do not meet at all.
//
// Everything else holds the shard's mutex: inserting a key, requests with
// several windows (all windows must be charged together), deleting,
// sweeping, evicting and rebuilding the table. The slot values carry the
// markers below so that the lock-free path never acts on a value that a
// holder of the mutex owns, deleted or moved; it sees a marker and takes the
// locked path instead.
const (
	// tatDead marks a deleted key: a tombstone. Its slot keeps the key's
	// digest and may come back to life for that key only, never for
	// another, so a lock-free reader that found the slot before the delete
	// can never charge a different key. Rebuilds drop tombstones.
	tatDead = math.MinInt64
	// tatBusy marks a value claimed by a holder of the mutex, for a request
	// that must read and write several windows as one.
	tatBusy = math.MinInt64 + 1
	// tatMoved marks a slot of a table that a rebuild has replaced.
	tatMoved = math.MinInt64 + 2
	// tatLeast is the least value that is a time: anything below is a
	// marker. Times are Unix nanoseconds, which cannot come near it.
	tatLeast = math.MinInt64 + 3
)

// gcraSlot is one key's TAT. Every field is accessed atomically: the
// lock-free path reads slots while the mutex's holder writes them. The top
// byte of b is not the digest's but the tag of the limit the TAT was
// written under (see slotTag); it is never zero, so a used slot never
// looks empty, and the digest keeps 120 bits.
type gcraSlot struct {
	a, b atomic.Uint64 // the digest and tag; both zero marks an empty slot
	v    atomic.Int64
}

const (
	tagShift = 56
	tagMask  = uint64(0xff) << tagShift
)

func (s *gcraSlot) empty() bool { return s.a.Load() == 0 && s.b.Load() == 0 }

func (s *gcraSlot) tag() uint64 { return s.b.Load() >> tagShift }

// setTag records that the TAT is now written under tag. The caller holds
// the mutex and has claimed the value, so no lock-free charge can land
// between the tag and the value it goes with.
func (s *gcraSlot) setTag(tag uint64) { s.b.Store(s.b.Load()&^tagMask | tag<<tagShift) }

// slotTag is the tag a slot keeps for a window: the top bits of
// algo.GCRATag, with the lowest set so that it is never zero, and the next
// clear: it is tagRefunded's.
func slotTag(w backend.Window, maxDelay time.Duration) uint64 {
	return (algo.GCRATag(w, int64(maxDelay))>>tagShift | 1) &^ tagRefunded
}

// tagRefunded, in a slot's tag, says that settlements have moved the
// window's TAT back and that the shard's refunds table holds their total
// (backend.WindowResult.Refunded). Such a slot's tag never equals a
// slotTag, so the lock-free path leaves the key to the locked one, which
// reads the total.
const tagRefunded = 2

// gcraSlots is one generation of the table. Its length is a power of two and
// never changes: a rebuild makes a new generation.
type gcraSlots struct{ s []gcraSlot }

// find returns k's slot, or nil. It needs no lock: a key being inserted at
// the same moment may be missed, which sends the caller to the locked path.
// A slot is published value first, then digest, so a slot found whole has
// its value.
func (g *gcraSlots) find(k dkey) *gcraSlot {
	if g == nil {
		return nil
	}
	mask := uint64(len(g.s) - 1)
	for i := k.b & mask; ; i = (i + 1) & mask {
		s := &g.s[i]
		a, b := s.a.Load(), s.b.Load()
		if a == k.a && (b^k.b)&^tagMask == 0 {
			return s
		}
		if a == 0 && b == 0 {
			return nil
		}
	}
}

// gcraTable is an open-addressing table from digests to TATs with linear
// probing and tombstones (backward-shift deletion would move live slots
// under a lock-free reader). Apart from cur and the slots' values, which
// the lock-free path uses, it is guarded by the shard's mutex.
type gcraTable struct {
	cur  atomic.Pointer[gcraSlots] // nil when the table is empty
	n    int                       // live keys
	used int                       // live keys and tombstones
}

// tryApply decides a one-window request for an existing key without the
// shard's mutex. ok is false when the locked path must decide instead: the
// key is absent, deleted, claimed or moved.
func (t *gcraTable) tryApply(k dkey, now int64, req *backend.Request) (res backend.Result, ok bool) {
	s := t.cur.Load().find(k)
	if s == nil || s.tag() != slotTag(req.Windows[0], req.MaxDelay) {
		return res, false // absent, or written under another limit
	}
	// A holder of the mutex that changes the tag after this check either
	// stores a new value with it, and the compare-and-swap below fails, or
	// keeps the value, which then reads the same under either tag.
	tat := s.v.Load()
	if tat < tatLeast {
		return res, false
	}
	next, before, after, delay, admit := algo.GCRA(tat, now, req.Windows[0], req.Cost, int64(req.MaxDelay))
	if !admit {
		res.Windows[0] = before
		return res, true
	}
	if req.Cost == 0 || s.v.CompareAndSwap(tat, next) {
		res.Allowed, res.Windows[0], res.Delay = true, after, time.Duration(delay)
		return res, true
	}
	// Another core charged the key first. Rather than race it again, which
	// under contention costs more than queueing, take the locked path.
	return backend.Result{}, false
}

// slots returns the current generation. The caller holds the mutex.
func (t *gcraTable) slots() *gcraSlots { return t.cur.Load() }

// claim takes s's value for the mutex's holder, which must put a value
// back with s.v.Store, and returns what it held: a TAT or tatDead. Only
// lock-free compare-and-swaps compete, and each of them either lands
// before the claim (and is in the value returned) or fails.
func claim(s *gcraSlot) int64 {
	return s.v.Swap(tatBusy)
}

// reserve makes room for extra new keys, so that inserting them cannot
// rebuild the table under slots the caller has claimed. It rebuilds, into
// a larger generation if the live keys need one, once live keys and
// tombstones would fill three quarters of the slots.
func (t *gcraTable) reserve(extra int) {
	size := 0
	if g := t.slots(); g != nil {
		size = len(g.s)
	}
	if (t.used+extra)*4 <= size*3 {
		return
	}
	size = max(minTableSize, size)
	for (t.n+extra)*2 > size {
		size *= 2
	}
	t.rebuild(size)
}

// insert adds k, which is absent, with the value v written under tag.
// reserve must have made room for it.
func (t *gcraTable) insert(k dkey, v int64, tag uint64) {
	g := t.slots()
	mask := uint64(len(g.s) - 1)
	for i := k.b & mask; ; i = (i + 1) & mask {
		if s := &g.s[i]; s.empty() {
			s.v.Store(v)
			s.a.Store(k.a)
			s.b.Store(k.b&^tagMask | tag<<tagShift)
			t.n++
			t.used++
			return
		}
	}
}

// del deletes k and reports whether it was live.
func (t *gcraTable) del(k dkey) bool {
	s := t.slots().find(k)
	if s == nil {
		return false
	}
	if s.v.Swap(tatDead) >= tatLeast {
		t.n--
		return true
	}
	return false
}

// rebuild moves the live keys to a new generation of size slots (zero
// slots drop the generation). Each old value is taken with a swap to
// tatMoved, so a lock-free charge either lands before the move and is
// carried over or fails and retries on the locked path.
func (t *gcraTable) rebuild(size int) {
	old := t.slots()
	var g *gcraSlots
	if size > 0 {
		g = &gcraSlots{s: make([]gcraSlot, size)}
	}
	n := 0
	if old != nil {
		mask := uint64(size - 1)
		for i := range old.s {
			s := &old.s[i]
			if s.empty() {
				continue
			}
			v := s.v.Swap(tatMoved)
			if v < tatLeast || g == nil {
				continue // a tombstone (a generation of no slots has no live key)
			}
			j := s.b.Load() & mask
			for !g.s[j].empty() {
				j = (j + 1) & mask
			}
			d := &g.s[j]
			d.v.Store(v)
			d.a.Store(s.a.Load())
			d.b.Store(s.b.Load())
			n++
		}
	}
	t.cur.Store(g)
	t.n, t.used = n, n
}

// sweep deletes the keys whose TAT is at or before now (a bucket that has
// refilled completely is the same as no bucket), but for those with
// tagRefunded that keep says to keep, then rebuilds the table without
// tombstones, at most 3/8 full.
func (t *gcraTable) sweep(now int64, keep func(k dkey, tat int64) bool) {
	g := t.slots()
	if g == nil {
		return
	}
	for i := range g.s {
		s := &g.s[i]
		if s.empty() {
			continue
		}
		if s.tag()&tagRefunded != 0 && keep(dkey{s.a.Load(), s.b.Load() &^ tagMask}, s.v.Load()) {
			continue
		}
		for {
			v := s.v.Load()
			if v < tatLeast || v > now {
				break
			}
			if s.v.CompareAndSwap(v, tatDead) {
				t.n--
				break
			}
		}
	}
	size := 0
	if t.n > 0 {
		size = minTableSize
		for size*3 < t.n*8 {
			size *= 2
		}
	}
	if t.used != t.n || size < len(g.s) {
		t.rebuild(size)
	}
}

// sample calls f with the digest and TAT of up to n live keys, starting at
// a slot chosen by start, until f returns false, and returns how many it
// visited.
func (t *gcraTable) sample(start uint64, n int, f func(k dkey, tat int64) bool) int {
	g := t.slots()
	if g == nil || t.n == 0 {
		return 0
	}
	mask := uint64(len(g.s) - 1)
	seen := 0
	for i, j := start&mask, 0; j < len(g.s) && seen < n; i, j = (i+1)&mask, j+1 {
		s := &g.s[i]
		if s.empty() {
			continue
		}
		v := s.v.Load()
		if v < tatLeast {
			continue
		}
		seen++
		if !f(dkey{s.a.Load(), s.b.Load() &^ tagMask}, v) { // find ignores those bits
			break
		}
	}
	return seen
}
