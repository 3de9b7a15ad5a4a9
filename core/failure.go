package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/breaker"
)

// Failure says what a Limiter does when its backend fails: when a call
// errs, times out, or finds the circuit breaker open. It applies to a
// backend that implements [backend.Remote], such as the Redis backend; the
// in-memory backend never waits or fails. The zero value is the default:
// fail open, 50ms per call, the circuit breaker and the deny cache on.
type Failure struct {
	// Mode is what a decision is when the backend fails; a Rule's Failure
	// overrides it:
	//
	//   - "open" (the default, or ""): the request goes through
	//     unlimited (the FailedOpen outcome): availability over
	//     protection;
	//   - "closed": the request is rejected (FailedClosed, a 503 in the
	//     HTTP adapters): protection over availability;
	//   - "local": an in-process memory backend decides with the same
	//     rules, so limits keep holding per instance (each limit divided
	//     by LocalDivisor); decisions say Local.
	Mode string

	// Timeout bounds each backend call of a decision; a call that takes
	// longer fails and Mode applies. 0 means 50ms; a negative Timeout
	// leaves only the caller's context.
	Timeout time.Duration

	// LocalDivisor divides every limit, rounding up, when "local" decides:
	// with n instances each admitting its share, the service as a whole
	// stays near its limits while the shared backend is down. 0 or 1
	// keeps the limits as configured.
	LocalDivisor int

	// BreakerFailures is the number of consecutive failed calls that opens
	// the circuit breaker: while it is open, decisions fail at once instead
	// of waiting on a dead backend. An error saying the connection is gone
	// (refused, reset, closed) opens it at once. 0 means 5; a negative
	// value turns the breaker off.
	BreakerFailures int

	// BreakerBackoff is how long the breaker stays open before it lets one
	// probe call through; each failed probe doubles it, up to eight times
	// it, and a successful probe closes the breaker. 0 means 50ms, so that
	// decisions are exact again within 400ms of the backend's return.
	BreakerBackoff time.Duration

	// NoDenyCache turns off the local deny cache. With it on (the default),
	// once the backend denies a client until time T, the Limiter denies
	// that client's requests of the same or larger cost locally until T,
	// without a backend call, so a client flooding a limit costs about one
	// backend call per retry period. It never admits a request: it can only
	// deny one the backend would also deny (or, after a raised limit or
	// an operator's Reset through another Limiter, one it would now admit,
	// until T; a Reset through this Limiter drops its entry). backend.Concurrency and
	// shadow rules bypass it.
	NoDenyCache bool
}

// WithFailure sets what the Limiter does when a remote backend fails; see
// [Failure] for each setting and its default.
func WithFailure(f Failure) Option {
	return optionFunc(func(c *config) { c.failure = f })
}

// failMode is a compiled failure mode.
type failMode uint8

const (
	failInherit failMode = iota // a rule's: the Limiter's mode
	failOpen
	failClosed
	failLocal
)

// parseFailMode reads a Failure.Mode or Rule.Failure.
func parseFailMode(s string) (failMode, bool) {
	switch s {
	case "":
		return failInherit, true
	case "open":
		return failOpen, true
	case "closed":
		return failClosed, true
	case "local":
		return failLocal, true
	}
	return 0, false
}

const (
	defaultTimeout         = 50 * time.Millisecond
	defaultBreakerFailures = 5
	defaultBreakerBackoff  = 50 * time.Millisecond
)

// newFailure checks f and sets up the Limiter's failure handling for a
// remote backend.
func (l *Limiter) newFailure(f Failure) error {
	mode, ok := parseFailMode(f.Mode)
	if !ok {
		return &ConfigError{Path: "failure.mode", Value: f.Mode, Err: errors.New(`want "open", "closed" or "local"`)}
	}
	if mode == failInherit {
		mode = failOpen
	}
	l.failureMode = mode
	l.localDivisor = max(1, f.LocalDivisor)
	switch {
	case f.Timeout == 0:
		l.timeout = defaultTimeout
	case f.Timeout > 0:
		l.timeout = f.Timeout
	}
	if !l.remote {
		return nil
	}
	if f.BreakerFailures >= 0 {
		n, backoff := f.BreakerFailures, f.BreakerBackoff
		if n == 0 {
			n = defaultBreakerFailures
		}
		if backoff <= 0 {
			backoff = defaultBreakerBackoff
		}
		name := l.backendName()
		l.breaker = breaker.New(l.clock, n, backoff, 8*backoff, func(from, to string) {
			if l.watch != nil {
				l.watch.obs.ObserveBreaker(name, to)
				l.logBreaker(name, from, to)
			}
		})
		if l.watch != nil {
			l.watch.obs.ObserveBreaker(name, breaker.Closed) // the starting state, for gauges
		}
	}
	if !f.NoDenyCache {
		l.denies = newDenyCache(defaultDenySize)
	}
	return nil
}

// isRemote reports whether b is a backend that may wait or fail.
func isRemote(b backend.Backend) bool {
	_, ok := b.(backend.Remote)
	return ok
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
		for range res.Evicted {
			l.watch.obs.ObserveBackend(l.watch.name, "evict", 0, nil)
		}
		return res, err
	}
	start := time.Now()
	var res backend.Result
	err := l.callRemote(ctx, func(ctx context.Context) (err error) {
		res, err = l.backend.Apply(ctx, req)
		return err
	})
	if err != errBreakerOpen { // a call the breaker refused reached no backend
		l.observeBackend(l.backendName(), "apply", start, err)
	}
	return res, err
}

// backendName names the shared backend for metrics and logs.
func (l *Limiter) backendName() string {
	if l.watch != nil {
		return l.watch.name
	}
	return backendName(l.backend)
}

// errBreakerOpen is the failure of a call the open circuit breaker refused.
var errBreakerOpen = errors.New("circuit breaker open")

// callRemote calls a backend that may wait or fail, through the breaker and
// with the timeout.
func (l *Limiter) callRemote(ctx context.Context, call func(context.Context) error) error {
	var probe bool
	if l.breaker != nil {
		var ok bool
		if ok, probe = l.breaker.Allow(); !ok {
			return errBreakerOpen
		}
	}
	callCtx := ctx
	if l.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	err := call(callCtx)
	if l.breaker != nil {
		// A caller that went away, or a key the backend could not serve
		// just now, says nothing about the backend's health.
		l.breaker.Done(probe, err, ctx.Err() != nil || errors.Is(err, backend.ErrKeyUnavailable))
	}
	if err != nil && callCtx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("timed out after %v: %w", l.timeout, err)
	}
	return err
}

// failure turns a backend error into a decision according to the rule's
// failure mode.
func (l *Limiter) failure(ctx context.Context, d *Decision, rule *compiledRule, req backend.Request, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		*d = Decision{}
		return ctxErr
	}
	d.Err = fmt.Errorf("%w: %w", ErrBackendUnavailable, err)
	mode := rule.failMode
	if mode == failInherit {
		mode = l.failureMode
	}
	switch mode {
	case failLocal:
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
		d.Outcome = FailedOpen
	case failClosed:
		d.Outcome = FailedClosed
	default:
		d.Outcome = FailedOpen
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
