package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Observer receives what a Limiter does, for metrics. Its methods are called
// synchronously on the request path: they must be fast (an atomic increment,
// not I/O) and safe for concurrent use. Embed NopObserver to implement only
// some of them. Package github.com/sluicehq/sluice/metrics implements it for
// Prometheus.
type Observer interface {
	// ObserveDecision is called once per Decide that returned a decision.
	ObserveDecision(e DecisionEvent)
	// ObserveBackend is called after each backend call: backend is the
	// backend's name ("memory", "redis", ...; "local" for the fail-local
	// fallback), op is "apply", "release", "reset", "ping", or, for rules
	// with a Penalty, "penalty_check" and "penalty_record", and err is nil
	// on success.
	ObserveBackend(backend, op string, took time.Duration, err error)
}

// DecisionEvent is what an Observer learns of a decision: bounded labels
// only, never the client.
type DecisionEvent struct {
	// Rule is the matched rule's name; empty when none matched.
	Rule string
	// Outcome is the decision's outcome.
	Outcome Outcome
	// Local reports a decision of the fail-local fallback.
	Local bool
	// Cached reports a denial served by the local deny cache, without a
	// backend call.
	Cached bool
	// BlockedUntil, for a denial during a progressive penalty, is when the
	// block ends; zero otherwise.
	BlockedUntil time.Time
	// Client is the client of a blocked decision, so an observer can count
	// distinct blocked clients; empty otherwise. Never use it as a metric
	// label.
	Client string
}

// NopObserver implements Observer by doing nothing; embed it.
type NopObserver struct{}

// ObserveDecision does nothing.
func (NopObserver) ObserveDecision(DecisionEvent) {}

// ObserveBackend does nothing.
func (NopObserver) ObserveBackend(string, string, time.Duration, error) {}

// Namer is implemented by backends that name themselves for metrics and
// logs.
type Namer interface {
	// Name returns a short constant name, such as "redis".
	Name() string
}

// WithObserver sends the Limiter's decisions and backend calls to o.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) { c.observer = o })
}

// WithLogger logs what the Limiter does to logger: denials at Warn and
// shadow denials at Info, each at most once per client and rule until the
// denial lifts, so a flood of 429s, real or shadow, is one line; backend
// failures (fail-open, fail-closed, fail-local) at Error, each distinct rule
// and outcome at most once per second with a count of the repeats; errors
// Decide returns instead of a decision (an identifier that failed) at
// Error, at most once per second; allowed decisions at Debug when that
// level is enabled. Attributes are rule,
// outcome, client, method, route, limit, remaining and retry_after. The
// default logs nothing.
func WithLogger(logger *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = logger })
}

// WithLogKeyHash logs clients as a keyed hash (HMAC-SHA-256 with secret,
// truncated to 16 hex digits) instead of their IP address, user ID or API
// key. Instances sharing the secret log the same client the same way. With a
// nil secret a random one is made per Limiter.
func WithLogKeyHash(secret []byte) Option {
	return optionFunc(func(c *config) {
		if secret == nil {
			secret = make([]byte, 32)
			rand.Read(secret)
		}
		c.logKeySecret = secret
	})
}

// WithOnDecision calls f with every request and its decision, for custom
// telemetry or audit, on a goroutine of its own: the request never waits for
// f. Events queue up to queue deep (default 1024 when queue <= 0); when f
// falls behind, new events are dropped and counted, and the count is logged.
// Close stops the goroutine after f has seen every queued event.
func WithOnDecision(f func(r Request, d Decision), queue int) Option {
	return optionFunc(func(c *config) {
		c.onDecision = f
		c.onDecisionQueue = queue
	})
}

// Logger returns the logger the Limiter logs to (see WithLogger), or nil
// when it logs nothing. Components that work alongside the Limiter, such as
// a configuration reloader, log there too.
func (l *Limiter) Logger() *slog.Logger {
	if l.watch == nil {
		return nil
	}
	return l.watch.log
}

// Observer returns the Observer the Limiter reports to (see WithObserver),
// or nil when there is none.
func (l *Limiter) Observer() Observer {
	if l.watch == nil {
		return nil
	}
	if _, nop := l.watch.obs.(NopObserver); nop {
		return nil
	}
	return l.watch.obs
}

// watcher holds the Limiter's observability: observer, logger and hook.
type watcher struct {
	obs       Observer
	log       *slog.Logger
	keySecret []byte
	denials   *denyCache // reused as "denial logged until" memory
	failures  sync.Map   // rule+outcome -> *failureLog
	events    chan decisionRecord
	dropped   atomic.Int64
	done      chan struct{}
	name      string // the backend's name
}

type decisionRecord struct {
	r Request
	d Decision
}

// record is what the OnDecision hook gets of a decision: a copy that can
// release and settle nothing, so a hook cannot free the caller's slot or
// correct its charge.
func (w *watcher) record(r *Request, d *Decision) decisionRecord {
	rec := decisionRecord{*r, *d}
	rec.d.release = releaser{}
	return rec
}

type failureLog struct {
	mu     sync.Mutex
	last   time.Time
	repeat int
}

func newWatcher(cfg *config, b backend.Backend) *watcher {
	if cfg.observer == nil && cfg.logger == nil && cfg.onDecision == nil {
		return nil
	}
	w := &watcher{obs: cfg.observer, log: cfg.logger, keySecret: cfg.logKeySecret, name: backendName(b)}
	if w.obs == nil {
		w.obs = NopObserver{}
	}
	if w.log != nil {
		w.denials = newDenyCache(defaultDenySize)
	}
	if f := cfg.onDecision; f != nil {
		n := cfg.onDecisionQueue
		if n <= 0 {
			n = 1024
		}
		w.events, w.done = make(chan decisionRecord, n), make(chan struct{})
		go func() {
			defer close(w.done)
			for e := range w.events {
				f(e.r, e.d)
			}
		}()
	}
	return w
}

func backendName(b backend.Backend) string {
	if n, ok := b.(Namer); ok {
		return n.Name()
	}
	if !remote(b) {
		return "memory"
	}
	return "custom"
}

// close stops the hook goroutine after it drained the queue.
func (w *watcher) close() {
	if w != nil && w.events != nil {
		close(w.events)
		<-w.done
	}
}

// observe reports one decision to the observer, the log and the hook.
func (l *Limiter) observe(ctx context.Context, r *Request, d *Decision, cached bool) {
	w := l.watch
	e := DecisionEvent{Rule: d.Rule, Outcome: d.Outcome, Local: d.Local, Cached: cached}
	if d.Blocked {
		e.BlockedUntil, e.Client = d.At.Add(d.RetryAfter), d.Client.String()
	}
	w.obs.ObserveDecision(e)
	if w.log != nil {
		l.logDecision(ctx, r, d)
	}
	if w.events != nil {
		select {
		case w.events <- w.record(r, d):
		default:
			if n := w.dropped.Add(1); w.log != nil && n&(n-1) == 0 { // log at 1, 2, 4, 8, ...
				w.log.LogAttrs(ctx, slog.LevelWarn, "sluice: OnDecision is falling behind; events dropped", slog.Int64("dropped", n))
			}
		}
	}
}

func (l *Limiter) logDecision(ctx context.Context, r *Request, d *Decision) {
	w := l.watch
	switch d.Outcome {
	case Denied:
		l.logDenial(ctx, slog.LevelWarn, "sluice: request denied", r, d)
	case FailOpen, FailClosed:
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
	repeats, ok := l.oncePerSecond(d.Rule + "\x00" + d.Outcome.String())
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
		slog.String("outcome", d.Outcome.String()),
		slog.String("client", l.logKey(d.Client)),
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

// logKey is the client as logged: "kind:value", or a keyed hash of it.
func (l *Limiter) logKey(id Identity) string {
	s := id.String()
	if l.watch.keySecret == nil {
		return s
	}
	m := hmac.New(sha256.New, l.watch.keySecret)
	m.Write([]byte(s))
	return id.Kind.String() + ":" + hex.EncodeToString(m.Sum(nil)[:8])
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
