package memory

import (
	"math"
	"math/bits"
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

// gcraSlot is one key's TAT, in 16 bytes, so that a slot never straddles
// two cache lines and a live key costs 21 to 32 bytes of table after the
// last rebuild or sweep (see reserve). Every field is accessed atomically: the lock-free
// path reads slots while the mutex's holder writes them. d holds the low
// 56 bits of the digest's second word, which is also where the key's probe
// run starts; its top byte is not the digest's but the tag of the limit
// the TAT was written under (see slotTag), never zero, so a used slot never
// looks empty. With the shard, chosen by 8 bits of the digest's first
// word, that identifies a key by 64 random bits: at a million live keys,
// the chance that any two share a bucket is about 3 in 100 million, and
// the seed is random per Backend, so clients cannot make it happen.
type gcraSlot struct {
	d atomic.Uint64 // the digest bits and tag; zero marks an empty slot
	v atomic.Int64
}

// gcraID is the key by which the token-bucket table and its side table of
// refund totals know k: only the bits a slot keeps (a digest rebuilt from
// a slot is this), with a first word that is never zero.
func gcraID(k dkey) dkey { return dkey{1, k.b &^ tagMask} }

const (
	tagShift = 56
	tagMask  = uint64(0xff) << tagShift
)

func (s *gcraSlot) empty() bool { return s.d.Load() == 0 }

func (s *gcraSlot) tag() uint64 { return s.d.Load() >> tagShift }

// setTag records that the TAT is now written under tag. The caller holds
// the mutex and has claimed the value, so no lock-free charge can land
// between the tag and the value it goes with.
func (s *gcraSlot) setTag(tag uint64) { s.d.Store(s.d.Load()&^tagMask | tag<<tagShift) }

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

// gcraSlots is one generation of the table. Its length, any number of at
// least minTableSize, never changes: a rebuild makes a new generation.
type gcraSlots struct{ s []gcraSlot }

// home returns where the probe run of a key whose slot word is (or whose
// digest's second word is) d starts: d's digest bits scaled to the
// table's length, so that a rebuild can size the table to its keys rather
// than to a power of two.
func (g *gcraSlots) home(d uint64) int {
	hi, _ := bits.Mul64(d<<8, uint64(len(g.s))) // <<8: the tag's bits are not the digest's
	return int(hi)
}

// next returns the slot after i, wrapping around.
func (g *gcraSlots) next(i int) int {
	if i++; i == len(g.s) {
		return 0
	}
	return i
}

// find returns k's slot, or nil. It needs no lock: a key being inserted at
// the same moment may be missed, which sends the caller to the locked path.
// A slot is published value first, then digest, so a slot found whole has
// its value.
func (g *gcraSlots) find(k dkey) *gcraSlot {
	if g == nil {
		return nil
	}
	for i := g.home(k.b); ; i = g.next(i) {
		s := &g.s[i]
		d := s.d.Load()
		if d == 0 {
			return nil
		}
		if (d^k.b)&^tagMask == 0 {
			return s
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
// rebuild the table under slots the caller has claimed. Once live keys
// and tombstones would fill three quarters of the slots, it rebuilds the
// table half full of live keys (growing or shrinking it): so a live key
// costs 21 to 32 bytes of table between sweeps that delete nothing, and
// inserts between two rebuilds are at least a quarter of the table.
func (t *gcraTable) reserve(extra int) {
	size := 0
	if g := t.slots(); g != nil {
		size = len(g.s)
	}
	if (t.used+extra)*4 <= size*3 {
		return
	}
	t.rebuild(halfFull(t.n + extra))
}

// halfFull is the size of a table that n live keys fill halfway.
func halfFull(n int) int { return max(minTableSize, 2*n) }

// insert adds k, which is absent, with the value v written under tag.
// reserve must have made room for it.
func (t *gcraTable) insert(k dkey, v int64, tag uint64) {
	g := t.slots()
	for i := g.home(k.b); ; i = g.next(i) {
		if s := &g.s[i]; s.empty() {
			s.v.Store(v)
			s.d.Store(k.b&^tagMask | tag<<tagShift)
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
		for i := range old.s {
			s := &old.s[i]
			if s.empty() {
				continue
			}
			v := s.v.Swap(tatMoved)
			if v < tatLeast || g == nil {
				continue // a tombstone (a generation of no slots has no live key)
			}
			d := s.d.Load()
			j := g.home(d)
			for !g.s[j].empty() {
				j = g.next(j)
			}
			g.s[j].v.Store(v)
			g.s[j].d.Store(d)
			n++
		}
	}
	t.cur.Store(g)
	t.n, t.used = n, n
}

// sweep deletes the keys whose TAT is at or before now (a bucket that has
// refilled completely is the same as no bucket), but for those with
// tagRefunded that keep says to keep, then rebuilds the table without
// tombstones, half full, unless it deleted nothing and is at least 3/8
// full.
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
		if s.tag()&tagRefunded != 0 && keep(gcraID(dkey{b: s.d.Load()}), s.v.Load()) {
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
	switch {
	case t.n == 0:
		t.rebuild(0)
	case t.used != t.n || t.n*8 < len(g.s)*3:
		t.rebuild(halfFull(t.n))
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
	seen := 0
	for i, j := int(start%uint64(len(g.s))), 0; j < len(g.s) && seen < n; i, j = g.next(i), j+1 {
		s := &g.s[i]
		if s.empty() {
			continue
		}
		v := s.v.Load()
		if v < tatLeast {
			continue
		}
		seen++
		if !f(gcraID(dkey{b: s.d.Load()}), v) {
			break
		}
	}
	return seen
}
