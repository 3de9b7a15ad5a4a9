package bench

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	throttledredis "github.com/throttled/throttled/v2/store/goredisstore.v9"
	ulule "github.com/ulule/limiter/v3"
	uluredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

// RedisContender is one library with its Redis store.
type RedisContender struct {
	// Name is the sub-benchmark name: Benchmark<Workload>/<Name>.
	Name string
	// Module is the module path whose version the report shows.
	Module string
	// Algorithm says, in a few words, what the library counts with and
	// how it talks to Redis.
	Algorithm string
	// New returns a limiter for c that keeps its state in Redis through
	// client, under keys starting with prefix. Limiters made with the same
	// prefix share their limits, as instances of one service do. The
	// limiter does not close client.
	New func(client *redis.Client, prefix string, c Config) (Limiter, error)
}

// Redis lists the limiters that keep their state in Redis. All of them use
// the same go-redis v9 client.
var Redis = []RedisContender{
	{
		Name:   "sluice",
		Module: "github.com/sluicehq/sluice/backends/redis",
		Algorithm: "token bucket (GCRA) in one Lua script on the server's clock (sluiceredis), under a whole Limiter.Decide of a custom identity; backend timeout " +
			SluiceRedisTimeout.String() + " instead of the default " + SluiceDefaultTimeout.String() + " (see bench.SluiceRedisTimeout)",
		New: newSluiceRedis,
	},
	{
		Name:      "redis_rate",
		Module:    "github.com/go-redis/redis_rate/v10",
		Algorithm: "GCRA in one Lua script on the server's clock",
		New:       newRedisRate,
	},
	{
		Name:      "ulule",
		Module:    "github.com/ulule/limiter/v3",
		Algorithm: "fixed window: INCRBY and PEXPIRE in one Lua script",
		New:       newUluleRedis,
	},
	{
		Name:      "throttled",
		Module:    "github.com/throttled/throttled/v2",
		Algorithm: "GCRA in the client: GET and TIME, then a compare-and-swap Lua script, retried up to 10 times on conflict (goredisstore.v9)",
		New:       newThrottledRedis,
	},
}

// SluiceRedisTimeout is the backend timeout of the Sluice Limiter in the
// Redis workloads: go-redis's default read timeout, the only bound the
// other libraries put on a decision. Sluice's default, 50ms, is meant to
// fail open quickly when Redis is slow; under these workloads' bursts of
// up to 1,000 simultaneous decisions on a busy 2-core machine, requests
// wait longer than that for a pooled connection, and the comparison would
// then count fail-open outcomes instead of decisions.
const SluiceRedisTimeout = 3 * time.Second

// SluiceDefaultTimeout is what a Failure.Timeout of 0 means: core's
// default bound on a backend call (see core.Failure).
const SluiceDefaultTimeout = 50 * time.Millisecond

func newSluiceRedis(client *redis.Client, prefix string, c Config) (Limiter, error) {
	lim, err := core.New(
		core.WithBackend(sluiceredis.New(client, sluiceredis.WithPrefix(prefix))),
		core.WithDefault(sluiceLimit(c)),
		core.WithFailure(core.Failure{Timeout: SluiceRedisTimeout}),
	)
	if err != nil {
		return nil, err
	}
	return sluiceDecide{sluiceLimiter{lim: lim}}, nil
}

// redisRateLimiter adapts a redis_rate Limiter.
type redisRateLimiter struct {
	lim    *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit
}

func newRedisRate(client *redis.Client, prefix string, c Config) (Limiter, error) {
	return redisRateLimiter{
		lim:    redis_rate.NewLimiter(client),
		prefix: prefix,
		limit:  redis_rate.Limit{Rate: c.N, Burst: c.burst(), Period: c.Per},
	}, nil
}

func (r redisRateLimiter) Allow(ctx context.Context, key string) (bool, error) {
	// redis_rate adds its own "rate:" prefix; the key is prefixed again so
	// that runs never share state.
	res, err := r.lim.Allow(ctx, r.prefix+key, r.limit)
	if err != nil {
		return false, err
	}
	return res.Allowed > 0, nil
}

func (r redisRateLimiter) Close() error { return nil }

func newUluleRedis(client *redis.Client, prefix string, c Config) (Limiter, error) {
	store, err := uluredis.NewStoreWithOptions(client, ulule.StoreOptions{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	return ululeLimiter{ulule.New(store, ulule.Rate{Period: c.Per, Limit: int64(c.N)})}, nil
}

func newThrottledRedis(client *redis.Client, prefix string, c Config) (Limiter, error) {
	store, err := throttledredis.NewCtx(client, prefix)
	if err != nil {
		return nil, err
	}
	return newThrottledOn(store, c)
}
