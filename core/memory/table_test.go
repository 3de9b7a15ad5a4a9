package memory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkTable verifies the table's structural invariants: the size is zero or
// a power of two of at least minTableSize, the load is at most 3/4, n counts
// the occupied slots, no key is stored twice, and every key is reachable
// from its home slot without crossing an empty slot (what get relies on).
func checkTable[V any](t *testing.T, tb *table[V]) {
	t.Helper()
	size := len(tb.slots)
	if size != 0 && (size < minTableSize || size&(size-1) != 0) {
		t.Fatalf("len(slots) = %d, want 0 or a power of two >= %d", size, minTableSize)
	}
	if tb.n*4 > size*3 {
		t.Fatalf("n = %d in %d slots: more than 3/4 full", tb.n, size)
	}
	occupied := 0
	seen := make(map[dkey]int, tb.n)
	mask := size - 1
	for i, s := range tb.slots {
		if s.k == (dkey{}) {
			continue
		}
		occupied++
		if j, dup := seen[s.k]; dup {
			t.Fatalf("key %v stored in slots %d and %d", s.k, j, i)
		}
		seen[s.k] = i
		for j := tb.index(s.k); j != i; j = (j + 1) & mask {
			if tb.slots[j].k == (dkey{}) {
				t.Fatalf("key %v in slot %d is unreachable: its home %d is followed by empty slot %d", s.k, i, tb.index(s.k), j)
			}
		}
	}
	if got, want := tb.n, occupied; got != want {
		t.Fatalf("n = %d, want %d occupied slots", got, want)
	}
}

// slotOf returns the slot that holds k, or -1.
func slotOf[V any](tb *table[V], k dkey) int {
	for i, s := range tb.slots {
		if s.k == k {
			return i
		}
	}
	return -1
}

// collidingKeys returns n distinct non-zero keys, most of them sharing the
// low bits of b with a few others so that they collide in tables of every
// size up to 1<<12. Homes 0xfff (the last slot of any such table) and
// 0xffe make probe runs wrap around the end of the slot array.
func collidingKeys(r *rand.Rand, n int) []dkey {
	lows := []uint64{0xfff, 0xfff, 0xfff, 0xffe, 0xffe, 0x000, 0x001, 0x7ff}
	keys := make([]dkey, 0, n)
	seen := make(map[dkey]bool, n)
	for len(keys) < n {
		var k dkey
		switch i := len(keys); {
		case i%10 == 9: // anywhere
			k = dkey{r.Uint64(), r.Uint64()}
		case i%10 == 8: // the same b as the previous key, another a
			k = dkey{r.Uint64(), keys[i-1].b}
		default:
			k = dkey{r.Uint64(), r.Uint64()<<12 | lows[r.IntN(len(lows))]}
		}
		if k == (dkey{}) || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

// TestTableModel drives a table with random operations on colliding keys and
// compares it with a Go map after every step.
func TestTableModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0x5eed))
			keys := collidingKeys(r, 200)
			var (
				tb                    table[int64]
				model                 = map[dkey]int64{}
				next                  int64 // values are unique, so sweeps can check what they visited
				wrapped, shrunk, peak int
			)
			const steps = 4000
			for step := range steps {
				// Alternate phases that fill the table and drain it, so it
				// grows, shrinks and empties several times.
				filling := step/500%2 == 0
				pPut, pDel, pGet := 20, 75, 90
				if filling {
					pPut, pDel, pGet = 70, 78, 97
				}
				op := r.IntN(100)
				k := keys[r.IntN(len(keys))]
				var desc string
				switch {
				case op < pPut:
					next++
					desc = fmt.Sprintf("put(%v) = %d", k, next)
					*tb.put(k) = next
					model[k] = next
				case op < pDel:
					_, had := model[k]
					desc = fmt.Sprintf("del(%v)", k)
					if got, want := tb.del(k), had; got != want {
						t.Fatalf("step %d: %s = %v, want %v", step, desc, got, want)
					}
					delete(model, k)
				case op < pGet:
					desc = fmt.Sprintf("get(%v)", k)
					// checked below with every other key
				default:
					// While filling, drop one entry in m; while draining,
					// keep only one in 8, which shrinks the table.
					m := int64(4 + r.IntN(5))
					expired := func(v int64) bool { return v%m == 0 }
					desc = fmt.Sprintf("sweep(v%%%d == 0)", m)
					if !filling {
						expired = func(v int64) bool { return v%8 != 0 }
						desc = "sweep(v%8 != 0)"
					}
					before := len(tb.slots)
					visited := map[int64]bool{}
					tb.sweep(func(_ dkey, v *int64) bool {
						visited[*v] = true
						return expired(*v)
					})
					for mk, v := range model {
						if !visited[v] {
							t.Fatalf("step %d: %s did not visit %v (value %d)", step, desc, mk, v)
						}
						if expired(v) {
							delete(model, mk)
						}
					}
					if len(tb.slots) < before {
						shrunk++
					}
				}
				checkTable(t, &tb)
				if got, want := tb.n, len(model); got != want {
					t.Fatalf("step %d: after %s: n = %d, want %d", step, desc, got, want)
				}
				for _, mk := range keys {
					p := tb.get(mk)
					want, ok := model[mk]
					switch {
					case ok && p == nil:
						t.Fatalf("step %d: after %s: get(%v) = nil, want %d", step, desc, mk, want)
					case ok && *p != want:
						t.Fatalf("step %d: after %s: get(%v) = %d, want %d", step, desc, mk, *p, want)
					case !ok && p != nil:
						t.Fatalf("step %d: after %s: get(%v) = %d, want nil (absent)", step, desc, mk, *p)
					}
				}
				if n := len(tb.slots); n > 0 && tb.slots[0].k != (dkey{}) && tb.slots[n-1].k != (dkey{}) {
					wrapped++
				}
				peak = max(peak, len(tb.slots))
			}
			// The test is only as good as the states it reached.
			if wrapped == 0 || shrunk == 0 || peak < 256 {
				t.Errorf("weak run: %d steps with a run wrapping the end, %d shrinking sweeps, at most %d slots; want > 0, > 0, >= 256", wrapped, shrunk, peak)
			}
		})
	}
}

// TestTableDeleteInWrappedRun deletes each key of a probe run that wraps
// from the last slot to the first, and checks that backward shifting keeps
// every other key reachable and leaves the run without a gap.
func TestTableDeleteInWrappedRun(t *testing.T) {
	// An 8-slot table. Homes 6, 6, 7, 6, 0 fill slots 6, 7, 0, 1, 2.
	keys := []dkey{
		{1, 6}, {2, 6 | 8<<4}, {3, 7}, {4, 6 | 3<<8}, {5, 0 | 1<<8},
	}
	wantSlots := []int{6, 7, 0, 1, 2}
	for del := range keys {
		t.Run(fmt.Sprintf("delete %v from slot %d", keys[del], wantSlots[del]), func(t *testing.T) {
			var tb table[int64]
			for i, k := range keys {
				*tb.put(k) = int64(i)
			}
			if got, want := len(tb.slots), 8; got != want {
				t.Fatalf("len(slots) = %d, want %d", got, want)
			}
			for i, k := range keys {
				if got, want := slotOf(&tb, k), wantSlots[i]; got != want {
					t.Fatalf("setup: %v is in slot %d, want %d", k, got, want)
				}
			}
			if !tb.del(keys[del]) {
				t.Fatalf("del(%v) = false, want true", keys[del])
			}
			checkTable(t, &tb)
			if got, want := tb.n, len(keys)-1; got != want {
				t.Errorf("n = %d, want %d", got, want)
			}
			if p := tb.get(keys[del]); p != nil {
				t.Errorf("get(deleted %v) = %d, want nil", keys[del], *p)
			}
			for i, k := range keys {
				if i == del {
					continue
				}
				if p := tb.get(k); p == nil || *p != int64(i) {
					t.Errorf("get(%v) = %v, want %d", k, p, i)
				}
			}
			// The run still starts at slot 6 and now ends at slot 1.
			for _, i := range []int{6, 7, 0, 1} {
				if tb.slots[i].k == (dkey{}) {
					t.Errorf("slot %d is empty, want the run compacted into slots 6, 7, 0, 1", i)
				}
			}
			if tb.slots[2].k != (dkey{}) {
				t.Errorf("slot 2 holds %v, want it emptied by the shift", tb.slots[2].k)
			}
			if tb.del(keys[del]) {
				t.Errorf("second del(%v) = true, want false", keys[del])
			}
		})
	}
}

// TestTableDeleteShiftRespectsHome checks that an entry already at its home
// is not shifted back past it: deleting slot 6 must not move the key whose
// home is slot 0 into slot 6 or 7.
func TestTableDeleteShiftRespectsHome(t *testing.T) {
	var tb table[int64]
	a, b, c := dkey{1, 6}, dkey{2, 0}, dkey{3, 6 | 1<<8}
	*tb.put(a) = 1 // slot 6
	*tb.put(b) = 2 // slot 0, its home
	*tb.put(c) = 3 // slot 7
	tb.del(a)
	checkTable(t, &tb)
	if got, want := slotOf(&tb, c), 6; got != want {
		t.Errorf("%v is in slot %d, want %d (shifted into the hole)", c, got, want)
	}
	if got, want := slotOf(&tb, b), 0; got != want {
		t.Errorf("%v is in slot %d, want %d (its home)", b, got, want)
	}
}

func TestTableEmpty(t *testing.T) {
	var tb table[int64]
	k := dkey{1, 2}
	if p := tb.get(k); p != nil {
		t.Errorf("get on a zero table = %d, want nil", *p)
	}
	if tb.del(k) {
		t.Error("del on a zero table = true, want false")
	}
	if got := tb.sample(0, 8, func(dkey, *int64) bool { t.Error("sample called f on a zero table"); return true }); got != 0 {
		t.Errorf("sample on a zero table = %d, want 0", got)
	}
	tb.sweep(func(dkey, *int64) bool { t.Error("sweep called expired on a zero table"); return true })
	*tb.put(k) = 7
	if p := tb.get(k); p == nil || *p != 7 {
		t.Errorf("get after put = %v, want 7", p)
	}
	if got, want := len(tb.slots), minTableSize; got != want {
		t.Errorf("len(slots) after first put = %d, want %d", got, want)
	}
}

func TestTablePutExistingKeepsValue(t *testing.T) {
	var tb table[int64]
	k := dkey{1, 2}
	*tb.put(k) = 7
	if got, want := *tb.put(k), int64(7); got != want {
		t.Errorf("put of a present key = %d, want its value %d", got, want)
	}
	if got, want := tb.n, 1; got != want {
		t.Errorf("n = %d, want %d", got, want)
	}
}

func TestTableSweep(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		name      string
		expired   func(v int64) bool
		wantN     int
		wantSlots int
	}{
		// 1000 entries need 2048 slots; 500 still fit without a shrink.
		{name: "every other", expired: func(v int64) bool { return v%2 == 1 }, wantN: 500, wantSlots: 2048},
		// 10 entries shrink the table to the smallest power of two at
		// most 3/8 full: 32 slots.
		{name: "all but ten", expired: func(v int64) bool { return v%100 != 0 }, wantN: 10, wantSlots: 32},
		// 256 entries: 2048 slots are exactly 1/8 full, no shrink.
		{name: "an eighth full", expired: func(v int64) bool { return v >= 256 }, wantN: 256, wantSlots: 2048},
		// 255 entries: shrink to 1024 slots (255/512 > 3/8).
		{name: "just under an eighth", expired: func(v int64) bool { return v >= 255 }, wantN: 255, wantSlots: 1024},
		// 192 entries: shrink to 512 slots, exactly 3/8 full.
		{name: "three eighths of the new size", expired: func(v int64) bool { return v >= 192 }, wantN: 192, wantSlots: 512},
		{name: "none", expired: func(int64) bool { return false }, wantN: n, wantSlots: 2048},
		{name: "all", expired: func(int64) bool { return true }, wantN: 0, wantSlots: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tb table[int64]
			keys := collidingKeys(rand.New(rand.NewPCG(7, 7)), n)
			for i, k := range keys {
				*tb.put(k) = int64(i)
			}
			if got, want := len(tb.slots), 2048; got != want {
				t.Fatalf("setup: len(slots) = %d, want %d", got, want)
			}
			calls := make([]int, n)
			tb.sweep(func(_ dkey, v *int64) bool {
				calls[*v]++
				return tc.expired(*v)
			})
			for i, c := range calls {
				if c == 0 {
					t.Fatalf("sweep never called expired on value %d", i)
				}
			}
			checkTable(t, &tb)
			if got, want := tb.n, tc.wantN; got != want {
				t.Errorf("n = %d, want %d", got, want)
			}
			if got, want := len(tb.slots), tc.wantSlots; got != want {
				t.Errorf("len(slots) = %d, want %d", got, want)
			}
			if tc.wantSlots == 0 && tb.slots != nil {
				t.Errorf("slots = non-nil empty slice of %d, want nil", len(tb.slots))
			}
			for i, k := range keys {
				p := tb.get(k)
				switch {
				case tc.expired(int64(i)) && p != nil:
					t.Errorf("get(%v) = %d after it expired, want nil", k, *p)
				case !tc.expired(int64(i)) && (p == nil || *p != int64(i)):
					t.Errorf("get(%v) = %v after sweep, want %d", k, p, i)
				}
			}
		})
	}
}

// TestTableSweepToEmptyThenReuse empties a large table with sweep and checks
// that it frees the slots and still works.
func TestTableSweepToEmptyThenReuse(t *testing.T) {
	var tb table[int64]
	keys := collidingKeys(rand.New(rand.NewPCG(8, 8)), 100)
	for i, k := range keys {
		*tb.put(k) = int64(i)
	}
	tb.sweep(func(dkey, *int64) bool { return true })
	if tb.slots != nil || tb.n != 0 {
		t.Fatalf("after sweeping everything: len(slots) = %d, n = %d; want nil slots and 0", len(tb.slots), tb.n)
	}
	if p := tb.get(keys[0]); p != nil {
		t.Errorf("get on an emptied table = %d, want nil", *p)
	}
	if tb.del(keys[0]) {
		t.Error("del on an emptied table = true, want false")
	}
	for i, k := range keys[:20] {
		*tb.put(k) = int64(100 + i)
	}
	checkTable(t, &tb)
	for i, k := range keys {
		p := tb.get(k)
		switch {
		case i < 20 && (p == nil || *p != int64(100+i)):
			t.Errorf("get(%v) = %v, want %d", k, p, 100+i)
		case i >= 20 && p != nil:
			t.Errorf("get(%v) = %d, want nil", k, *p)
		}
	}
}

// TestTableSweepSmallTableKeepsSlots checks that a table at the minimum
// size is not shrunk, even when emptied.
func TestTableSweepSmallTableKeepsSlots(t *testing.T) {
	var tb table[int64]
	*tb.put(dkey{1, 1}) = 1
	tb.sweep(func(dkey, *int64) bool { return true })
	if got, want := len(tb.slots), minTableSize; got != want {
		t.Errorf("len(slots) = %d, want %d", got, want)
	}
	if got, want := tb.n, 0; got != want {
		t.Errorf("n = %d, want %d", got, want)
	}
}

func TestTableSample(t *testing.T) {
	var tb table[int64]
	keys := collidingKeys(rand.New(rand.NewPCG(9, 9)), 20)
	for i, k := range keys {
		*tb.put(k) = int64(i)
	}
	if got, want := len(tb.slots), 32; got != want {
		t.Fatalf("setup: len(slots) = %d, want %d", got, want)
	}
	// The occupied slots in order, to check where sampling starts.
	var order []dkey
	for _, s := range tb.slots {
		if s.k != (dkey{}) {
			order = append(order, s.k)
		}
	}
	for _, tc := range []struct {
		name      string
		start     uint64
		n         int
		stopAfter int // f returns false on this call; 0 never
		wantSeen  int
	}{
		{name: "fewer than held", start: 0, n: 5, wantSeen: 5},
		{name: "exactly held", start: 3, n: 20, wantSeen: 20},
		{name: "more than held", start: 17, n: 100, wantSeen: 20},
		{name: "zero", start: 5, n: 0, wantSeen: 0},
		{name: "negative", start: 5, n: -3, wantSeen: 0},
		{name: "stop early", start: 0, n: 8, stopAfter: 3, wantSeen: 3},
		{name: "stop on first", start: 30, n: 8, stopAfter: 1, wantSeen: 1},
		{name: "stop on last allowed", start: 0, n: 4, stopAfter: 4, wantSeen: 4},
		{name: "start wraps", start: 1<<64 - 1, n: 7, wantSeen: 7},
		{name: "start beyond size", start: 1000 + 31, n: 30, wantSeen: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []dkey
			seen := tb.sample(tc.start, tc.n, func(k dkey, v *int64) bool {
				if p := tb.get(k); p != v {
					t.Errorf("f(%v, %p): the value pointer is not the stored one (%p)", k, v, p)
				}
				got = append(got, k)
				return len(got) != tc.stopAfter
			})
			if seen, want := seen, tc.wantSeen; seen != want {
				t.Errorf("sample() = %d, want %d", seen, want)
			}
			if got, want := len(got), tc.wantSeen; got != want {
				t.Fatalf("f called %d times, want %d", got, want)
			}
			// Sampling visits consecutive occupied slots from start, each
			// at most once.
			first := int(tc.start & 31)
			for first < 32 && tb.slots[first].k == (dkey{}) {
				first++
			}
			i := 0
			if first < 32 {
				i = slices.Index(order, tb.slots[first].k)
			}
			for j, k := range got {
				if want := order[(i+j)%len(order)]; k != want {
					t.Errorf("call %d: f(%v), want f(%v)", j, k, want)
				}
			}
		})
	}
}
