package sluiceredis

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// benchKeys is the number of distinct clients the benchmarks spread over.
const benchKeys = 10_000

var benchCallers = []int{1, 16, 64, 256}

// BenchmarkRedisApply measures Backend.Apply against a local redis-server
// that the benchmark starts, with 1 to 256 concurrent callers on 10,000
// keys, on the server's clock, with batching on (the default) and off.
// Beside ns/op it reports decisions per second, the p50 and p99 latency of
// one call, the server CPU per decision (from INFO cpu) and the Redis
// commands per decision, the script's own calls included (from INFO
// commandstats).
func BenchmarkRedisApply(b *testing.B) {
	srv := redistest.Start(b)
	w := []backend.Window{{Limit: 1 << 40, Period: time.Second}}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog, backend.Concurrency} {
		for _, callers := range benchCallers {
			for _, batch := range benchBatching {
				b.Run(fmt.Sprintf("%v/callers=%d/batch=%s", alg, callers, batch.name), func(b *testing.B) {
					client := benchClient(b, srv.Addr, callers)
					be := New(client, batch.opt)
					var lease atomic.Uint64
					benchCalls(b, client, callers, func(ctx context.Context, i int) error {
						res, err := be.Apply(ctx, backend.Request{
							Namespace: "bench", Key: benchKey(i), Algorithm: alg, Windows: w, Cost: 1, Lease: lease.Add(1),
						})
						if err == nil && !res.Allowed {
							err = fmt.Errorf("denied: %+v", res)
						}
						return err
					})
				})
			}
		}
	}
}

// benchBatching are the backend's batching settings the benchmarks compare.
var benchBatching = []struct {
	name string
	opt  Option
}{
	{"off", WithBatching(0)},
	{"on", WithBatching(benchLanes())},
}

// benchLanes is defaultBatchLanes, or SLUICE_BENCH_LANES to compare others.
func benchLanes() int {
	if n, err := strconv.Atoi(os.Getenv("SLUICE_BENCH_LANES")); err == nil {
		return n
	}
	return defaultBatchLanes
}

// BenchmarkRedisApplyAutoPipeline is the token bucket of
// BenchmarkRedisApply on go-redis's own auto-pipelining client
// (redis.Client.AutoPipeline, experimental in go-redis), which coalesces
// concurrent calls into pipelined round trips. The scripts stay never
// retried: go-redis dispatches no-retry commands as pipelines of their own.
func BenchmarkRedisApplyAutoPipeline(b *testing.B) {
	srv := redistest.Start(b)
	w := []backend.Window{{Limit: 1 << 40, Period: time.Second}}
	for _, callers := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			client := benchClient(b, srv.Addr, callers)
			ap, err := client.AutoPipeline()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ap.Close() })
			be := New(ap)
			benchCalls(b, client, callers, func(ctx context.Context, i int) error {
				res, err := be.Apply(ctx, backend.Request{Namespace: "bench", Key: benchKey(i), Windows: w, Cost: 1})
				if err == nil && !res.Allowed {
					err = fmt.Errorf("denied: %+v", res)
				}
				return err
			})
		})
	}
}

// BenchmarkRedisDecide measures a whole core.Limiter decision on the Redis
// backend: the client key from the remote address, rule matching and one
// token-bucket script, with 1 to 256 concurrent callers on 10,000 clients,
// with batching on (the default) and off.
func BenchmarkRedisDecide(b *testing.B) {
	srv := redistest.Start(b)
	addrs := make([]string, benchKeys)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d:1234", i>>16, (i>>8)&255, i&255)
	}
	for _, callers := range benchCallers {
		for _, batch := range benchBatching {
			b.Run(fmt.Sprintf("callers=%d/batch=%s", callers, batch.name), func(b *testing.B) {
				client := benchClient(b, srv.Addr, callers)
				lim, err := core.New(
					core.WithBackend(New(client, batch.opt)),
					core.WithDefault(core.PerSecond(1<<40)),
					// Measure every decision, however slow a loaded machine
					// makes it, rather than the failure mode.
					core.WithFailure(core.Failure{Timeout: -1}),
				)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { lim.Close() })
				benchCalls(b, client, callers, func(ctx context.Context, i int) error {
					d, err := lim.Decide(ctx, core.Request{Method: "GET", Path: "/items", RemoteAddr: addrs[i%benchKeys]})
					if err == nil && d.Outcome != core.Allowed {
						err = fmt.Errorf("outcome %v", d.Outcome)
					}
					return err
				})
			})
		}
	}
}

// BenchmarkRedisEvalshaBaseline is the floor the backend is measured
// against: EVALSHA of a script that returns 1, through the same go-redis
// client and callers.
func BenchmarkRedisEvalshaBaseline(b *testing.B) {
	srv := redistest.Start(b)
	for _, callers := range benchCallers {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			client := benchClient(b, srv.Addr, callers)
			s := redis.NewScript("return 1")
			if err := s.Load(context.Background(), client).Err(); err != nil {
				b.Fatal(err)
			}
			benchCalls(b, client, callers, func(ctx context.Context, i int) error {
				return s.EvalSha(ctx, client, []string{benchKey(i)}).Err()
			})
		})
	}
}

func benchClient(b *testing.B, addr string, callers int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		PoolSize:              max(callers, 10*runtime.GOMAXPROCS(0)),
		ContextTimeoutEnabled: true,
	})
	b.Cleanup(func() { c.Close() })
	return c
}

var benchKeyNames = func() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	return keys
}()

func benchKey(i int) string { return benchKeyNames[i%benchKeys] }

// benchCalls runs b.N calls of call spread over callers goroutines, each
// call on the next of 10,000 keys, and reports throughput, latency
// percentiles and the server's CPU and commands per call.
func benchCalls(b *testing.B, client *redis.Client, callers int, call func(ctx context.Context, i int) error) {
	ctx := context.Background()
	// Warm up: scripts loaded, connections open, keys created.
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := c; i < benchKeys; i += callers {
				if err := call(ctx, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	cpu0, cmds0 := serverStats(b, client)
	lat := make([][]time.Duration, callers)
	var next atomic.Int64
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
				if err := call(ctx, i); err != nil {
					b.Error(err)
					break
				}
				l = append(l, time.Since(t0))
			}
			lat[c] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	cpu1, cmds1 := serverStats(b, client)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric((cpu1-cpu0)/float64(b.N)*1e6, "server-cpu-µs/op")
	// INFO itself counts one command.
	b.ReportMetric(float64(cmds1-cmds0-1)/float64(b.N), "redis-cmds/op")
}

// serverStats returns the server's CPU seconds (user and system) and the
// total number of commands it has run, scripts' own calls included.
func serverStats(b *testing.B, client *redis.Client) (cpu float64, cmds int64) {
	info, err := client.Info(context.Background(), "cpu", "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case key == "used_cpu_sys" || key == "used_cpu_user":
			f, _ := strconv.ParseFloat(val, 64)
			cpu += f
		case strings.HasPrefix(key, "cmdstat_"):
			for _, field := range strings.Split(val, ",") {
				if n, ok := strings.CutPrefix(field, "calls="); ok {
					c, _ := strconv.ParseInt(n, 10, 64)
					cmds += c
				}
			}
		}
	}
	return cpu, cmds
}
