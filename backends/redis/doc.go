// Package sluiceredis is a Sluice backend that keeps rate-limit state in
// Redis, so that every instance of an application shares its limits.
//
// Import it as
//
//	import sluiceredis "github.com/sluicehq/sluice/backends/redis"
//
// and give the Limiter a backend built from a URL, or on a client the
// application already has:
//
//	b, err := sluiceredis.NewFromURL("redis://localhost:6379/0")
//	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.PerMinute(100)))
//
// [NewFromURL] covers a single server, Sentinel and Cluster, and takes the
// pool size and timeouts as query parameters (pool_size, dial_timeout,
// read_timeout, write_timeout, pool_timeout, ...). [New] uses an existing
// *redis.Client, *redis.ClusterClient or redis.UniversalClient, for
// settings no URL can carry (a custom TLS configuration, a dialer). A
// Backend is safe for concurrent use.
//
// # One script per decision
//
// Every decision is one Lua script per algorithm (scripts/*.lua, embedded),
// run with EVALSHA; a server that lost its scripts (a restart, a failover,
// SCRIPT FLUSH) gets them again through EVAL, transparently. A script checks
// every window of the request and then charges all of them or none, so a
// rule such as "10/s and 1000/h" is atomic without locks or transactions,
// and two application instances sharing one Redis admit exactly the limit
// between them. A cost of 0 is a peek and writes nothing.
//
// go-redis retries a command whose connection failed after it was sent; for
// a script that already ran, that would charge twice. The backend marks its
// scripts as never to be retried, whatever the client's MaxRetries, so a
// lost reply is an error (the Limiter then applies its failure mode) and
// never a double charge. A concurrency acquisition is moreover idempotent
// by its lease.
//
// # Batching
//
// Concurrent decisions share round trips. A decision that finds one of
// the backend's lanes (4, or [WithBatching]) idle sends
// its script at once, exactly as it would unbatched; the decisions that
// arrive while that round trip is in flight queue on the lane and leave
// together, as one pipeline, as soon as it returns. There is no timer: a
// lone caller waits for nothing, and under load every lane keeps one
// round trip in flight. A pipeline is sent by one of its own callers, the
// one with the latest deadline, on its context without its cancellation,
// so a caller that gives up while it waits returns at once, and none
// fails another's script. Scripts stay never retried in a pipeline too, and
// a NOSCRIPT or TRYAGAIN reply is handled per script. Batching is on by
// default for a single server (standalone or Sentinel) and off for a Redis
// Cluster or Ring, where a pipeline waits for its slowest node, so that one
// slow node would stall every other's decisions (see [WithBatching]);
// docs/redis.md measures what batching gains. WithBatching(0) sends one
// script per round trip.
//
// go-redis's own auto-pipelining client (rdb.AutoPipeline(), experimental)
// also works with [New], but adds latency for a lone caller; the backend
// does not batch again on top of it.
//
// # Time
//
// By default a script reads the Redis server's clock (TIME), so application
// servers whose clocks disagree still agree on every limit. [WithCallerClock]
// uses backend.Request.Now instead. Within the scripts time is integer
// nanoseconds, as in the in-memory backend, and the results are the same as
// its to the nanosecond, for windows up to 2^53 ns (104 days). Lua numbers
// are doubles, so an absolute time is kept as whole microseconds plus
// nanoseconds, and products of counts and durations too large for a double
// are computed exactly in parts. Beyond 104 days (Sluice allows 366),
// durations may be off by a few nanoseconds. Limits, bursts and costs must
// not exceed 2^53-1.
//
// # Keys
//
// All keys of one client of one rule share a Redis Cluster hash tag, so
// every script touches one slot and runs on one node. The tag is a 128-bit
// digest of the namespace and the key, which may hold any bytes (braces,
// newlines, 64 KiB of them), so keys stay short:
//
//	sluice:{3q2-7wEjRBaT4zS9bL1_xw}T0
//
// is the token bucket of one client's first window; F, w, l and c are the
// fixed window, sliding window, sliding log and concurrency keys. (Versions
// before the token bucket stored its limit's tag and the fixed window its
// period used t and f: during a rolling upgrade the two versions keep
// separate counters rather than misread each other's values.) Every key
// expires (PEXPIRE) exactly when its window has fully reset, rounded up to
// a millisecond: a bucket once full again, a fixed window at its end, a
// sliding window counter when both of its windows have passed, a sliding
// log when its newest entry leaves it, a concurrency key with its last
// lease (or when Release frees it).
//
// The p key holds a client's progressive-penalty state (backend.Penalizer,
// scripts/penalty.lua, for rules with a Penalty): its denials within the
// penalty window, when its block ends, and how many blocks it has had. It
// expires when the window, the block and the decay after it have all
// ended, so every instance sees the same block and idle clients cost
// nothing.
//
// # Memory
//
// MEMORY USAGE per key with the default prefix, on Redis 7.0 (the expiry
// adds a few dozen bytes more per key in the expires table):
//
//	token bucket    120 bytes per window
//	fixed window    136 bytes per window
//	sliding window  120 bytes per window
//	sliding log     136 bytes per window, plus about 20 bytes per request in it
//	concurrency     120 bytes, plus about 20 bytes per lease held
//
// A client with a "10/s and 1000/h" token-bucket rule costs two keys,
// about 2 x 120 bytes, while it is active, and nothing once its windows have
// reset. (A token bucket's value would be a bare integer, which Redis
// stores in 8 bytes, but it carries its limit's tag, so that a request out
// of order is never mistaken for one under a reloaded limit.)
//
// # Deployment
//
// Standalone Redis, Sentinel and Cluster are supported; with replicas,
// writes are asynchronous, so a failover can lose the last charges. The
// scripts are written for Redis 5 and newer, and tested on 7.0. A minimal
// ACL user for the default prefix (TestACL runs every operation as it):
//
//	ACL SETUSER sluice on >password ~sluice:* -@all +evalsha +eval +del +ping +time +get +set +pexpire +zrevrange +zrangebyscore +zscore +zadd +zrem +hgetall +hset +hdel
//
// (Cluster clients also need +cluster|slots or +cluster|shards, and
// Sentinel clients their usual sentinel commands.) Set ContextTimeoutEnabled
// on clients you build yourself, so that the Limiter's timeout bounds each
// round trip; the constructors of this package set it.
package sluiceredis
