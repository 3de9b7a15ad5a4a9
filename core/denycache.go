package core

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// denyCache remembers, per (namespace, key), that the backend denied a
// request of some cost until some time, so that requests of at least that
// cost can be denied locally until then. It is bounded; see WithDenyCache.
type denyCache struct {
	seed   maphash.Seed
	shards [denyShards]denyShard
	per    int // entries per shard
}

const (
	denyShards      = 64
	defaultDenySize = 64 * 1024
)

type denyShard struct {
	mu sync.Mutex
	m  map[denyKey]*denyEntry
	_  [40]byte
}

type denyKey struct{ namespace, key string }

type denyEntry struct {
	until   int64 // Unix ns; denied until then
	at      int64 // when the backend denied
	cost    int64
	windows [backend.MaxWindows]backend.WindowResult
}

func newDenyCache(size int) *denyCache {
	c := &denyCache{seed: maphash.MakeSeed(), per: max(1, size/denyShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[denyKey]*denyEntry)
	}
	return c
}

func (c *denyCache) shard(k denyKey) *denyShard {
	return &c.shards[maphash.Comparable(c.seed, k)%denyShards]
}

// get returns the backend result the cached denial implies at now for a
// request of cost, and whether there is one.
func (c *denyCache) get(namespace, key string, now time.Time, cost int64, n int) (backend.Result, bool) {
	k := denyKey{namespace, key}
	sh := c.shard(k)
	t := now.UnixNano()
	sh.mu.Lock()
	e, ok := sh.m[k]
	if ok && t >= e.until {
		delete(sh.m, k)
		ok = false
	}
	if !ok || cost < e.cost {
		sh.mu.Unlock()
		return backend.Result{}, false
	}
	res := backend.Result{Windows: e.windows}
	elapsed := time.Duration(t - e.at)
	sh.mu.Unlock()
	for i := range n {
		w := &res.Windows[i]
		w.ResetAfter = max(0, w.ResetAfter-elapsed)
		if w.RetryAfter > 0 {
			w.RetryAfter = max(time.Nanosecond, w.RetryAfter-elapsed)
		}
	}
	return res, true
}

// put records a denial made at now that lasts until until.
func (c *denyCache) put(namespace, key string, now, until time.Time, cost int64, res *backend.Result) {
	k := denyKey{namespace, key}
	sh := c.shard(k)
	t := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, exists := sh.m[k]; !exists && len(sh.m) >= c.per {
		for k, e := range sh.m { // drop the expired, or else one at random
			if e.until <= t {
				delete(sh.m, k)
			}
		}
		for k := range sh.m {
			if len(sh.m) < c.per {
				break
			}
			delete(sh.m, k)
		}
	}
	sh.m[k] = &denyEntry{until: until.UnixNano(), at: t, cost: cost, windows: res.Windows}
}

// drop forgets the cached denial of (namespace, key), if any.
func (c *denyCache) drop(namespace, key string) {
	k := denyKey{namespace, key}
	sh := c.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

// clear forgets every cached denial, for new rules: a raised limit admits
// at once what it admits.
func (c *denyCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}
