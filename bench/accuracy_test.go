package bench

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// accuracyConfig is the limit of the accuracy races and of the exact
// configuration checks: 100 per hour, a burst of 100.
var accuracyConfig = Config{N: AccuracyLimit, Per: AccuracyPeriod, Burst: AccuracyLimit}

// raceResult is what one race admitted.
type raceResult struct {
	admitted int // requests allowed
	failed   int // decisions that returned an error
}

// race sends n requests for key from n goroutines that wait on one
// channel, closed once all of them are ready, so they are released
// together. Goroutine i asks lims[i%len(lims)]: with two limiters sharing
// one store, half the requests go to each instance.
func race(ctx context.Context, lims []Limiter, n int, key string) raceResult {
	var admitted, failed atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		lim := lims[i%len(lims)]
		done.Go(func() {
			ready.Done()
			<-start
			ok, err := lim.Allow(ctx, key)
			switch {
			case err != nil:
				failed.Add(1)
			case ok:
				admitted.Add(1)
			}
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return raceResult{admitted: int(admitted.Load()), failed: int(failed.Load())}
}

// reportRaces reports the admissions and errors of the races of one
// benchmark: the mean per race, which is the race's own count when the
// benchmark runs with -benchtime 1x.
func reportRaces(b *testing.B, races []raceResult) {
	var admitted, failed int
	for _, r := range races {
		admitted += r.admitted
		failed += r.failed
	}
	b.ReportMetric(float64(admitted)/float64(len(races)), "admitted")
	b.ReportMetric(float64(failed)/float64(len(races)), "errors")
}

// BenchmarkAccuracy races 1,000 requests for one key against a limit of
// 100 on one instance of each in-memory limiter, in real time, and reports
// how many were admitted. Run it with -benchtime 1x: each run is one race.
func BenchmarkAccuracy(b *testing.B) {
	ctx := context.Background()
	for _, c := range Memory {
		b.Run(c.Name, func(b *testing.B) {
			var races []raceResult
			for i := 0; b.Loop(); i++ {
				lim, err := c.New(accuracyConfig)
				if err != nil {
					b.Fatal(err)
				}
				races = append(races, race(ctx, []Limiter{lim}, AccuracyRequests, "race-"+strconv.Itoa(i)))
				lim.Close()
			}
			reportRaces(b, races)
		})
	}
}

// TestAccuracy runs the accuracy race once per in-memory limiter and logs
// what each admitted (go test -v shows it). Sluice, through each of its
// calls, must admit exactly the limit; the others are reported, not
// judged.
func TestAccuracy(t *testing.T) {
	for _, c := range Memory {
		t.Run(c.Name, func(t *testing.T) {
			lim := newLimiter(t, c, accuracyConfig)
			r := race(t.Context(), []Limiter{lim}, AccuracyRequests, "race")
			t.Logf("%s admitted %d of %d racing requests under a limit of %d (%d errors)",
				c.Name, r.admitted, AccuracyRequests, AccuracyLimit, r.failed)
			if strings.HasPrefix(c.Name, "sluice") && (r.admitted != AccuracyLimit || r.failed != 0) {
				t.Errorf("sluice admitted %d with %d errors, want exactly %d and no error", r.admitted, r.failed, AccuracyLimit)
			}
		})
	}
}

// TestContendersAdmitTheLimit checks that every in-memory limiter is
// configured to the same limit: 150 requests in a row for one key, then
// one for another key, admit exactly 100 and then 1.
func TestContendersAdmitTheLimit(t *testing.T) {
	ctx := t.Context()
	for _, c := range Memory {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			lim := newLimiter(t, c, accuracyConfig)
			admitted := 0
			for range AccuracyLimit + 50 {
				ok, err := lim.Allow(ctx, "serial")
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					admitted++
				}
			}
			if got, want := admitted, AccuracyLimit; got != want {
				t.Errorf("admitted %d of %d serial requests, want %d", got, AccuracyLimit+50, want)
			}
			if ok, err := lim.Allow(ctx, "other"); err != nil || !ok {
				t.Errorf("another key: Allow = %v, %v; want true, nil", ok, err)
			}
		})
	}
}

// TestContendersUnderTheUserLimit checks that every in-memory limiter,
// configured as the throughput workloads configure it (100 per second,
// burst 100) and on the real clock, admits and denies as that limit says:
// one goroutine asking for one key as fast as it can for 900ms gets at
// least 100 admissions (the burst, or the first window) and at most 200
// (the burst and 90 refilled tokens for a token bucket; at most two
// windows' worth for a fixed or sliding window), and is denied the rest;
// another key is then admitted at once.
func TestContendersUnderTheUserLimit(t *testing.T) {
	const span = 900 * time.Millisecond
	ctx := t.Context()
	for _, c := range Memory {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			lim := newLimiter(t, c, userConfig)
			var admitted, denied, failed int
			for start := time.Now(); time.Since(start) < span; {
				ok, err := lim.Allow(ctx, "hot")
				switch {
				case err != nil:
					failed++
				case ok:
					admitted++
				default:
					denied++
				}
			}
			t.Logf("%s: %d admitted, %d denied, %d errors in %v", c.Name, admitted, denied, failed, span)
			if admitted < UserBurst || admitted > UserLimit+UserBurst {
				t.Errorf("admitted %d in %v, want %d to %d", admitted, span, UserBurst, UserLimit+UserBurst)
			}
			if denied == 0 {
				t.Errorf("denied nothing in %v of a hot key (%d admitted)", span, admitted)
			}
			if failed > 0 {
				t.Errorf("%d decisions failed", failed)
			}
			if ok, err := lim.Allow(ctx, "other"); err != nil || !ok {
				t.Errorf("another key: Allow = %v, %v; want true, nil", ok, err)
			}
		})
	}
}
