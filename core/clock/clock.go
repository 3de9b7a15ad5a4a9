// Package clock provides the time source that every part of Sluice reads.
//
// Everything in Sluice that needs the current time, or needs to wait, takes
// a [Clock], so that tests and conformance suites can run on a [Fake] clock
// and be exact without sleeping. Production code uses [Real].
package clock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the current time and waits. Implementations must be safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d to pass on this clock, or for ctx to end, and
	// returns ctx.Err() in that case. A d of 0 or less returns at once.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the system clock: the wall clock, as [time.Now] reads it, and a
// [time.Timer].
var Real Clock = realClock{}

type realClock struct{}

// Now returns the wall-clock time with its monotonic reading, as time.Now
// does, at the cost of one clock read rather than two: it adds the
// monotonic time elapsed since a reading of both, taken at most a second
// ago. The wall clock and the monotonic clock advance at the same rate
// (NTP slews both), so the two differ only after the wall clock is set,
// and then for at most a second.
func (realClock) Now() time.Time {
	b := realBase.Load()
	if d := time.Since(*b); d >= 0 && d < time.Second {
		return b.Add(d)
	}
	t := time.Now()
	realBase.Store(&t)
	return t
}

// realBase is the last reading of both clocks.
var realBase = func() *atomic.Pointer[time.Time] {
	var p atomic.Pointer[time.Time]
	t := time.Now()
	p.Store(&t)
	return &p
}()

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fake is a manually driven clock for tests: its time moves only when
// Advance moves it, which also wakes the sleepers whose time has come.
// Create one with [NewFake]. A Fake is safe for concurrent use.
type Fake interface {
	Clock
	// Advance moves the clock forward by d (backward if d is negative),
	// wakes the sleepers whose time has come, and returns the new time.
	Advance(d time.Duration) time.Time
	// Sleepers returns the number of goroutines blocked in Sleep, so that
	// a test can wait until the code under test is asleep before it
	// moves the clock.
	Sleepers() int
}

// NewFake returns a Fake clock that reads t, in UTC, until it is moved.
func NewFake(t time.Time) Fake {
	f := &fake{}
	f.ns.Store(t.UnixNano())
	return f
}

type fake struct {
	ns       atomic.Int64 // Unix nanoseconds
	mu       sync.Mutex
	sleepers []sleeper
}

type sleeper struct {
	until int64
	wake  chan struct{}
}

func (f *fake) Now() time.Time { return time.Unix(0, f.ns.Load()).UTC() }

func (f *fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.ns.Add(int64(d))
	f.wake(now)
	return time.Unix(0, now).UTC()
}

func (f *fake) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	f.mu.Lock()
	s := sleeper{until: f.ns.Load() + int64(d), wake: make(chan struct{})}
	f.sleepers = append(f.sleepers, s)
	f.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, o := range f.sleepers {
			if o.wake == s.wake {
				f.sleepers = append(f.sleepers[:i], f.sleepers[i+1:]...)
				return ctx.Err()
			}
		}
		return nil // woken as ctx ended: the time did come
	}
}

func (f *fake) Sleepers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sleepers)
}

// wake wakes the sleepers due at now. The caller holds f.mu.
func (f *fake) wake(now int64) {
	kept := f.sleepers[:0]
	for _, s := range f.sleepers {
		if s.until <= now {
			close(s.wake)
		} else {
			kept = append(kept, s)
		}
	}
	clear(f.sleepers[len(kept):])
	f.sleepers = kept
}
