package bench

import (
	"runtime"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// startRedis starts a redis-server of its own on a free loopback port,
// with persistence off, and returns its address; it is killed when tb
// ends. Without redis-server the test or benchmark is skipped, unless CI
// is "true".
func startRedis(tb testing.TB) string { return redistest.Start(tb).Addr }

// newRedisClient returns a client for addr with room for callers
// concurrent commands, closed when tb ends.
func newRedisClient(tb testing.TB, addr string, callers int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		PoolSize:              max(callers, 10*runtime.GOMAXPROCS(0)),
		ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { c.Close() })
	return c
}
