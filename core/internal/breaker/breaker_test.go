package breaker

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

var errSlow = errors.New("i/o timeout")

type step struct {
	advance  time.Duration
	err      error // the call's outcome, when allowed
	canceled bool
	ok       bool // Allow's answer
	probe    bool
	state    string // after the call
}

func run(t *testing.T, threshold int, steps []step) {
	t.Helper()
	clk := clock.NewFake(time.Unix(0, 0))
	var changes []string
	b := New(clk, threshold, 100*time.Millisecond, 400*time.Millisecond, func(from, to string) { changes = append(changes, from+">"+to) })
	for i, s := range steps {
		clk.Advance(s.advance)
		ok, probe := b.Allow()
		if ok != s.ok || probe != s.probe {
			t.Fatalf("step %d: Allow() = %v, %v; want %v, %v (changes %v)", i, ok, probe, s.ok, s.probe, changes)
		}
		if ok {
			b.Done(probe, s.err, s.canceled)
		}
		if got := b.State(); got != s.state {
			t.Fatalf("step %d: state %s, want %s (changes %v)", i, got, s.state, changes)
		}
	}
}

func TestOpensAfterThreshold(t *testing.T) {
	run(t, 3, []step{
		{err: errSlow, ok: true, state: Closed},
		{err: nil, ok: true, state: Closed}, // a success resets the count
		{err: errSlow, ok: true, state: Closed},
		{err: errSlow, ok: true, state: Closed},
		{err: errSlow, ok: true, state: Open},
		{ok: false, state: Open},
		{advance: 99 * time.Millisecond, ok: false, state: Open},
		{advance: time.Millisecond, err: errSlow, ok: true, probe: true, state: Open}, // a failed probe: 200ms
		{advance: 199 * time.Millisecond, ok: false, state: Open},
		{advance: time.Millisecond, err: errSlow, ok: true, probe: true, state: Open},       // 400ms
		{advance: 400 * time.Millisecond, err: errSlow, ok: true, probe: true, state: Open}, // capped at 400ms
		{advance: 399 * time.Millisecond, ok: false, state: Open},
		{advance: time.Millisecond, err: nil, ok: true, probe: true, state: Closed},
		{err: errSlow, ok: true, state: Closed}, // the count starts over
	})
}

// TestOpensAtOnceWhenGone: an error saying the connection is gone opens the
// breaker on the first one.
func TestOpensAtOnceWhenGone(t *testing.T) {
	for _, err := range []error{syscall.ECONNREFUSED, fmt.Errorf("dial: %w", syscall.ECONNRESET), fmt.Errorf("read: %w", errors.Join(errSlow, syscall.EPIPE))} {
		run(t, 5, []step{
			{err: err, ok: true, state: Open},
			{ok: false, state: Open},
		})
	}
}

func TestOneProbeAtATime(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := New(clk, 1, time.Second, time.Second, nil)
	b.Allow()
	b.Done(false, errSlow, false)
	clk.Advance(time.Second)
	if ok, probe := b.Allow(); !ok || !probe {
		t.Fatalf("after the backoff: Allow() = %v, %v, want a probe", ok, probe)
	}
	if ok, _ := b.Allow(); ok {
		t.Fatal("a second call while the probe is in flight was allowed")
	}
	b.Done(true, nil, true) // the prober's caller went away: no verdict
	if ok, probe := b.Allow(); !ok || !probe {
		t.Fatalf("after a canceled probe: Allow() = %v, %v, want another probe at once", ok, probe)
	}
	b.Done(true, nil, false)
	if b.State() != Closed {
		t.Errorf("after a successful probe: %s, want closed", b.State())
	}
}

// TestCanceledCallsAreNoVerdict: a caller that went away says nothing about
// the backend.
func TestCanceledCallsAreNoVerdict(t *testing.T) {
	run(t, 2, []step{
		{err: context.Canceled, canceled: true, ok: true, state: Closed},
		{err: context.Canceled, canceled: true, ok: true, state: Closed},
		{err: errSlow, ok: true, state: Closed},
		{err: errSlow, ok: true, state: Open},
	})
}
