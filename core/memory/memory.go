// Package memory is Sluice's in-process backend, and the default when no
// backend is configured.
//
//	b := memory.New()
//	defer b.Close()
//
// State lives in a fixed number of shards, each a set of maps behind its own
// mutex, so concurrent decisions on different keys rarely contend. The
// token bucket, the default, goes further: a one-window request for a key
// that already exists takes no lock, and updates the key's timestamp with
// one compare-and-swap, so cores charging different keys share no written
// memory at all. Keys are stored as keyed digests of (namespace, key),
// never as the strings. A token-bucket key costs 16 bytes of table, 64
// bits of digest (8 of them choose its shard) and its timestamp, 21 to 32
// bytes a key once table space is counted: two keys share a bucket only if
// those 64 random bits collide, a chance of about 3 in 100 million among a
// million live keys. The other algorithms keep 128 bits. The digest seed is
// random per Backend, so clients cannot craft colliding keys.
//
// A key whose windows have fully reset costs nothing: it is dropped lazily
// and by a background sweeper, and shard maps are rebuilt when they shrink
// well below their peak. The number of stored states is bounded, by
// default to 1,000,000 (at most 32 MB of token buckets): a flood of new
// clients, such as one host rotating through the 16 million /64s of an
// IPv6 /40, evicts the states closest to expiring rather than growing the
// heap (see [WithMaxKeys]). Each eviction is reported in the Result of the
// request that caused it (backend.Result.Evicted), which the Limiter hands
// its Observer as a backend op "evict".
//
// The state is per process: two instances of a service each have their own.
// Use the Redis backend to share limits across instances.
package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

var _ backend.Backend = (*Backend)(nil)

// Backend is the in-memory backend. It is safe for concurrent use. Create it
// with [New]; call [Backend.Close] to stop its sweeper.
type Backend struct {
	shards    []shard
	mask      uint64
	seeds     [2]maphash.Seed
	clock     clock.Clock
	sweepStop chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
}

// New returns an in-memory backend configured by opts. It starts a sweeper
// goroutine unless [WithSweepInterval] is 0; [Backend.Close] stops it.
func New(opts ...Option) *Backend {
	cfg := config{shards: defaultShards, sweep: defaultSweep, clock: clock.Real}
	for _, o := range opts {
		o.apply(&cfg)
	}
	n := 1
	for n < cfg.shards {
		n <<= 1
	}
	// A bound leaves every shard at least minShardKeys states (or one
	// shard): fewer shards rather than shards too small to evict well.
	for cfg.maxKeys > 0 && n > 1 && cfg.maxKeys/n < minShardKeys {
		n >>= 1
	}
	b := &Backend{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seeds:  [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		clock:  cfg.clock,
	}
	if cfg.maxKeys == 0 {
		cfg.maxKeys = defaultMaxKeys
	}
	if cfg.maxKeys > 0 {
		// The shards' bounds add up to exactly maxKeys.
		for i := range b.shards {
			b.shards[i].max = max(1, cfg.maxKeys/n)
			if i < cfg.maxKeys%n {
				b.shards[i].max++
			}
		}
	}
	if cfg.sweep > 0 {
		b.sweepStop = make(chan struct{})
		b.sweepDone = make(chan struct{})
		go b.sweeper(cfg.sweep)
	}
	return b
}

// Apply implements [backend.Backend]. It never blocks on anything but a
// shard's mutex and never returns an error for a valid request.
func (b *Backend) Apply(_ context.Context, req backend.Request) (backend.Result, error) {
	if err := req.Validate(); err != nil {
		return backend.Result{}, err
	}
	k := b.digestFor(req.Namespace, req.Key, req.Algorithm)
	sh := b.shard(k)
	now := req.Now.UnixNano()
	if req.Algorithm == backend.TokenBucket && len(req.Windows) == 1 {
		if res, ok := sh.tb.tryApply(k.window(0), now, &req); ok {
			return res, nil
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	evicted := sh.evictions
	var res backend.Result
	switch req.Algorithm {
	case backend.TokenBucket:
		res = sh.applyGCRA(b, k, now, req)
	case backend.FixedWindow:
		res = sh.applyFixed(b, k, now, req)
	case backend.SlidingWindow:
		res = sh.applySliding(b, k, now, req)
	case backend.SlidingLog:
		res = sh.applyLog(b, k, now, req)
	default: // backend.Concurrency; check rejects anything else
		res = sh.applyLeases(b, k, now, req)
	}
	res.Evicted = int(sh.evictions - evicted)
	return res, nil
}

// Release implements [backend.Backend].
func (b *Backend) Release(_ context.Context, req backend.Request) error {
	k := b.digest(req.Namespace, req.Key)
	sh := b.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	wk := k.window(0)
	if ls := sh.cc.get(wk); ls != nil && (*ls).Remove(req.Lease) && (*ls).Len() == 0 {
		sh.cc.del(wk)
	}
	return nil
}

// Reset implements [backend.Backend]. It forgets penalty state too.
func (b *Backend) Reset(_ context.Context, namespace, key string) error {
	k := b.digest(namespace, key)
	sh := b.shard(k)
	sh.mu.Lock()
	for i := range backend.MaxWindows {
		wk := k.window(i)
		sh.fw.del(wk)
		sh.sw.del(wk)
		sh.sl.del(wk)
	}
	sh.cc.del(k.window(0))
	sh.pn.del(k)
	sh.mu.Unlock()
	tk := b.tbDigest(namespace, key)
	sh = b.shard(tk)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range backend.MaxWindows {
		sh.tb.del(tk.window(i))
		sh.rf.del(gcraID(tk.window(i)))
	}
	return nil
}

// len returns the number of stored window states, expired or not, across
// all shards. A key with three windows counts three, and a key's penalty
// state (see [Backend.Penalize]) counts one.
func (b *Backend) len() int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += sh.len()
		sh.mu.Unlock()
	}
	return n
}

// Close stops the sweeper. It is idempotent and returns nil. The backend
// keeps answering after Close; only background work stops.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		if b.sweepStop != nil {
			close(b.sweepStop)
			<-b.sweepDone
		}
	})
	return nil
}

func (b *Backend) sweeper(every time.Duration) {
	defer close(b.sweepDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.sweepStop:
			return
		case <-t.C:
			b.sweep(b.clock.Now().UnixNano())
		}
	}
}

// sweep drops every state that has fully reset at now, one shard at a time.
func (b *Backend) sweep(now int64) {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

// dkey is the 128-bit digest of (namespace, key), or of one of its windows.
type dkey struct{ a, b uint64 }

// window returns the digest of window i of the key. It is never the zero
// dkey, which marks empty table slots.
func (k dkey) window(i int) dkey {
	w := dkey{k.a, k.b ^ uint64(i)*0x9e3779b97f4a7c15}
	if w == (dkey{}) {
		w.b = 1
	}
	return w
}

func (b *Backend) digest(namespace, key string) dkey {
	p := pair{namespace, key}
	k := dkey{maphash.Comparable(b.seeds[0], p), maphash.Comparable(b.seeds[1], p)}
	if k == (dkey{}) {
		k.b = 1 // the zero dkey marks empty table slots
	}
	return k
}

// tbDigest is the digest of a token-bucket key: one hash, and a second
// word derived from it by a bijection. A token-bucket slot keeps 64 bits
// of a key (see gcraSlot), so a second hash would add nothing but its
// cost. A key's token-bucket state may thus live in another shard than its
// other state; Reset looks in both.
func (b *Backend) tbDigest(namespace, key string) dkey {
	h := maphash.Comparable(b.seeds[0], pair{namespace, key})
	k := dkey{h, splitmix(h)}
	if k.b == 0 {
		k.b = 1 // the zero dkey marks empty table slots
	}
	return k
}

// digestFor returns the digest of (namespace, key) for alg.
func (b *Backend) digestFor(namespace, key string, alg backend.Algorithm) dkey {
	if alg == backend.TokenBucket {
		return b.tbDigest(namespace, key)
	}
	return b.digest(namespace, key)
}

// splitmix is the finalizer of SplitMix64: a bijection of 64-bit words
// that spreads every input bit over every output bit.
func splitmix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// pair is hashed field by field, each string with its length, so no two
// distinct (namespace, key) pairs hash the same input.
type pair struct{ namespace, key string }

func (b *Backend) shard(k dkey) *shard { return &b.shards[k.a&b.mask] }
