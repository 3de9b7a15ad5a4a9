package clock_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f := clock.NewFake(start)
	if got := f.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	if got, want := f.Advance(1500*time.Millisecond), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Errorf("Advance() = %v, want %v", got, want)
	}
	if got, want := f.Now(), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Errorf("Now() after Advance = %v, want %v", got, want)
	}
	f.Advance(-1500 * time.Millisecond)
	if got := f.Now(); !got.Equal(start) {
		t.Errorf("Now() after Advance back = %v, want %v", got, start)
	}
}

func TestFakeConcurrentAdvance(t *testing.T) {
	start := time.Unix(0, 0)
	f := clock.NewFake(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				f.Advance(time.Nanosecond)
			}
		})
	}
	wg.Wait()
	if got, want := f.Now().Sub(start), 8000*time.Nanosecond; got != want {
		t.Errorf("elapsed = %v, want %v", got, want)
	}
}

func TestReal(t *testing.T) {
	before := time.Now()
	got := clock.Real.Now()
	if got.Before(before) {
		t.Errorf("Real.Now() = %v, before %v", got, before)
	}
	// Its wall-clock reading, derived from the monotonic clock, agrees
	// with the wall clock's: within NTP's slew over the second since the
	// last reading of both (at most 500µs), and a margin.
	for range 10_000 {
		w1 := time.Now().Round(0)
		g := clock.Real.Now().Round(0)
		w2 := time.Now().Round(0)
		if g.Before(w1.Add(-time.Millisecond)) || g.After(w2.Add(time.Millisecond)) {
			t.Fatalf("Real.Now() = %v, between wall-clock readings %v and %v", g, w1, w2)
		}
	}
}

func TestFakeSleep(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- f.Sleep(t.Context(), time.Second) }()
	for f.Sleepers() == 0 {
		runtime.Gosched()
	}
	f.Advance(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Sleep(1s) returned %v after 999ms", err)
	default:
	}
	f.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Errorf("Sleep = %v, want nil", err)
	}
	if n := f.Sleepers(); n != 0 {
		t.Errorf("Sleepers() = %d after the sleeper woke, want 0", n)
	}
	if err := f.Sleep(t.Context(), 0); err != nil {
		t.Errorf("Sleep(0) = %v, want nil at once", err)
	}
}

func TestFakeSleepCanceled(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Sleep(ctx, time.Hour) }()
	for f.Sleepers() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep = %v, want context.Canceled", err)
	}
	if n := f.Sleepers(); n != 0 {
		t.Errorf("Sleepers() = %d after the sleeper gave up, want 0", n)
	}
}

func TestRealSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := clock.Real.Sleep(t.Context(), time.Minute); err != nil {
			t.Fatalf("Sleep = %v", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("slept %v, want 1m", got)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := clock.Real.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sleep past the deadline = %v, want context.DeadlineExceeded", err)
		}
	})
}
