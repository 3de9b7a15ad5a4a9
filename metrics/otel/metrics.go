package sluiceotel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// scope is the instrumentation scope the instruments are created in.
const scope = "github.com/sluicehq/sluice/metrics/otel"

// buckets are the backend duration histogram's bucket boundaries, in
// seconds, as sluiceprom's: from 25µs, where an in-memory call lives, to
// 1s, past any sensible timeout.
var buckets = []float64{0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// The attribute keys.
const (
	keyRule         = attribute.Key("sluice.rule")
	keyOutcome      = attribute.Key("sluice.outcome")
	keyBackend      = attribute.Key("sluice.backend")
	keyOperation    = attribute.Key("sluice.backend.operation")
	keyErrorType    = attribute.Key("error.type")
	keyBreakerState = attribute.Key("sluice.circuit_breaker.state")
	keyReload       = attribute.Key("sluice.config.reload.result")
)

// Metrics implements core.Observer with OpenTelemetry instruments. Create
// it with [New]; it is safe for concurrent use.
type Metrics struct {
	decisions     metric.Int64Counter
	duration      metric.Float64Histogram
	evictions     metric.Int64Counter
	breaker       metric.Int64Gauge
	denyCacheHits metric.Int64Counter
	reloads       metric.Int64Counter

	// The measurement options of each rule and backend seen, built once so
	// that recording neither hashes nor allocates; replaced whole (under
	// mu) when a new one appears.
	mu       sync.Mutex
	rules    atomic.Pointer[map[string]*ruleOpts]
	backends atomic.Pointer[map[string]*backendOpts]

	blockedMu sync.Mutex
	blocked   map[string]time.Time // rule + client -> end of its block
}

var _ core.Observer = (*Metrics)(nil)

// outcomes are the sluice.outcome values, indexed by outcomeIndex;
// fail_local, a decision the "local" failure mode made, is last.
var outcomes = [...]string{"allowed", "denied", "delayed", "exempt", "shadow_denied", "fail_open", "fail_closed", "fail_local"}

// outcomeIndex returns the index of a decision's outcome, and false for an
// outcome it does not know.
func outcomeIndex(d *core.Decision) (int, bool) {
	if d.Local {
		return len(outcomes) - 1, true
	}
	switch d.Outcome {
	case core.Allowed:
		return 0, true
	case core.Denied:
		return 1, true
	case core.Delayed:
		return 2, true
	case core.Exempt:
		return 3, true
	case core.ShadowDenied:
		return 4, true
	case core.FailedOpen:
		return 5, true
	case core.FailedClosed:
		return 6, true
	}
	return 0, false
}

// operations are the backend operations core.Observer names; an operation
// not listed is recorded all the same, with options built per call.
var operations = [...]string{"apply", "settle", "release", "reset", "penalty_check", "penalty_record"}

// errorTypes are the error.type values of a failed backend call, indexed
// by errorIndex.
var errorTypes = [...]string{"timeout", "canceled", "_OTHER"}

// breakerStates are the sluice.circuit_breaker.state values.
var breakerStates = [...]string{"closed", "half_open", "open"}

type ruleOpts [len(outcomes)][]metric.AddOption

type backendOpts struct {
	ok      [len(operations)][]metric.RecordOption
	failed  [len(operations)][len(errorTypes)][]metric.RecordOption
	evict   []metric.AddOption
	breaker [len(breakerStates)][]metric.RecordOption
}

// New creates the instruments in the meter of the MeterProvider given with
// WithMeterProvider, the global one by default. It returns an error when
// the provider cannot create one of them.
func New(opts ...Option) (*Metrics, error) {
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = otel.GetMeterProvider()
	}
	meter := cfg.provider.Meter(scope)
	m := &Metrics{blocked: map[string]time.Time{}}
	m.rules.Store(&map[string]*ruleOpts{})
	m.backends.Store(&map[string]*backendOpts{})
	var errs []error
	try := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.decisions, err = meter.Int64Counter("sluice.decisions",
		metric.WithDescription("Rate-limit decisions by rule and outcome."), metric.WithUnit("{decision}"))
	try(err)
	m.duration, err = meter.Float64Histogram("sluice.backend.duration",
		metric.WithDescription("Duration of backend calls; failed calls carry error.type."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(buckets...))
	try(err)
	m.evictions, err = meter.Int64Counter("sluice.backend.evictions",
		metric.WithDescription("Client states a bounded backend dropped to make room for new ones: a client evicted starts afresh."),
		metric.WithUnit("{state}"))
	try(err)
	m.breaker, err = meter.Int64Gauge("sluice.circuit_breaker.state",
		metric.WithDescription("Circuit breaker state: 1 for the current state, 0 for the others."), metric.WithUnit("1"))
	try(err)
	m.denyCacheHits, err = meter.Int64Counter("sluice.deny_cache.hits",
		metric.WithDescription("Denials served by the local deny cache without a backend call."), metric.WithUnit("{decision}"))
	try(err)
	m.reloads, err = meter.Int64Counter("sluice.config.reloads",
		metric.WithDescription("Configuration reloads by result: success, failure."), metric.WithUnit("{reload}"))
	try(err)
	_, err = meter.Int64ObservableGauge("sluice.penalties.active",
		metric.WithDescription("Clients currently blocked by a progressive penalty, as this instance saw them."),
		metric.WithUnit("{client}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(m.activePenalties())
			return nil
		}))
	try(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sluiceotel: %w", err)
	}
	return m, nil
}

// ObserveDecision implements core.Observer: sluice.decisions by rule and
// outcome, deny cache hits, and the clients a penalty blocks.
func (m *Metrics) ObserveDecision(_ core.Request, d core.Decision) {
	o, ok := outcomeIndex(&d)
	if !ok {
		return
	}
	ctx := context.Background()
	m.decisions.Add(ctx, 1, m.rule(d.Rule)[o]...)
	if d.Cached {
		m.denyCacheHits.Add(ctx, 1)
	}
	if d.Blocked {
		m.blockedMu.Lock()
		if len(m.blocked) < maxTrackedBlocks {
			m.blocked[d.Rule+"\x00"+d.Client.String()] = d.At.Add(d.RetryAfter)
		}
		m.blockedMu.Unlock()
	}
}

// maxTrackedBlocks bounds the memory the penalties gauge uses.
const maxTrackedBlocks = 1 << 16

// activePenalties counts the blocks seen that have not ended, dropping the
// ended ones.
func (m *Metrics) activePenalties() int64 {
	m.blockedMu.Lock()
	defer m.blockedMu.Unlock()
	now := time.Now()
	for k, until := range m.blocked {
		if !until.After(now) {
			delete(m.blocked, k)
		}
	}
	return int64(len(m.blocked))
}

// rule returns the options of a rule's decisions, one per outcome.
func (m *Metrics) rule(name string) *ruleOpts {
	if r := (*m.rules.Load())[name]; r != nil {
		return r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.rules.Load()
	if r := old[name]; r != nil {
		return r
	}
	r := new(ruleOpts)
	for i, o := range outcomes {
		r[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyRule.String(name), keyOutcome.String(o)))}
	}
	next := maps.Clone(old)
	next[name] = r
	m.rules.Store(&next)
	return r
}

// backend returns the options of a backend's measurements.
func (m *Metrics) backend(name string) *backendOpts {
	if b := (*m.backends.Load())[name]; b != nil {
		return b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.backends.Load()
	if b := old[name]; b != nil {
		return b
	}
	b := new(backendOpts)
	be := keyBackend.String(name)
	for i, op := range operations {
		b.ok[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(be, keyOperation.String(op)))}
		for j, e := range errorTypes {
			b.failed[i][j] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(be, keyOperation.String(op), keyErrorType.String(e)))}
		}
	}
	b.evict = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(be))}
	for i, s := range breakerStates {
		b.breaker[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(be, keyBreakerState.String(s)))}
	}
	next := maps.Clone(old)
	next[name] = b
	m.backends.Store(&next)
	return b
}

// ObserveBackend implements core.Observer: sluice.backend.duration of every
// backend call, with error.type when it failed, and the evictions of a
// bounded backend.
func (m *Metrics) ObserveBackend(backend, op string, took time.Duration, err error) {
	ctx := context.Background()
	b := m.backend(backend)
	if op == "evict" {
		m.evictions.Add(ctx, 1, b.evict...)
		return
	}
	secs := took.Seconds()
	i := operationIndex(op)
	switch {
	case i < 0: // an operation this package does not know of
		attrs := []attribute.KeyValue{keyBackend.String(backend), keyOperation.String(op)}
		if err != nil {
			attrs = append(attrs, keyErrorType.String(errorTypes[errorIndex(err)]))
		}
		m.duration.Record(ctx, secs, metric.WithAttributes(attrs...))
	case err != nil:
		m.duration.Record(ctx, secs, b.failed[i][errorIndex(err)]...)
	default:
		m.duration.Record(ctx, secs, b.ok[i]...)
	}
}

func operationIndex(op string) int {
	for i, o := range operations {
		if o == op {
			return i
		}
	}
	return -1
}

// errorIndex classifies a backend error for error.type.
func errorIndex(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return 0
	case errors.Is(err, context.Canceled):
		return 1
	}
	return 2
}

// ObserveBreaker implements core.Observer: it keeps
// sluice.circuit_breaker.state current, 1 for the backend's breaker's
// state and 0 for the two others.
func (m *Metrics) ObserveBreaker(backend, state string) {
	ctx := context.Background()
	b := m.backend(backend)
	for i, s := range breakerStates {
		v := int64(0)
		if s == state {
			v = 1
		}
		m.breaker.Record(ctx, v, b.breaker[i]...)
	}
}

// ConfigReloaded counts a configuration reload in sluice.config.reloads: a
// success when err is nil, a failure otherwise. A sluiceconfig Service
// that reports its reloads calls it, as it calls sluiceprom's method of
// the same name.
func (m *Metrics) ConfigReloaded(err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	m.reloads.Add(context.Background(), 1, metric.WithAttributes(keyReload.String(result)))
}
