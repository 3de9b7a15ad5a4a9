// Package clock provides the time source that every part of Sluice reads.
//
// Everything in Sluice that needs the current time takes a [Clock], so that
// tests and conformance suites can run on a [Fake] clock and be exact without
// sleeping. Production code uses [Real].
package clock

import (
	"sync/atomic"
	"time"
)

// Clock tells the current time. Implementations must be safe for concurrent
// use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// Real is the system clock: [time.Now].
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Fake is a manually driven clock for tests. Its time only moves when
// [Fake.Advance] or [Fake.Set] is called. The zero value is not usable; create
// one with [NewFake]. A Fake is safe for concurrent use.
type Fake struct {
	ns atomic.Int64 // Unix nanoseconds
}

// NewFake returns a Fake clock that reads t until it is moved.
func NewFake(t time.Time) *Fake {
	f := &Fake{}
	f.ns.Store(t.UnixNano())
	return f
}

// Now returns the fake clock's current time, in UTC.
func (f *Fake) Now() time.Time { return time.Unix(0, f.ns.Load()).UTC() }

// Advance moves the clock forward by d (backward if d is negative) and
// returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	return time.Unix(0, f.ns.Add(int64(d))).UTC()
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) { f.ns.Store(t.UnixNano()) }
