package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

// benchCases are one backend call per algorithm, with limits high enough
// that the hot key is never denied.
var benchCases = []struct {
	name string
	alg  backend.Algorithm
	win  backend.Window
}{
	{"token_bucket", backend.TokenBucket, backend.Window{Limit: 1 << 40, Period: time.Second}},
	{"fixed_window", backend.FixedWindow, backend.Window{Limit: 1 << 40, Period: time.Second}},
	{"sliding_window", backend.SlidingWindow, backend.Window{Limit: 1 << 40, Period: time.Second}},
	{"sliding_log", backend.SlidingLog, backend.Window{Limit: 1 << 40, Period: time.Millisecond}},
	{"concurrency", backend.Concurrency, backend.Window{Limit: 1 << 40, Period: time.Millisecond}},
}

// BenchmarkMemoryBackend measures one Apply.
func BenchmarkMemoryBackend(b *testing.B) {
	ctx := context.Background()
	start := time.Unix(1_700_000_000, 0)
	for _, bc := range benchCases {
		req := backend.Request{
			Namespace: "ip:r:api", Key: "203.0.113.7", Algorithm: bc.alg,
			Windows: []backend.Window{bc.win}, Cost: 1, Now: start,
		}
		newBackend := func(b *testing.B) *memory.Backend {
			m := memory.New(memory.WithSweepInterval(0))
			b.Cleanup(func() { m.Close() })
			return m
		}
		b.Run(bc.name+"/hot-key-serial", func(b *testing.B) {
			m := newBackend(b)
			r := req
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.Now = start.Add(time.Duration(i) * time.Microsecond)
				r.Lease = uint64(i)
				if _, err := m.Apply(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/hot-key-parallel", func(b *testing.B) {
			m := newBackend(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := req
				lease := rand.Uint64() // then counting: unique, and cheaper than a random number per call
				for i := 0; pb.Next(); i++ {
					r.Now = start.Add(time.Duration(i) * time.Microsecond)
					lease++
					r.Lease = lease
					if _, err := m.Apply(ctx, r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(bc.name+"/100k-keys-parallel", func(b *testing.B) {
			m := newBackend(b)
			keys := make([]string, 100_000)
			for i := range keys {
				keys[i] = "10.0." + strconv.Itoa(i)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := req
				i := rand.IntN(len(keys))
				lease := rand.Uint64()
				for n := 0; pb.Next(); n++ {
					r.Key = keys[i]
					r.Now = start.Add(time.Duration(n) * time.Microsecond)
					lease++
					r.Lease = lease
					if _, err := m.Apply(ctx, r); err != nil {
						b.Error(err)
						return
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkBytesPerKey reports the heap bytes each live key costs after
// 1,000,000 distinct keys, per algorithm (HeapInuse after GC). The backend
// is unbounded: the default bound, 1,000,000 states split evenly across the
// shards, would evict a few thousand keys from the fuller shards, and the
// heap would no longer hold a million live keys.
func BenchmarkBytesPerKey(b *testing.B) {
	const keys = 1_000_000
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			win := bc.win
			win.Limit, win.Period = 10, time.Hour
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprintf("198.%d.%d.%d", i>>16, (i>>8)&255, i&255)
			}
			var perKey float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				m := memory.New(memory.WithSweepInterval(0), memory.WithMaxKeys(-1))
				req := backend.Request{Namespace: "ip:r:api", Algorithm: bc.alg, Windows: []backend.Window{win}, Cost: 1, Now: now}
				for i, k := range names {
					req.Key, req.Lease = k, uint64(i+1)
					if _, err := m.Apply(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapInuse-before.HeapInuse) / keys
				runtime.KeepAlive(m)
				m.Close()
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}
