package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// userConfig is the limit of the throughput workloads.
var userConfig = Config{N: UserLimit, Per: UserPeriod, Burst: UserBurst}

// keyNames returns the first n client keys.
func keyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = keyName(i)
	}
	return keys
}

// keySet is the keys of a many-keys workload: create, in the order their
// state is created, and walk, the same keys in the order the workload asks
// about them.
type keySet struct{ create, walk []string }

// newKeySet returns the keys name(0) to name(n-1). Unless shuffled, walk
// is create. Shuffled, walk is a random permutation (the same in every
// run), as a service's clients come back in an order unrelated to the one
// they first came in: a store that allocates each key's state when it
// first sees it then finds it wherever that put it, not next to the state
// of the key asked before. The strings of walk are allocated in walk
// order, so that reading the next key costs what reading a key a request
// has just brought does, and the key strings the stores keep are
// create's.
func newKeySet(n int, name func(int) string, shuffled bool) keySet {
	create := make([]string, n)
	for i := range create {
		create[i] = name(i)
	}
	if !shuffled {
		return keySet{create, create}
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	walk := make([]string, n)
	for j, i := range order {
		walk[j] = name(i)
	}
	return keySet{create, walk}
}

// manyKeys are the keys of Benchmark100kKeysParallel, and inOrder those of
// Benchmark100kKeysInOrder.
var (
	manyKeys = sync.OnceValue(func() keySet { return newKeySet(ManyKeys, keyName, true) })
	inOrder  = sync.OnceValue(func() keySet { return newKeySet(ManyKeys, keyName, false) })
)

// newLimiter returns c's limiter for cfg, closed when tb ends.
func newLimiter(tb testing.TB, c Contender, cfg Config) Limiter {
	tb.Helper()
	lim, err := c.New(cfg)
	if err != nil {
		tb.Fatalf("%s: %v", c.Name, err)
	}
	tb.Cleanup(func() { lim.Close() })
	return lim
}

// tally counts what the decisions of one benchmark decided: admissions,
// reported as admitted/op, and decisions a library could not make (it
// returned an error), reported as errors/op. Only throttled fails here: its
// compare-and-swap gives up after 10 conflicts on a hot key. Denials are
// the rest. It also reports the CPU time the process used per decision,
// cpu-ns/op: on a machine shared with other work, time spent waiting for a
// core inflates ns/op but not cpu-ns/op. Start it where timing starts.
type tally struct {
	admitted, errors atomic.Int64
	cpu              time.Duration
	cpuOK            bool
}

func (t *tally) start() { t.cpu, t.cpuOK = CPUTime() }

// local is one goroutine's count, added to the tally once at its end.
type local struct{ admitted, errors int64 }

func (l *local) count(ok bool, err error) {
	switch {
	case err != nil:
		l.errors++
	case ok:
		l.admitted++
	}
}

func (t *tally) add(l local) {
	t.admitted.Add(l.admitted)
	t.errors.Add(l.errors)
}

func (t *tally) report(b *testing.B) {
	if end, ok := CPUTime(); ok && t.cpuOK {
		b.ReportMetric(float64(end-t.cpu)/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(t.admitted.Load())/float64(b.N), "admitted/op")
	b.ReportMetric(float64(t.errors.Load())/float64(b.N), "errors/op")
}

// BenchmarkHotKeySerial measures one decision on one key from one
// goroutine, under the user-shaped limit: after the first burst, nearly
// every decision is a denial.
func BenchmarkHotKeySerial(b *testing.B) {
	ctx := context.Background()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			lim := newLimiter(b, c, userConfig)
			var t tally
			var l local
			b.ReportAllocs()
			t.start()
			for b.Loop() {
				l.count(lim.Allow(ctx, hotKey))
			}
			t.add(l)
			t.report(b)
		})
	}
}

// BenchmarkHotKeyParallel measures decisions on one key from GOMAXPROCS
// goroutines at once: every library's worst contention.
func BenchmarkHotKeyParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			lim := newLimiter(b, c, userConfig)
			var t tally
			b.ReportAllocs()
			t.start()
			b.RunParallel(func(pb *testing.PB) {
				var l local
				for pb.Next() {
					l.count(lim.Allow(ctx, hotKey))
				}
				t.add(l)
			})
			t.report(b)
		})
	}
}

// Benchmark100kKeysParallel measures decisions from GOMAXPROCS goroutines,
// each walking 100,000 keys that all exist already, in a random order (see
// newKeySet), from a random start. Each key is asked about once per 100,000 decisions,
// so whether it is admitted depends on how fast the library goes: near the
// limit of 100 per second per key at 10 million decisions per second.
func Benchmark100kKeysParallel(b *testing.B) {
	manyKeysParallel(b, Memory, userConfig, manyKeys())
}

// Benchmark100kKeysInOrder is Benchmark100kKeysParallel with the keys asked
// in the order their state was created, the order in which a store that
// allocates per key laid that state out in memory: its best case, which
// shows how much each library owes to locality.
func Benchmark100kKeysInOrder(b *testing.B) {
	manyKeysParallel(b, Memory, userConfig, inOrder())
}

// manyKeysParallel runs the many-keys workload for each contender.
func manyKeysParallel(b *testing.B, contenders []Contender, cfg Config, keys keySet) {
	for _, c := range contenders {
		b.Run(c.Name, func(b *testing.B) { manyKeysOne(b, c, cfg, keys) })
	}
}

// manyKeysOne is the many-keys workload: every key is created first, then
// GOMAXPROCS goroutines walk keys from a random start.
func manyKeysOne(b *testing.B, c Contender, cfg Config, ks keySet) {
	ctx := context.Background()
	lim := newLimiter(b, c, cfg)
	for _, k := range ks.create {
		if _, err := lim.Allow(ctx, k); err != nil {
			b.Fatalf("creating key %s: %v", k, err)
		}
	}
	keys := ks.walk
	var t tally
	b.ReportAllocs()
	b.ResetTimer()
	t.start()
	b.RunParallel(func(pb *testing.PB) {
		var l local
		i := rand.IntN(len(keys))
		for pb.Next() {
			l.count(lim.Allow(ctx, keys[i]))
			if i++; i == len(keys) {
				i = 0
			}
		}
		t.add(l)
	})
	t.report(b)
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

// bytesPerKeyConfig is the limit of BenchmarkBytesPerKey: the user-shaped
// limit per hour, so that every key is live when the heap is measured (see
// BytesPerKeyPeriod), with the number of keys for Sluice's bounded store.
var bytesPerKeyConfig = Config{N: UserLimit, Per: BytesPerKeyPeriod, Burst: UserBurst, Keys: BytesPerKeyKeys}

// BenchmarkBytesPerKey reports the heap each client costs: HeapInuse after
// a GC, once 1,000,000 distinct keys have made one request each (each
// admitted), less HeapInuse before the limiter was made, per key. The key
// strings exist before the measurement, so a store that keeps them costs
// its map entry, not the bytes. Each iteration takes seconds: run it with
// -benchtime 1x.
func BenchmarkBytesPerKey(b *testing.B) {
	ctx := context.Background()
	keys := keyNames(BytesPerKeyKeys)
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				before := settledHeap()
				lim, err := c.New(bytesPerKeyConfig)
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					if ok, err := lim.Allow(ctx, k); !ok || err != nil {
						b.Fatalf("key %s, its first request: admitted %v, %v", k, ok, err)
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
