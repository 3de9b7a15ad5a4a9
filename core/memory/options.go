package memory

import (
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

const (
	defaultShards = 256
	defaultSweep  = 30 * time.Second
	// minShardKeys is the fewest states a bounded shard holds: a smaller
	// WithMaxKeys means fewer shards.
	minShardKeys = 16
	// defaultMaxKeys bounds the states of a backend that sets no bound.
	defaultMaxKeys = 1_000_000
)

type config struct {
	shards  int
	maxKeys int
	sweep   time.Duration
	clock   clock.Clock
}

// Option configures a [Backend].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithShards sets the number of shards, rounded up to a power of two.
// More shards mean less lock contention between keys. The default is 256.
func WithShards(n int) Option {
	return optionFunc(func(c *config) { c.shards = max(1, n) })
}

// WithMaxKeys bounds the number of stored window states (a key with three
// windows stores three) to exactly n. The bound is split across shards, each
// holding its share (and the backend uses fewer shards than WithShards asks
// for when n leaves fewer than 16 states per shard), so a shard may evict
// while others still have room. When a new state would exceed its shard's
// share, the backend evicts, from a random sample of 8 states in that
// shard, the one that expires first: an expired state if the sample holds
// one, otherwise the state closest to being forgotten anyway. An evicted
// client starts afresh, so a bound set too low lets clients exceed their
// limits; size it above the number of clients active within your longest
// window. A token-bucket state costs at most 32 bytes (the other
// algorithms' 84 to 182, see docs/algorithms.md), so the default,
// 1,000,000 states (0 means the default), bounds token buckets to 32 MB;
// a negative n leaves the backend unbounded.
func WithMaxKeys(n int) Option {
	return optionFunc(func(c *config) { c.maxKeys = n })
}

// WithSweepInterval sets how often the background sweeper drops fully reset
// states and returns their memory. 0 disables the sweeper; expired states
// are then only overwritten when their key returns. The default is 30s.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sweep = max(0, d) })
}

// WithClock sets the clock the sweeper reads to decide what has expired.
// Decisions themselves use the time in each request. The default is
// [clock.Real].
func WithClock(c clock.Clock) Option {
	return optionFunc(func(cfg *config) { cfg.clock = c })
}
