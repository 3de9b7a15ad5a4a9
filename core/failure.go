package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

// FailureMode says what a Limiter decides when its backend fails: an error,
// a timeout, or an open circuit breaker.
type FailureMode uint8

// The failure modes.
const (
	// FailModeInherit, on a Rule, uses the Limiter's failure mode. On the
	// Limiter it means FailModeOpen.
	FailModeInherit FailureMode = iota
	// FailModeOpen lets requests through unlimited while the backend fails
	// (the FailOpen outcome): availability over protection. It is the
	// default.
	FailModeOpen
	// FailModeClosed rejects requests while the backend fails (the
	// FailClosed outcome, a 503 in the HTTP adapters): protection over
	// availability.
	FailModeClosed
	// FailModeLocal decides with an in-process memory backend and the same
	// rules while the backend fails, so limits keep holding per instance
	// (each limit divided by WithLocalDivisor). Decisions say Local.
	FailModeLocal
)

var failureNames = [...]string{"inherit", "open", "closed", "local"}

// String returns "inherit", "open", "closed" or "local".
func (m FailureMode) String() string {
	if int(m) < len(failureNames) {
		return failureNames[m]
	}
	return fmt.Sprintf("FailureMode(%d)", uint8(m))
}

// ParseFailureMode returns the mode whose String is s.
func ParseFailureMode(s string) (FailureMode, error) {
	for i, n := range failureNames {
		if n == s {
			return FailureMode(i), nil
		}
	}
	return 0, fmt.Errorf("sluice: unknown failure mode %q (want open, closed or local)", s)
}

// Breaker is a circuit breaker around backend calls. Allow reports whether a
// call may go ahead (an error means the circuit is open: fail at once) and
// returns a function to report the call's outcome, nil for success. The
// two-step breaker of github.com/sony/gobreaker/v2 implements it; package
// core/breaker builds one with sensible defaults.
//
// A Breaker that also has a method SetDefaultLogger(*slog.Logger), as
// core/breaker's has, is given the Limiter's logger (WithLogger) for its
// state changes, so that they are logged wherever decisions are.
type Breaker interface {
	Allow() (done func(err error), err error)
}

// DefaultBackendTimeout bounds each call to a backend other than the
// in-memory one, unless WithBackendTimeout says otherwise.
const DefaultBackendTimeout = 50 * time.Millisecond

// WithFailureMode sets what the Limiter decides when the backend fails; a
// Rule's FailureMode overrides it. The default is FailModeOpen.
func WithFailureMode(m FailureMode) Option {
	return optionFunc(func(c *config) { c.failure = m })
}

// WithBackendTimeout bounds each backend call of a decision; a call that
// takes longer fails and the failure mode applies. It has no effect on the
// in-memory backend, which never waits. 0 leaves only the caller's context.
// The default is DefaultBackendTimeout.
func WithBackendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeout = &d })
}

// WithBreaker puts a circuit breaker around backend calls: while it is open,
// decisions fail at once (and the failure mode applies) instead of waiting on
// a dead backend. See package core/breaker. The default is none.
func WithBreaker(b Breaker) Option {
	return optionFunc(func(c *config) { c.breaker = b })
}

// WithLocalDivisor divides every limit by n, rounding up, when FailModeLocal
// decides locally: with n instances each admitting its share, the service as
// a whole stays near its limits while the shared backend is down. The
// default, 1, keeps the limits as configured.
func WithLocalDivisor(n int) Option {
	return optionFunc(func(c *config) { c.localDivisor = max(1, n) })
}

// WithDenyCache turns the local deny cache on or off. Once the backend denies
// a client until time T, the Limiter denies that client's requests of the
// same or larger cost locally until T, without a backend round trip, so a
// client flooding a limit costs about one backend call per retry period. It
// never admits a request: it can only deny one the backend would also deny
// (or, after an operator's Reset or a raised limit, one it would now admit,
// until T). Concurrency and shadow rules bypass it. It is on by default for
// every backend but the in-memory one, where it would only add work.
func WithDenyCache(on bool) Option {
	return optionFunc(func(c *config) { c.denyCache = &on })
}

// Ping checks the backend's health and returns the round-trip time. It
// returns nil for a backend that cannot be pinged, such as the in-memory
// one. Use it from a readiness endpoint.
func (l *Limiter) Ping(ctx context.Context) (time.Duration, error) {
	p, ok := l.backend.(backend.Pinger)
	if !ok {
		return 0, nil
	}
	start := time.Now()
	err := p.Ping(ctx)
	l.observeBackend(l.backendName(), "ping", start, err)
	if err != nil {
		return time.Since(start), fmt.Errorf("%w: ping: %w", ErrBackendUnavailable, err)
	}
	return time.Since(start), nil
}

// remote reports whether b is a backend that may wait or fail: anything but
// the in-memory backend.
func remote(b backend.Backend) bool {
	_, isMemory := b.(*memory.Backend)
	return !isMemory
}

// apply runs req on the backend with the breaker and the timeout.
func (l *Limiter) apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if !l.remote {
		if l.watch == nil {
			return l.backend.Apply(ctx, req)
		}
		start := time.Now()
		res, err := l.backend.Apply(ctx, req)
		l.observeBackend(l.watch.name, "apply", start, err)
		return res, err
	}
	start := time.Now()
	res, err := l.applyRemote(ctx, req)
	l.observeBackend(l.backendName(), "apply", start, err)
	return res, err
}

// backendName names the shared backend for metrics and logs.
func (l *Limiter) backendName() string {
	if l.watch != nil {
		return l.watch.name
	}
	return backendName(l.backend)
}

// applyRemote calls a backend that may wait or fail, through the breaker and
// with the timeout.
func (l *Limiter) applyRemote(ctx context.Context, req backend.Request) (backend.Result, error) {
	var done func(error)
	if l.breaker != nil {
		var err error
		if done, err = l.breaker.Allow(); err != nil {
			return backend.Result{}, fmt.Errorf("circuit breaker: %w", err)
		}
	}
	callCtx := ctx
	if l.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	res, err := l.backend.Apply(callCtx, req)
	if done != nil {
		if ctx.Err() != nil {
			done(nil) // a caller that went away says nothing about the backend
		} else {
			done(err)
		}
	}
	if err != nil && callCtx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("timed out after %v: %w", l.timeout, err)
	}
	return res, err
}

// failure turns a backend error into a decision according to the rule's
// failure mode.
func (l *Limiter) failure(ctx context.Context, d *Decision, rule *compiledRule, req backend.Request, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		*d = Decision{}
		return ctxErr
	}
	d.Err = fmt.Errorf("%w: %w", ErrBackendUnavailable, err)
	mode := rule.Failure
	if mode == FailModeInherit {
		mode = l.failureMode
	}
	switch mode {
	case FailModeLocal:
		if l.local != nil {
			limits, windows := localLimits(rule, l.localDivisor)
			req.Windows = windows
			start := time.Now()
			res, lerr := l.local.Apply(ctx, req)
			l.observeBackend("local", "apply", start, lerr)
			if lerr == nil {
				d.Local = true
				d.fill(limits, &res)
				l.outcome(d, rule, &res, &req)
				return nil
			}
		}
		d.Outcome = FailOpen
	case FailModeClosed:
		d.Outcome = FailClosed
	default:
		d.Outcome = FailOpen
	}
	d.Limit, d.Remaining = rule.windows[0].Limit, -1
	return nil
}

// localLimits returns the rule's limits and windows with each limit and
// burst divided by n, rounding up.
func localLimits(rule *compiledRule, n int) ([]Limit, []backend.Window) {
	if n <= 1 {
		return rule.Limits, rule.windows
	}
	limits := make([]Limit, len(rule.Limits))
	windows := make([]backend.Window, len(rule.windows))
	div := func(v int64) int64 { return (v + int64(n) - 1) / int64(n) }
	for i, l := range rule.Limits {
		l.N, l.Burst = div(l.N), div(l.Burst)
		limits[i] = l
		w := rule.windows[i]
		windows[i] = backend.Window{Limit: div(w.Limit), Period: w.Period, Burst: div(w.Burst)}
	}
	return limits, windows
}
