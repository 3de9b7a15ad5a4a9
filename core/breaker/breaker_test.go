package breaker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/breaker"
)

var _ core.Breaker = (*breaker.Breaker)(nil)

var errDown = errors.New("down")

// call runs one guarded call that fails when fail is set, and reports
// whether the breaker let it through.
func call(b *breaker.Breaker, fail bool) bool {
	done, err := b.Allow()
	if err != nil {
		if !breaker.IsOpen(err) {
			panic(err)
		}
		return false
	}
	if fail {
		done(errDown)
	} else {
		done(nil)
	}
	return true
}

func TestConsecutiveFailuresOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.WithConsecutiveFailures(3), breaker.WithFailureRatio(0, 0), breaker.WithCoolDown(time.Second))
		for i := range 3 {
			if !call(b, true) {
				t.Fatalf("call %d refused before the threshold", i)
			}
		}
		if call(b, false) || b.State() != breaker.StateOpen {
			t.Fatalf("after 3 failures: state %v, want open and refusing", b.State())
		}
		time.Sleep(time.Second + time.Millisecond)
		if b.State() != breaker.StateHalfOpen {
			t.Fatalf("after the cool-down: %v, want half-open", b.State())
		}
		if !call(b, true) || b.State() != breaker.StateOpen {
			t.Fatalf("a failed probe: state %v, want open again", b.State())
		}
		time.Sleep(time.Second + time.Millisecond)
		if !call(b, false) || b.State() != breaker.StateClosed {
			t.Fatalf("a good probe: state %v, want closed", b.State())
		}
	})
}

func TestFailureRatioOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New(breaker.WithConsecutiveFailures(100), breaker.WithFailureRatio(0.5, 10))
		// Alternate: never 2 failures in a row, but half of all calls fail.
		for i := range 10 {
			call(b, i%2 == 1)
		}
		if b.State() != breaker.StateOpen {
			t.Errorf("after 5 of 10 failing: %v, want open", b.State())
		}
	})
}

func TestSuccessesKeepItClosed(t *testing.T) {
	b := breaker.New()
	for range 1000 {
		if !call(b, false) {
			t.Fatal("a healthy backend was refused")
		}
	}
	for range 4 {
		call(b, true)
	}
	if b.State() != breaker.StateClosed {
		t.Errorf("4 failures after 1000 successes: %v, want closed (default threshold 5)", b.State())
	}
}

func TestLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		b := breaker.New(breaker.WithName("redis"), breaker.WithConsecutiveFailures(1), breaker.WithCoolDown(time.Second),
			breaker.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
		call(b, true)
		time.Sleep(time.Second + time.Millisecond)
		call(b, false)
		out := buf.String()
		for _, want := range []string{"level=WARN msg=\"sluice: circuit breaker open\" breaker=redis from=closed to=open",
			"level=WARN msg=\"sluice: circuit breaker half-open\"", "level=INFO msg=\"sluice: circuit breaker closed\""} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

// downBackend fails every call, as an unreachable Redis does.
type downBackend struct{}

func (downBackend) Apply(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, errDown
}
func (downBackend) Release(context.Context, backend.Request) error   { return errDown }
func (downBackend) Settle(context.Context, backend.Settlement) error { return errDown }
func (downBackend) Reset(context.Context, string, string) error      { return errDown }

// TestLimiterGivesItsLogger: a breaker built without WithLogger and given
// to a Limiter with a logger logs its transitions there; one with a logger
// of its own keeps it.
func TestLimiterGivesItsLogger(t *testing.T) {
	for _, own := range []bool{false, true} {
		var limiterLog, breakerLog bytes.Buffer
		opts := []breaker.Option{breaker.WithName("redis"), breaker.WithConsecutiveFailures(2)}
		if own {
			opts = append(opts, breaker.WithLogger(slog.New(slog.NewTextHandler(&breakerLog, nil))))
		}
		lim, err := core.New(core.WithDefault(core.PerMinute(10)), core.WithBackend(downBackend{}),
			core.WithBreaker(breaker.New(opts...)), core.WithLogger(slog.New(slog.NewTextHandler(&limiterLog, nil))))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if d, err := lim.Decide(t.Context(), core.Request{Method: "GET", Path: "/", RemoteAddr: "192.0.2.1:1"}); err != nil || d.Outcome != core.FailOpen {
				t.Fatalf("Decide = %v, %v; want fail-open", d.Outcome, err)
			}
		}
		lim.Close()
		want, other := &limiterLog, &breakerLog
		if own {
			want, other = &breakerLog, &limiterLog
		}
		if !strings.Contains(want.String(), "sluice: circuit breaker open") || strings.Contains(other.String(), "circuit breaker") {
			t.Errorf("own logger %v: the transition went to the wrong log:\nwanted in: %s\nother: %s", own, want, other)
		}
	}
}
