package sluiceredis

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// hotKeyModes are the two ways three instances decide on one hot key:
// one backend call per decision, and token leasing (core.Rule.Prefetch).
var hotKeyModes = []struct {
	name     string
	prefetch time.Duration
}{
	{"per-call", 0},
	{"prefetch", 100 * time.Millisecond},
}

// hotKeyRun has three instances, each a Limiter on its own client as three
// processes would have, decide on one key of a rule of alg and limit
// against one redis-server, on the server's clock, from callers goroutines
// in all, until each has decided perCaller times (or, when perCaller is
// 0, for as long as b runs). It returns the decisions, the admissions and
// the time taken, and checks the admissions against the limit: at most
// its capacity plus its rate over that time (a fixed window's count can
// restart once more, in the window the run ends in).
func hotKeyRun(tb testing.TB, addr string, alg backend.Algorithm, prefetch time.Duration, limit core.Limit, callers, perCaller int, b *testing.B) (decided, admitted int64, took time.Duration) {
	rule := core.Rule{Name: "hot", NameOnly: true, Algorithm: alg, Limits: []core.Limit{limit}, Prefetch: prefetch}
	var lims [3]*core.Limiter
	for i := range lims {
		// A closed loop of callers on two cores starves the goroutine
		// waiting for a lease's reply; a long timeout keeps that from
		// failing decisions open.
		lim, err := core.New(core.WithBackend(New(newClient(tb, addr))), core.WithRules(rule), core.WithFailure(core.Failure{Timeout: 5 * time.Second}))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { lim.Close() })
		lims[i] = lim
	}
	key := fmt.Sprintf("hot-%d", time.Now().UnixNano())
	var nd, na atomic.Int64
	decide := func(lim *core.Limiter) {
		d, err := lim.Take(tb.Context(), "hot", key, 1)
		switch {
		case err != nil || d.Outcome != core.Allowed && d.Outcome != core.Denied:
			tb.Errorf("Take: %v %v (%v)", d.Outcome, err, d.Err)
		case d.Outcome == core.Allowed:
			na.Add(1)
		}
		nd.Add(1)
	}
	start := time.Now()
	if b != nil {
		var next atomic.Int64
		b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			lim := lims[next.Add(1)%3]
			for pb.Next() {
				decide(lim)
			}
		})
		b.StopTimer()
	} else {
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				for range perCaller {
					decide(lims[i%3])
				}
			})
		}
		wg.Wait()
	}
	took = time.Since(start)
	capa := limit.N
	if limit.Burst > 0 {
		capa = limit.Burst
	}
	if alg != backend.TokenBucket {
		capa = 2 * limit.N // the windows the run started and ended in
	}
	if most := capa + int64(float64(limit.N)*took.Seconds()/limit.Per.Seconds()); na.Load() > most {
		tb.Errorf("admitted %d in %v, over the limit %v (at most %d)", na.Load(), took, limit, most)
	}
	return nd.Load(), na.Load(), took
}

// TestHotKeyThreeInstances: three instances on one hot key of a fixed
// window, per call and prefetching: neither admits more than the limit,
// and prefetching decides at least ten times as fast.
func TestHotKeyThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of load")
	}
	srv := redistest.Start(t)
	limit := core.Limit{N: 1_000_000, Per: time.Second}
	rates := map[string]float64{}
	for _, m := range hotKeyModes {
		perCaller := 200
		if m.prefetch > 0 {
			perCaller = 20_000
		}
		n, a, took := hotKeyRun(t, srv.Addr, backend.FixedWindow, m.prefetch, limit, 48, perCaller, nil)
		rates[m.name] = float64(n) / took.Seconds()
		t.Logf("%s: %d decisions in %v: %.0f decisions/s, %.0f admitted/s", m.name, n, took.Round(time.Millisecond), rates[m.name], float64(a)/took.Seconds())
	}
	if r := rates["prefetch"] / rates["per-call"]; r < 10 && !raceEnabled {
		t.Errorf("prefetching decides %.1fx as fast as one call per decision, want at least 10x", r)
	}
}

// BenchmarkHotKeyThreeInstances is TestHotKeyThreeInstances's load as a
// benchmark, with 48 callers and a limit the prefetching instances reach:
// it reports decisions/s and admitted/s, and fails if more than the limit
// was admitted.
func BenchmarkHotKeyThreeInstances(b *testing.B) {
	srv := redistest.Start(b)
	for _, tc := range []struct {
		alg   backend.Algorithm
		limit core.Limit
	}{
		// Far above what three instances decide: the key is hot for Redis,
		// not for its limit.
		{backend.FixedWindow, core.Limit{N: 10_000_000, Per: time.Second}},
		{backend.SlidingWindow, core.Limit{N: 10_000_000, Per: time.Second}},
		{backend.TokenBucket, core.Limit{N: 10_000_000, Per: time.Second}},
		// At its limit: a token bucket's units are spendable only while
		// the bucket has a backlog (lease.go).
		{backend.TokenBucket, core.Limit{N: 100_000, Per: time.Second}},
	} {
		for _, m := range hotKeyModes {
			b.Run(fmt.Sprintf("%v/limit=%d/%s", tc.alg, tc.limit.N, m.name), func(b *testing.B) {
				b.ReportAllocs()
				n, a, took := hotKeyRun(b, srv.Addr, tc.alg, m.prefetch, tc.limit, 48, 0, b)
				b.ReportMetric(float64(n)/took.Seconds(), "decisions/s")
				b.ReportMetric(float64(a)/took.Seconds(), "admitted/s")
			})
		}
	}
}
