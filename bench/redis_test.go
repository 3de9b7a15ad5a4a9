package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// flush empties the benchmark's own Redis, so that no run sees another's
// state.
func flush(tb testing.TB, c *redis.Client) {
	tb.Helper()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		tb.Fatal(err)
	}
}

// newRedisLimiter returns c's limiter on client, closed when tb ends.
func newRedisLimiter(tb testing.TB, c RedisContender, client *redis.Client, prefix string, cfg Config) Limiter {
	tb.Helper()
	lim, err := c.New(client, prefix, cfg)
	if err != nil {
		tb.Fatalf("%s: %v", c.Name, err)
	}
	tb.Cleanup(func() { lim.Close() })
	return lim
}

// BenchmarkRedisDecisions measures decisions through each library's Redis
// store, on a redis-server of its own, with 1 to 256 concurrent callers
// sharing one go-redis client, each decision on the next of 10,000 keys,
// under the user-shaped limit of 100 per second, burst 100. With 10,000
// keys in turn, a key is asked about once per 10,000 decisions: more
// rarely than 100 times a second below a million decisions a second, far
// above what one Redis serves, so nearly every decision is an admission
// and the workload measures round trips. Beside ns/op it reports decisions
// per second, the p50 and p99 latency of one decision, the share of
// decisions admitted, and the share that failed (an error, or for Sluice a
// fail-open outcome after its backend timeout).
func BenchmarkRedisDecisions(b *testing.B) {
	addr := startRedis(b)
	keys := keyNames(RedisKeys)
	for _, c := range Redis {
		b.Run(c.Name, func(b *testing.B) {
			for _, callers := range RedisCallers {
				b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
					client := newRedisClient(b, addr, callers)
					flush(b, client)
					lim := newRedisLimiter(b, c, client, "bench:", userConfig)
					redisCalls(b, lim, keys, callers)
				})
			}
		})
	}
}

// redisCalls runs b.N decisions spread over callers goroutines and reports
// throughput, latency and failures.
func redisCalls(b *testing.B, lim Limiter, keys []string, callers int) {
	ctx := context.Background()
	warm(ctx, lim, callers)
	var wg sync.WaitGroup
	lat := make([][]time.Duration, callers)
	var next, failed, admitted atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	for c := range callers {
		wg.Go(func() {
			l := make([]time.Duration, 0, b.N/callers+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					break
				}
				t0 := time.Now()
				ok, err := lim.Allow(ctx, keys[i%len(keys)])
				l = append(l, time.Since(t0))
				switch {
				case err != nil:
					failed.Add(1)
				case ok:
					admitted.Add(1)
				}
			}
			lat[c] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(admitted.Load())/float64(b.N), "admitted/op")
	b.ReportMetric(float64(failed.Load())/float64(b.N), "errors/op")
}

// warm makes n decisions at once, twice, on a key of their own, so that a
// running service's state is there before a workload starts: connections
// open and scripts loaded. Their results do not matter.
func warm(ctx context.Context, lim Limiter, n int) {
	for range 2 {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { lim.Allow(ctx, "warm-up") })
		}
		wg.Wait()
	}
}

// twoInstances returns two limiters of c, each on its own client of the
// Redis at addr, sharing their limits as two instances of one service do,
// and warmed up as a running service is.
func twoInstances(tb testing.TB, c RedisContender, addr, prefix string, cfg Config) []Limiter {
	tb.Helper()
	lims := []Limiter{
		newRedisLimiter(tb, c, newRedisClient(tb, addr, InstancePool), prefix, cfg),
		newRedisLimiter(tb, c, newRedisClient(tb, addr, InstancePool), prefix, cfg),
	}
	for _, l := range lims {
		warm(context.Background(), l, InstancePool)
	}
	return lims
}

// BenchmarkRedisAccuracy races 1,000 requests for one key against a limit
// of 100 per hour on two instances of each library sharing one Redis, 500
// through each, and reports how many were admitted. Run it with
// -benchtime 1x: each run is one race.
func BenchmarkRedisAccuracy(b *testing.B) {
	addr := startRedis(b)
	admin := newRedisClient(b, addr, 1)
	ctx := context.Background()
	for _, c := range Redis {
		b.Run(c.Name, func(b *testing.B) {
			var races []raceResult
			for b.Loop() {
				flush(b, admin)
				lims := twoInstances(b, c, addr, "accuracy:", accuracyConfig)
				races = append(races, race(ctx, lims, AccuracyRequests, "race"))
				for _, l := range lims {
					l.Close()
				}
			}
			reportRaces(b, races)
		})
	}
}

// TestRedisContendersAdmitTheLimit checks that every Redis limiter is
// configured to the same limit and that two instances share it: 75
// requests in a row through each of two instances admit exactly 100, and
// another key is admitted.
func TestRedisContendersAdmitTheLimit(t *testing.T) {
	addr := startRedis(t)
	ctx := t.Context()
	for _, c := range Redis {
		t.Run(c.Name, func(t *testing.T) {
			lims := twoInstances(t, c, addr, "test-"+c.Name+":", accuracyConfig)
			admitted := 0
			for _, lim := range lims {
				for range 75 {
					ok, err := lim.Allow(ctx, "serial")
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						admitted++
					}
				}
			}
			if got, want := admitted, AccuracyLimit; got != want {
				t.Errorf("admitted %d of 150 requests through two instances, want %d", got, want)
			}
			if ok, err := lims[1].Allow(ctx, "other"); err != nil || !ok {
				t.Errorf("another key: Allow = %v, %v; want true, nil", ok, err)
			}
		})
	}
}
