package sluiceredis

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// BenchmarkScriptCPU measures what each script costs the Redis server, the
// bound on a Redis's decisions per second: 4 connections send pipelines of
// 16 EVALSHA, on 10,000 keys, on the server's clock, with one window that
// admits every request. It reports the server's CPU per call (from INFO
// cpu) and the calls per second; compare runs with benchstat on
// server-cpu-µs/op. concurrency+release is one acquisition and the release
// of its lease per op.
func BenchmarkScriptCPU(b *testing.B) {
	srv := redistest.Start(b)
	client := benchClient(b, srv.Addr, 4)
	for _, s := range append(scripts[:], releaseScript, penaltyScript) {
		if err := client.ScriptLoad(context.Background(), s.src).Err(); err != nil {
			b.Fatal(err)
		}
	}
	window := []any{int64(1 << 40), int64(time.Second), 0}
	var lease atomic.Uint64
	// algArgs returns the ARGV of a request of alg on the server's clock.
	algArgs := func(alg backend.Algorithm) []any {
		extra := any(0)
		if alg == backend.Concurrency {
			extra = strconv.FormatUint(lease.Add(1), 10)
		}
		return append([]any{"", 0, 0, 1, extra}, window...)
	}
	// A case adds one op's commands to a pipeline; a reply that is a list
	// must start with first (allowed, or not blocked).
	type benchCase struct {
		name  string
		first int64
		add   func(p redis.Pipeliner, key string)
	}
	var cases []benchCase
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog, backend.Concurrency} {
		cases = append(cases, benchCase{alg.String(), 1, func(p redis.Pipeliner, key string) {
			p.EvalSha(context.Background(), scripts[alg].sha, []string{key}, algArgs(alg)...)
		}})
	}
	cases = append(cases, benchCase{"concurrency+release", 1, func(p redis.Pipeliner, key string) {
		args := algArgs(backend.Concurrency)
		p.EvalSha(context.Background(), scripts[backend.Concurrency].sha, []string{key}, args...)
		p.EvalSha(context.Background(), releaseScript.sha, []string{key}, "", 0, 0, args[4])
	}}, benchCase{"penalty", 0, func(p redis.Pipeliner, key string) {
		// Record a denial far below the threshold: one GET and one SET.
		p.EvalSha(context.Background(), penaltyScript.sha, []string{key},
			"", 0, 0, "1", int64(1<<40), int64(time.Minute), int64(time.Second), "2", int64(time.Hour), int64(10*time.Minute))
	}})

	const conns, depth = 4, 16
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			prefix := "bench:" + c.name + ":"
			run := func(n int) {
				var next atomic.Int64
				var wg sync.WaitGroup
				for range conns {
					wg.Go(func() {
						for {
							i := int(next.Add(depth)) - depth
							if i >= n {
								return
							}
							p := client.Pipeline()
							for j := i; j < min(i+depth, n); j++ {
								c.add(p, prefix+benchKey(j))
							}
							cmds, err := p.Exec(context.Background())
							if err != nil {
								b.Error(err)
								return
							}
							for _, cmd := range cmds {
								if v, ok := cmd.(*redis.Cmd).Val().([]any); ok && v[0] != c.first {
									b.Errorf("%s: reply %v", c.name, v)
									return
								}
							}
						}
					})
				}
				wg.Wait()
				if b.Failed() {
					b.FailNow()
				}
			}
			run(benchKeys) // every key created
			cpu0, _ := serverStats(b, client)
			b.ResetTimer()
			begin := time.Now()
			run(b.N)
			elapsed := time.Since(begin)
			b.StopTimer()
			cpu1, _ := serverStats(b, client)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric((cpu1-cpu0)/float64(b.N)*1e6, "server-cpu-µs/op")
		})
	}
}
