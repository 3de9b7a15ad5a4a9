package core

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Observer receives what a Limiter does, for metrics and audit. Its methods
// are called synchronously on the request path: they must be fast (an
// atomic increment, not I/O: hand anything slower to a goroutine of your
// own) and safe for concurrent use. Package
// github.com/sluicehq/sluice/metrics implements it for Prometheus.
type Observer interface {
	// ObserveDecision is called once per decision Decide, Take or Wait
	// returns, with the request (for Take, a Request with only Rule and
	// Cost) and a copy of the decision whose Release and Settle do
	// nothing. The decision's Client is a client's identity: never use it
	// as a metric label.
	ObserveDecision(r Request, d Decision)
	// ObserveBackend is called after each backend call: backend is the
	// backend's name ("memory", "redis", ...; "local" for the fail-local
	// fallback), op is "apply", "settle", "release", "reset", or, for
	// rules with a Penalty, "penalty_check" and "penalty_record", and err
	// is nil on success. A bounded backend's eviction of another client's
	// state (backend.Result.Evicted) is reported as op "evict", with no
	// duration.
	ObserveBackend(backend, op string, took time.Duration, err error)
	// ObserveBreaker is called when the circuit breaker of a remote
	// backend changes state: to "open", "half_open" (one probe call) or
	// "closed".
	ObserveBreaker(backend, state string)
}

// WithObserver sends the Limiter's decisions, backend calls and breaker
// state changes to o. Observers add up: give WithObserver once per
// observer (Prometheus metrics, OpenTelemetry metrics, an admin API's
// recent denials) and each sees every call, in the order given. A nil o
// adds nothing. The default is none.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) {
		if o != nil {
			c.observers = append(c.observers, o)
		}
	})
}

// WithLogger logs what the Limiter does to logger: denials at Warn and
// shadow denials at Info, each at most once per client and rule until the
// denial lifts, so a flood of 429s, real or shadow, is one line; backend
// failures (fail-open, fail-closed, fail-local) at Error, each distinct rule
// and outcome at most once per second with a count of the repeats; circuit
// breaker state changes at Warn; errors no caller sees (a failed Release)
// and errors Decide returns instead of a decision (an identifier that
// failed) at Error, at most once per second; allowed decisions at Debug
// when that level is enabled. Attributes are rule, outcome, client
// ("kind:value": to hash it, give the handler a ReplaceAttr), method,
// route, limit, remaining and retry_after. The default logs nothing.
func WithLogger(logger *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = logger })
}

// watcher holds the Limiter's observability: observer and logger.
type watcher struct {
	obs      Observer
	log      *slog.Logger
	denials  *denyCache // reused as "denial logged until" memory
	failures sync.Map   // rule+outcome -> *failureLog
	name     string     // the backend's name
}

type failureLog struct {
	mu     sync.Mutex
	last   time.Time
	repeat int
}

// nopObserver stands in for a missing Observer when there is a logger.
type nopObserver struct{}

func (nopObserver) ObserveDecision(Request, Decision)                   {}
func (nopObserver) ObserveBackend(string, string, time.Duration, error) {}
func (nopObserver) ObserveBreaker(string, string)                       {}

// observers is several Observers given to one Limiter, called in order.
type observers []Observer

func (os observers) ObserveDecision(r Request, d Decision) {
	for _, o := range os {
		o.ObserveDecision(r, d)
	}
}

func (os observers) ObserveBackend(backend, op string, took time.Duration, err error) {
	for _, o := range os {
		o.ObserveBackend(backend, op, took, err)
	}
}

func (os observers) ObserveBreaker(backend, state string) {
	for _, o := range os {
		o.ObserveBreaker(backend, state)
	}
}

func newWatcher(cfg *config, b backend.Backend) *watcher {
	if len(cfg.observers) == 0 && cfg.logger == nil {
		return nil
	}
	w := &watcher{log: cfg.logger, name: backendName(b)}
	switch len(cfg.observers) {
	case 0:
		w.obs = nopObserver{}
	case 1:
		w.obs = cfg.observers[0] // no loop on the request path for the usual case
	default:
		w.obs = observers(slices.Clone(cfg.observers))
	}
	if w.log != nil {
		w.denials = newDenyCache(defaultDenySize)
	}
	return w
}

// backendName is a backend's name for metrics and logs: a Remote one names
// itself, the others are "memory".
func backendName(b backend.Backend) string {
	if r, ok := b.(backend.Remote); ok {
		return r.Name()
	}
	return "memory"
}

// observe reports one decision to the observer and the log.
func (l *Limiter) observe(ctx context.Context, r *Request, d *Decision) {
	w := l.watch
	if _, nop := w.obs.(nopObserver); !nop {
		rec := *d
		rec.release = releaser{} // the observer's copy releases and settles nothing
		w.obs.ObserveDecision(*r, rec)
	}
	if w.log != nil {
		l.logDecision(ctx, r, d)
	}
}

func (l *Limiter) logDecision(ctx context.Context, r *Request, d *Decision) {
	w := l.watch
	switch d.Outcome {
	case Denied:
		l.logDenial(ctx, slog.LevelWarn, "sluice: request denied", r, d)
	case FailedOpen, FailedClosed:
		l.logFailure(ctx, r, d, slog.String("error", errString(d.Err)))
	case Allowed, Delayed, ShadowDenied:
		if d.Local {
			l.logFailure(ctx, r, d, slog.String("error", errString(d.Err)), slog.Bool("local", true))
			return
		}
		if d.Outcome == ShadowDenied {
			l.logDenial(ctx, slog.LevelInfo, "sluice: decision", r, d)
			return
		}
		if w.log.Enabled(ctx, slog.LevelDebug) {
			l.logAttrs(ctx, slog.LevelDebug, "sluice: decision", r, d)
		}
	}
}

// logDenial logs a denial, real or shadow, at most once per client and
// rule until the denial lifts (and at most once a second), so a flood of
// 429s is one line per retry period. (A rule's denials are all real or all
// shadow, but for a reload that turns shadow mode on or off.)
func (l *Limiter) logDenial(ctx context.Context, level slog.Level, msg string, r *Request, d *Decision) {
	w := l.watch
	if !w.log.Enabled(ctx, level) {
		return
	}
	client := d.Client.String()
	if _, seen := w.denials.get(d.Rule, client, d.At, 0, 0); seen {
		return
	}
	w.denials.put(d.Rule, client, d.At, d.At.Add(max(d.RetryAfter, time.Second)), 0, &backend.Result{})
	l.logAttrs(ctx, level, msg, r, d)
}

// logFailure logs a backend failure at most once per second per rule and
// outcome, with the number of repeats since the last line.
func (l *Limiter) logFailure(ctx context.Context, r *Request, d *Decision, extra ...slog.Attr) {
	repeats, ok := l.oncePerSecond(d.Rule + "\x00" + string(d.Outcome))
	if !ok {
		return
	}
	extra = append(extra, slog.Int("repeats", repeats), slog.String("backend", l.watch.name))
	l.logAttrs(ctx, slog.LevelError, "sluice: backend failed; failure mode applied", r, d, extra...)
}

// logError logs an error Decide returns instead of a decision (an
// identifier that failed, a closed Limiter), at most once a second, with
// the number of repeats since the last line: an identifier can fail on
// clients' input, and a flood of such requests must not flood the log.
// A caller that went away is not an error.
func (l *Limiter) logError(ctx context.Context, r *Request, err error) {
	if l.watch == nil || l.watch.log == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return
	}
	repeats, ok := l.oncePerSecond("\x00no decision")
	if !ok {
		return
	}
	l.watch.log.LogAttrs(ctx, slog.LevelError, "sluice: no decision",
		slog.String("method", r.Method), slog.String("route", routeOf(r)), slog.String("path", r.Path),
		slog.String("error", err.Error()), slog.Int("repeats", repeats))
}

// oncePerSecond reports whether a line for key may be logged now, at most
// once a second on the Limiter's clock, and how many were held back since
// the last.
func (l *Limiter) oncePerSecond(key string) (repeats int, ok bool) {
	v, _ := l.watch.failures.LoadOrStore(key, &failureLog{})
	f := v.(*failureLog)
	now := l.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() && now.Sub(f.last) < time.Second {
		f.repeat++
		return 0, false
	}
	repeats = f.repeat
	f.last, f.repeat = now, 0
	return repeats, true
}

func (l *Limiter) logAttrs(ctx context.Context, level slog.Level, msg string, r *Request, d *Decision, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("rule", d.Rule),
		slog.String("outcome", string(d.Outcome)),
		slog.String("client", d.Client.String()),
		slog.String("method", r.Method),
		slog.String("route", routeOf(r)),
		slog.Int64("limit", d.Limit),
		slog.Int64("remaining", d.Remaining),
		slog.Float64("retry_after", d.RetryAfter.Seconds()),
	}, extra...)
	l.watch.log.LogAttrs(ctx, level, msg, attrs...)
}

func routeOf(r *Request) string {
	if r.Route != "" {
		return r.Route
	}
	return r.Path
}

// logBreaker logs a circuit breaker's state change.
func (l *Limiter) logBreaker(backend, from, to string) {
	if l.watch.log == nil {
		return
	}
	level := slog.LevelWarn
	if to == "closed" {
		level = slog.LevelInfo
	}
	l.watch.log.LogAttrs(context.Background(), level, "sluice: circuit breaker "+to,
		slog.String("backend", backend), slog.String("from", from))
}

// logBackground logs an error that no caller sees (a failed Release, a
// Wait's refund), at most once a second.
func (l *Limiter) logBackground(err error) {
	if l.watch == nil || l.watch.log == nil {
		return
	}
	repeats, ok := l.oncePerSecond("\x00background")
	if !ok {
		return
	}
	l.watch.log.LogAttrs(context.Background(), slog.LevelError, "sluice: "+err.Error(), slog.Int("repeats", repeats))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// observeBackend times a backend call for the observer.
func (l *Limiter) observeBackend(name, op string, start time.Time, err error) {
	if l.watch != nil {
		l.watch.obs.ObserveBackend(name, op, time.Since(start), err)
	}
}
