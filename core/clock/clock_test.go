package clock_test

import (
	"sync"
	"testing"
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
	f.Set(start)
	if got := f.Now(); !got.Equal(start) {
		t.Errorf("Now() after Set = %v, want %v", got, start)
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
}
