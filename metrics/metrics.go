package sluiceprom

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
)

// namespace prefixes every metric name.
const namespace = "sluice"

// buckets are the backend latency histogram's buckets, in seconds: from
// 25µs, where an in-memory call lives, to 1s, past any sensible timeout.
var buckets = []float64{0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// Metrics implements core.Observer with Prometheus collectors. It is safe
// for concurrent use.
type Metrics struct {
	decisions     *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	breakerState  *prometheus.GaugeVec
	denyCacheHits prometheus.Counter
	evictions     *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	penalties     prometheus.GaugeFunc

	blockedMu sync.Mutex
	blocked   map[string]time.Time // rule + client -> end of its block
	manual    *float64             // set by SetPenaltiesActive

	byRule sync.Map // rule name -> *[numOutcomes]prometheus.Counter
}

var _ core.Observer = (*Metrics)(nil)

// outcomeLabels are the outcome labels, indexed by outcomeIndex;
// fail_local, a decision the "local" failure mode made, is last.
var outcomeLabels = [...]string{"allowed", "denied", "delayed", "exempt", "shadow_denied", "fail_open", "fail_closed", "fail_local"}

const failLocal = len(outcomeLabels) - 1

// outcomeIndex returns the index of a decision's outcome label, and false
// for an outcome it does not know.
func outcomeIndex(d *core.Decision) (int, bool) {
	if d.Local {
		return failLocal, true
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

// New creates the metrics and registers them with reg. It registers nothing
// anywhere else; pass prometheus.DefaultRegisterer to use the global
// registry. It fails if a metric of the same name is already registered.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "decisions_total",
			Help: "Rate-limit decisions by rule and outcome.",
		}, []string{"rule", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "backend_request_duration_seconds",
			Help: "Duration of backend calls.", Buckets: buckets,
		}, []string{"backend", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "backend_errors_total",
			Help: "Failed backend calls by kind: timeout, canceled, error.",
		}, []string{"backend", "kind"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "circuit_breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
		}, []string{"backend"}),
		denyCacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "local_deny_cache_hits_total",
			Help: "Denials served by the local deny cache without a backend call.",
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "backend_evictions_total",
			Help: "Client states a bounded backend dropped to make room for new ones: a client evicted starts afresh.",
		}, []string{"backend"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "config_reloads_total",
			Help: "Configuration reloads by result: success, failure.",
		}, []string{"result"}),
		blocked: map[string]time.Time{},
	}
	m.penalties = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "penalties_active",
		Help: "Clients currently blocked by a progressive penalty, as this instance saw them.",
	}, m.activePenalties)
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r) // export zeros, so alerts see the series
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.duration, m.errors, m.breakerState, m.denyCacheHits, m.evictions, m.reloads, m.penalties}
}

// Unregister removes the metrics from reg, the Registerer New registered
// them with, so that another Metrics can be registered there: after a
// service that failed to start, say.
func (m *Metrics) Unregister(reg prometheus.Registerer) {
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

// ObserveDecision implements core.Observer: sluice_decisions_total by rule
// and outcome, deny cache hits, and the clients a penalty blocks.
func (m *Metrics) ObserveDecision(_ core.Request, d core.Decision) {
	o, ok := outcomeIndex(&d)
	if !ok {
		return
	}
	m.counters(d.Rule)[o].Inc()
	if d.Cached {
		m.denyCacheHits.Inc()
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
func (m *Metrics) activePenalties() float64 {
	m.blockedMu.Lock()
	defer m.blockedMu.Unlock()
	if m.manual != nil {
		return *m.manual
	}
	now := time.Now()
	for k, until := range m.blocked {
		if !until.After(now) {
			delete(m.blocked, k)
		}
	}
	return float64(len(m.blocked))
}

// counters returns the rule's decision counters, created once per rule so
// the request path does not hash label values.
func (m *Metrics) counters(rule string) *[len(outcomeLabels)]prometheus.Counter {
	if v, ok := m.byRule.Load(rule); ok {
		return v.(*[len(outcomeLabels)]prometheus.Counter)
	}
	var cs [len(outcomeLabels)]prometheus.Counter
	for o, label := range outcomeLabels {
		if label != "" {
			cs[o] = m.decisions.WithLabelValues(rule, label)
		}
	}
	v, _ := m.byRule.LoadOrStore(rule, &cs)
	return v.(*[len(outcomeLabels)]prometheus.Counter)
}

// ObserveBackend implements core.Observer: the duration of every backend
// call, its errors by kind (timeout, canceled, error), and the evictions
// of a bounded backend.
func (m *Metrics) ObserveBackend(backend, op string, took time.Duration, err error) {
	if op == "evict" {
		m.evictions.WithLabelValues(backend).Inc()
		return
	}
	m.duration.WithLabelValues(backend, op).Observe(took.Seconds())
	if err != nil {
		m.errors.WithLabelValues(backend, errorKind(err)).Inc()
	}
}

// errorKind classifies a backend error for the kind label.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// ObserveBreaker implements core.Observer: it keeps
// sluice_circuit_breaker_state{backend} current (0 closed, 1 half-open, 2
// open).
func (m *Metrics) ObserveBreaker(backend, state string) {
	v := 0.0
	switch state {
	case "half_open":
		v = 1
	case "open":
		v = 2
	}
	m.breakerState.WithLabelValues(backend).Set(v)
}

// ConfigReloaded counts a configuration reload in
// sluice_config_reloads_total{result}: a success when err is nil, a failure
// otherwise. Give it to a sluiceconfig Service (WithReloadObserver) to count
// its reloads.
func (m *Metrics) ConfigReloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
}

// SetPenaltiesActive overrides sluice_penalties_active with n, for a caller
// that knows the number across all instances. By default the gauge counts
// the blocks this instance has seen that have not ended yet.
func (m *Metrics) SetPenaltiesActive(n int) {
	m.blockedMu.Lock()
	defer m.blockedMu.Unlock()
	v := float64(n)
	m.manual = &v
}
