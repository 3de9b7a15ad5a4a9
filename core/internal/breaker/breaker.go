// Package breaker is the Limiter's circuit breaker around a remote
// backend: closed, it lets calls through and counts consecutive failures;
// open, it fails calls at once; after a backoff it lets one probe through,
// which closes it or opens it again for a longer backoff.
//
// It reads time from a clock.Clock, so tests drive it exactly, and it
// allocates nothing per call.
package breaker

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

// The states, as reported to OnChange.
const (
	Closed   = "closed"
	Open     = "open"
	HalfOpen = "half_open"
)

// Breaker is a circuit breaker. The zero value is not usable; create one
// with New.
type Breaker struct {
	clk       clock.Clock
	threshold int
	first     time.Duration
	most      time.Duration
	onChange  func(from, to string)

	mu        sync.Mutex
	state     string
	failures  int           // consecutive, while closed
	backoff   time.Duration // the current open period
	openUntil time.Time
	probing   bool // a half-open probe is in flight
}

// New returns a closed breaker that opens after threshold consecutive
// failures, or at once on an error saying the connection is gone; stays open
// for first, then lets one probe through; and doubles the open period after
// each failed probe, up to most. onChange, if not nil, is called on every
// state change, with the breaker's lock held: it must not call the breaker.
func New(clk clock.Clock, threshold int, first, most time.Duration, onChange func(from, to string)) *Breaker {
	return &Breaker{clk: clk, threshold: max(1, threshold), first: first, most: max(first, most), onChange: onChange, state: Closed}
}

// Allow reports whether a call may go ahead, and whether it is the probe
// of a half-open breaker. Every allowed call must be followed by Done.
func (b *Breaker) Allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state == Closed:
		return true, false
	case b.probing || b.clk.Now().Before(b.openUntil):
		return false, false
	}
	b.probing = true
	b.set(HalfOpen)
	return true, true
}

// Done reports the outcome of an allowed call: err is nil for a success.
// canceled says that the caller went away, which says nothing about the
// backend: a probe is then given back for the next call.
func (b *Breaker) Done(probe bool, err error, canceled bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch {
		case canceled:
			b.set(Open) // the next call probes again
		case err == nil:
			b.failures, b.backoff = 0, 0
			b.set(Closed)
		default:
			b.open(min(2*b.backoff, b.most))
		}
		return
	}
	if b.state != Closed || canceled {
		return // a call from before the breaker opened, or no information
	}
	if err == nil {
		b.failures = 0
		return
	}
	if b.failures++; b.failures >= b.threshold || gone(err) {
		b.open(b.first)
	}
}

// State returns the current state.
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *Breaker) open(d time.Duration) {
	b.failures, b.backoff = 0, max(d, b.first)
	b.openUntil = b.clk.Now().Add(b.backoff)
	b.set(Open)
}

func (b *Breaker) set(s string) {
	if s == b.state {
		return
	}
	from := b.state
	b.state = s
	if b.onChange != nil {
		b.onChange(from, s)
	}
}

// gone reports whether err says that the connection is gone rather than
// slow: refused, reset, closed. Such a backend fails every call at once
// until it is back, so the breaker opens on the first one instead of
// letting more decisions find out one by one.
func gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE)
}
