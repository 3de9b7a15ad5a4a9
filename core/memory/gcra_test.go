package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/core/backend"
)

// TestGCRATableModel drives the token bucket's table with random operations
// on colliding keys, as the shard's mutex holder does, and compares it with
// a Go map after every step: lookups, the live count, the load bound, and
// what sample visits.
func TestGCRATableModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0x6c7a))
			keys := gcraKeys(collidingKeys(r, 200))
			var (
				tb              gcraTable
				model                 = map[dkey]int64{}
				next            int64 = 1000
				rebuilt, revive int
				lastDel         = keys[0]
			)
			for step := range 4000 {
				filling := step/500%2 == 0
				pSet, pDel := 20, 75
				if filling {
					pSet, pDel = 70, 78
				}
				k := keys[r.IntN(len(keys))]
				if r.IntN(4) == 0 {
					k = lastDel // a deleted key's tombstone comes back to life
				}
				var desc string
				switch op := r.IntN(100); {
				case op < pSet:
					next++
					desc = fmt.Sprintf("set(%v) = %d", k, next)
					before := tb.slots()
					tb.reserve(1)
					if tb.slots() != before {
						rebuilt++
					}
					if s := tb.slots().find(k); s != nil {
						if claim(s) == tatDead {
							tb.n++
							revive++
						}
						s.v.Store(next)
					} else {
						tb.insert(k, next, 1)
					}
					model[k] = next
				case op < pDel:
					_, had := model[k]
					desc = fmt.Sprintf("del(%v)", k)
					if got := tb.del(k); got != had {
						t.Fatalf("step %d: %s = %v, want %v", step, desc, got, had)
					}
					delete(model, k)
					lastDel = k
				default:
					// Values are increasing: sweeping at a random point
					// between the least and the latest deletes a prefix.
					at := next - int64(r.IntN(200))
					desc = fmt.Sprintf("sweep(%d)", at)
					tb.sweep(at, func(dkey, int64) bool { return false })
					for mk, v := range model {
						if v <= at {
							delete(model, mk)
						}
					}
					if tb.used != tb.n {
						t.Fatalf("step %d: %s left %d tombstones", step, desc, tb.used-tb.n)
					}
				}
				if tb.n != len(model) {
					t.Fatalf("step %d: after %s, n = %d, want %d", step, desc, tb.n, len(model))
				}
				if g := tb.slots(); g != nil && tb.used*4 > len(g.s)*3 {
					t.Fatalf("step %d: after %s, %d used of %d slots", step, desc, tb.used, len(g.s))
				}
				for _, k := range keys {
					want, live := model[k]
					s := tb.slots().find(k)
					var got int64
					if s != nil {
						got = s.v.Load()
					}
					if live && got != want || !live && s != nil && got != tatDead {
						t.Fatalf("step %d: after %s, %v holds %d (found %v), want %d (live %v)", step, desc, k, got, s != nil, want, live)
					}
				}
				seen := map[dkey]int64{}
				tb.sample(r.Uint64(), len(keys), func(k dkey, v int64) bool { seen[k] = v; return true })
				if len(seen) != len(model) {
					t.Fatalf("step %d: after %s, sample saw %d keys, want %d", step, desc, len(seen), len(model))
				}
				for k, want := range model {
					if v, ok := seen[gcraID(k)]; !ok || v != want {
						t.Fatalf("step %d: sample saw %v = %d (%v), want %d", step, k, v, ok, want)
					}
				}
			}
			if rebuilt < 5 || revive == 0 {
				t.Fatalf("the run rebuilt the table %d times and revived %d tombstones: it exercised too little", rebuilt, revive)
			}
		})
	}
}

// TestGCRAExactUnderRebuilds races lock-free charges of hot keys against
// everything that holds the shard's mutex and touches the same table: new
// keys that grow it, sweeps that delete and rebuild it, resets, and
// two-window requests that claim the hot keys' slots. The limit is never
// reached, so every charge is admitted, and each hot key's Remaining must
// then be its limit less exactly the charges admitted: a charge lost to a
// rebuild would leave it higher, one counted twice lower. One shard puts
// every key in one table.
func TestGCRAExactUnderRebuilds(t *testing.T) {
	const (
		hot         = 16
		limit       = 1 << 30
		workers     = 8
		attempts    = 2000
		minRebuilds = 30
	)
	b := newTestBackend(t, WithShards(1))
	ctx := context.Background()
	w := backend.Window{Limit: limit, Period: time.Hour}
	wide := backend.Window{Limit: limit, Period: 2 * time.Hour}
	var (
		admitted [hot]int64
		rebuilds atomic.Int64
		mu       sync.Mutex
		wg, bg   sync.WaitGroup
		stop     = make(chan struct{})
		deadline = time.Now().Add(20 * time.Second)
	)
	background := func(f func(i int)) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
					f(i)
				}
			}
		}()
	}
	// Churn keys are charged an hour in the past, so a sweep at epoch
	// deletes them (the hot keys' buckets reach past epoch and stay).
	background(func(i int) {
		r := req(fmt.Sprintf("churn-%d", i), backend.TokenBucket, 1, -time.Hour, perSecond(10))
		if _, err := b.Apply(ctx, r); err != nil {
			t.Error(err)
		}
	})
	background(func(int) {
		sh := &b.shards[0]
		sh.mu.Lock()
		before := sh.tb.slots()
		sh.mu.Unlock()
		b.sweep(epoch.UnixNano())
		sh.mu.Lock()
		if sh.tb.slots() != before {
			rebuilds.Add(1)
		}
		sh.mu.Unlock()
	})
	background(func(i int) {
		k := fmt.Sprintf("reset-%d", i%4)
		if _, err := b.Apply(ctx, req(k, backend.TokenBucket, 1, 0, w)); err != nil {
			t.Error(err)
		}
		if err := b.Reset(ctx, "ns", k); err != nil {
			t.Error(err)
		}
	})
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			var mine [hot]int64
			for i := 0; i < attempts || rebuilds.Load() < minRebuilds && time.Now().Before(deadline); i++ {
				h := r.IntN(hot)
				rq := req(fmt.Sprintf("hot-%d", h), backend.TokenBucket, 1, 0, w)
				if g%4 == 0 {
					rq.Windows = []backend.Window{w, wide} // the locked path, claiming slots
				}
				res, err := b.Apply(ctx, rq)
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Allowed {
					t.Errorf("hot-%d denied below its limit", h)
					return
				}
				mine[h]++
			}
			mu.Lock()
			for h := range mine {
				admitted[h] += mine[h]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if n := rebuilds.Load(); n < minRebuilds {
		t.Fatalf("the table was rebuilt %d times during the race, want at least %d", n, minRebuilds)
	}
	for h := range hot {
		rem := peekRemaining(t, b, fmt.Sprintf("hot-%d", h), backend.TokenBucket, 0, w)
		if want := limit - admitted[h]; rem != want {
			t.Errorf("hot-%d: Remaining = %d after %d admitted charges, want %d", h, rem, admitted[h], want)
		}
	}
}

// gcraKeys drops the keys the token-bucket table cannot tell from an
// earlier one: it keeps only the bits gcraID keeps (the shard, which the
// first word chooses, is one table's caller's business).
func gcraKeys(keys []dkey) []dkey {
	seen := map[dkey]bool{}
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[gcraID(k)] {
			seen[gcraID(k)] = true
			out = append(out, k)
		}
	}
	return out
}

// TestGCRATableBytesPerKey checks the token bucket's memory bound at every
// population, not only where a benchmark happens to land: a live key costs
// at most 32 bytes of table (16-byte slots, rebuilt half full), whatever
// the number of keys, including after a sweep has shrunk the table.
func TestGCRATableBytesPerKey(t *testing.T) {
	b := newTestBackend(t, WithShards(1), WithMaxKeys(-1))
	w := backend.Window{Limit: 10, Period: time.Hour}
	tableBytes := func() int {
		return len(b.shards[0].tb.slots().s) * int(unsafe.Sizeof(gcraSlot{}))
	}
	worst, at := 0.0, 0
	for i := range 200_000 {
		apply(t, b, req(fmt.Sprint("client-", i), backend.TokenBucket, 1, 0, w))
		if n := i + 1; n >= 1000 {
			if per := float64(tableBytes()) / float64(n); per > worst {
				worst, at = per, n
			}
		}
	}
	if worst > 32 {
		t.Errorf("token-bucket table: %.1f bytes per live key at %d keys, want at most 32", worst, at)
	}
	// Let all but the last 10,000 keys reset, and sweep: the table shrinks
	// back within the bound.
	for i := range 10_000 {
		apply(t, b, req(fmt.Sprint("late-", i), backend.TokenBucket, 1, 30*time.Minute, w))
	}
	b.shards[0].sweep(epoch.Add(10 * time.Minute).UnixNano()) // the early keys refilled at 6m, the late ones at 36m
	if n := b.shards[0].tb.n; n != 10_000 {
		t.Fatalf("after the sweep %d keys are live, want 10000", n)
	}
	if per := float64(tableBytes()) / 10_000; per > 32 {
		t.Errorf("after a sweep: %.1f bytes per live key, want at most 32", per)
	}
}
