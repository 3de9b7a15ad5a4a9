package sluicejwt

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core"
)

// cache holds verified tokens until they expire, in shards so that
// concurrent requests rarely contend. Each shard holds at most max
// entries; a full shard drops its expired entries, and then an arbitrary
// one, to make room.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
	max    int // per shard
}

const cacheShards = 16

type cacheShard struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	id      core.Identity
	expires time.Time
}

func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	c := &cache{seed: maphash.MakeSeed(), max: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

func (c *cache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)%cacheShards]
}

// get returns the identity of a cached token that has not expired at now.
func (c *cache) get(token string, now time.Time) (core.Identity, bool) {
	s := c.shard(token)
	s.mu.Lock()
	e, ok := s.m[token]
	if ok && !now.Before(e.expires) {
		delete(s.m, token)
		ok = false
	}
	s.mu.Unlock()
	return e.id, ok
}

// put caches a verified token's identity until expires.
func (c *cache) put(token string, id core.Identity, now, expires time.Time) {
	if !now.Before(expires) {
		return
	}
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[token]; !ok && len(s.m) >= c.max {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.max {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[token] = cacheEntry{id: id, expires: expires}
}

// len returns the number of entries, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// clear drops every entry, when the keys they were verified with may have
// changed.
func (c *cache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
