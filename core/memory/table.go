package memory

// table is an open-addressing hash table keyed by digests, with linear
// probing and backward-shift deletion (no tombstones). The digests are
// already uniformly random, so the table indexes by their bits directly
// instead of hashing them again as a Go map would, and values are updated in
// place through the pointer that lookups return. It is not safe for
// concurrent use: the shard's mutex guards it.
type table[V any] struct {
	slots []slot[V] // length is zero or a power of two
	n     int
}

type slot[V any] struct {
	k dkey // the zero dkey marks an empty slot
	v V
}

const minTableSize = 8

func (t *table[V]) index(k dkey) int { return int(k.b) & (len(t.slots) - 1) }

// get returns a pointer to k's value, or nil.
func (t *table[V]) get(k dkey) *V {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			return &s.v
		}
		if s.k == (dkey{}) {
			return nil
		}
	}
}

// put returns a pointer to k's value, inserting a zero value first if k is
// absent. The pointer is valid until the next put or del.
func (t *table[V]) put(k dkey) *V {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minTableSize, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			return &s.v
		}
		if s.k == (dkey{}) {
			s.k = k
			t.n++
			return &s.v
		}
	}
}

// del removes k and reports whether it was present.
func (t *table[V]) del(k dkey) bool {
	if t.n == 0 {
		return false
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		switch t.slots[i].k {
		case k:
			t.delAt(i)
			return true
		case dkey{}:
			return false
		}
	}
}

// delAt empties slot i and shifts back the entries of its probe run that
// would otherwise become unreachable.
func (t *table[V]) delAt(i int) {
	mask := len(t.slots) - 1
	hole := i
	for j := (i + 1) & mask; t.slots[j].k != (dkey{}); j = (j + 1) & mask {
		home := t.index(t.slots[j].k)
		// Move j into the hole unless its home lies cyclically in (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = slot[V]{}
	t.n--
}

// resize rehashes into a table of size slots.
func (t *table[V]) resize(size int) {
	old := t.slots
	t.slots = make([]slot[V], size)
	mask := size - 1
	for _, s := range old {
		if s.k == (dkey{}) {
			continue
		}
		i := t.index(s.k)
		for t.slots[i].k != (dkey{}) {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// sweep deletes every entry for which expired returns true, then shrinks
// the table if it is less than an eighth full. expired may see an entry
// twice, when a deletion shifts an already visited entry back.
func (t *table[V]) sweep(expired func(dkey, *V) bool) {
	for i := 0; i < len(t.slots); {
		s := &t.slots[i]
		if s.k != (dkey{}) && expired(s.k, &s.v) {
			t.delAt(i) // may shift an unvisited entry into i: look again
			continue
		}
		i++
	}
	if len(t.slots) > minTableSize && t.n*8 < len(t.slots) {
		size := minTableSize
		for size*3 < t.n*4*2 { // leave the table at most 3/8 full
			size *= 2
		}
		if t.n == 0 {
			t.slots = nil
			return
		}
		t.resize(size)
	}
}

// sample calls f on up to n entries starting from slot start (any integer),
// stopping early when f returns false.
func (t *table[V]) sample(start uint64, n int, f func(k dkey, v *V) bool) int {
	if t.n == 0 {
		return 0
	}
	mask := len(t.slots) - 1
	seen := 0
	for i, j := int(start)&mask, 0; j < len(t.slots) && seen < n; i, j = (i+1)&mask, j+1 {
		if s := &t.slots[i]; s.k != (dkey{}) {
			seen++
			if !f(s.k, &s.v) {
				break
			}
		}
	}
	return seen
}
