package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hotKey is the one client of the hot-key workloads.
const hotKey = "203.0.113.7"

// keyName returns the i-th distinct client key, an IPv4 address.
func keyName(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
}

// keyNames returns the first n client keys.
func keyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = keyName(i)
	}
	return keys
}

var manyKeys = sync.OnceValue(func() []string { return keyNames(ManyKeys) })

// newLimiter returns c's limiter for limit per period, closed when b ends.
func newLimiter(tb testing.TB, c Contender, limit int, per time.Duration) Limiter {
	tb.Helper()
	lim, err := c.New(limit, per)
	if err != nil {
		tb.Fatalf("%s: %v", c.Name, err)
	}
	tb.Cleanup(func() { lim.Close() })
	return lim
}

// admit makes one decision that must not be a denial. It returns false
// when the library could not decide (it returned an error), and an error
// when it denied the request: the limit is set so that no workload reaches
// it, so a denial means the comparison is broken.
func admit(ctx context.Context, lim Limiter, key string) (bool, error) {
	ok, err := lim.Allow(ctx, key)
	switch {
	case err != nil:
		return false, nil
	case !ok:
		return false, fmt.Errorf("key %s denied under a limit no workload reaches", key)
	}
	return true, nil
}

// errorCount counts the decisions a library could not make, reported as
// errors/op. Only throttled fails here: its compare-and-swap gives up after
// 10 conflicts on a hot key.
type errorCount struct{ n atomic.Int64 }

func (e *errorCount) report(b *testing.B) {
	b.ReportMetric(float64(e.n.Load())/float64(b.N), "errors/op")
}

// BenchmarkHotKeySerial measures one decision on one key from one
// goroutine.
func BenchmarkHotKeySerial(b *testing.B) {
	ctx := context.Background()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			lim := newLimiter(b, c, ThroughputLimit, ThroughputPeriod)
			var errs errorCount
			b.ReportAllocs()
			for b.Loop() {
				ok, err := admit(ctx, lim, hotKey)
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					errs.n.Add(1)
				}
			}
			errs.report(b)
		})
	}
}

// BenchmarkHotKeyParallel measures decisions on one key from GOMAXPROCS
// goroutines at once: every library's worst contention.
func BenchmarkHotKeyParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			lim := newLimiter(b, c, ThroughputLimit, ThroughputPeriod)
			var errs errorCount
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var n int64
				defer func() { errs.n.Add(n) }()
				for pb.Next() {
					ok, err := admit(ctx, lim, hotKey)
					if err != nil {
						b.Error(err)
						return
					}
					if !ok {
						n++
					}
				}
			})
			errs.report(b)
		})
	}
}

// Benchmark100kKeysParallel measures decisions from GOMAXPROCS goroutines,
// each walking 100,000 keys that all exist already from a random start.
func Benchmark100kKeysParallel(b *testing.B) {
	ctx := context.Background()
	keys := manyKeys()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			lim := newLimiter(b, c, ThroughputLimit, ThroughputPeriod)
			for _, k := range keys {
				if ok, err := admit(ctx, lim, k); !ok || err != nil {
					b.Fatalf("creating key %s: admitted %v, %v", k, ok, err)
				}
			}
			var errs errorCount
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var n int64
				defer func() { errs.n.Add(n) }()
				i := rand.IntN(len(keys))
				for pb.Next() {
					ok, err := admit(ctx, lim, keys[i])
					if err != nil {
						b.Error(err)
						return
					}
					if !ok {
						n++
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
			errs.report(b)
		})
	}
}

// settledHeap returns HeapInuse once garbage collection has freed all it
// can. One GC is not enough: a store with a finalizer (ulule's memory
// store has one) survives the GC that runs its finalizer, and would
// otherwise be freed in the middle of the next measurement.
func settledHeap() uint64 {
	var m runtime.MemStats
	last := uint64(0)
	for range 10 {
		runtime.GC()
		runtime.Gosched() // let the finalizer goroutine run
		runtime.ReadMemStats(&m)
		if m.HeapInuse == last {
			break
		}
		last = m.HeapInuse
	}
	return m.HeapInuse
}

// BenchmarkBytesPerKey reports the heap each client costs: HeapInuse after
// a GC, once 1,000,000 distinct keys have made one request each under a
// limit of 10 per hour (so nothing expires), less HeapInuse before the
// limiter was made, per key. The key strings exist before the measurement,
// so a store that keeps them costs its map entry, not the bytes. Each
// iteration takes seconds: run it with -benchtime 1x.
func BenchmarkBytesPerKey(b *testing.B) {
	ctx := context.Background()
	keys := keyNames(BytesPerKeyKeys)
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				before := settledHeap()
				lim, err := c.New(BytesPerKeyLimit, time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					if ok, err := admit(ctx, lim, k); !ok || err != nil {
						b.Fatalf("key %s: admitted %v, %v", k, ok, err)
					}
				}
				after := settledHeap()
				perKey = (float64(after) - float64(before)) / BytesPerKeyKeys
				runtime.KeepAlive(lim)
				lim.Close()
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}
