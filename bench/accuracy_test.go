package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

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
				lim, err := c.New(AccuracyLimit, AccuracyPeriod)
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
// what each admitted (go test -v shows it). Sluice must admit exactly the
// limit; the others are reported, not judged.
func TestAccuracy(t *testing.T) {
	for _, c := range Memory {
		t.Run(c.Name, func(t *testing.T) {
			lim := newLimiter(t, c, AccuracyLimit, AccuracyPeriod)
			r := race(t.Context(), []Limiter{lim}, AccuracyRequests, "race")
			t.Logf("%s admitted %d of %d racing requests under a limit of %d (%d errors)",
				c.Name, r.admitted, AccuracyRequests, AccuracyLimit, r.failed)
			if c.Name == "sluice" && (r.admitted != AccuracyLimit || r.failed != 0) {
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
			lim := newLimiter(t, c, AccuracyLimit, AccuracyPeriod)
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
