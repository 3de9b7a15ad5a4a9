package sluiceprom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// switchable is a "remote" backend over memory that can be taken down.
type switchable struct {
	*memory.Backend
	down bool
}

func (s *switchable) Name() string               { return "test" }
func (s *switchable) Ping(context.Context) error { return nil }

func (s *switchable) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if s.down {
		return backend.Result{}, errors.New("connection refused")
	}
	return s.Backend.Apply(ctx, req)
}

// TestScriptedTraffic drives a Limiter through every outcome, on a fake
// clock, and checks each count exactly.
func TestScriptedTraffic(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := sluiceprom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := &switchable{Backend: memory.New()}
	defer b.Close()
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(core.WithObserver(m), core.WithBackend(b), core.WithFailure(core.Failure{BreakerFailures: 3}), core.WithClock(clk),
		core.WithRules(
			core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(2)}},
			core.Rule{Name: "login", Path: "/login", Limits: []core.Limit{core.PerMinute(1)}, Failure: "local"},
			core.Rule{Name: "status", Path: "/status", Exempt: true},
			core.Rule{Name: "slow", Path: "/slow", Limits: []core.Limit{core.PerMinute(2)}, MaxDelay: time.Minute},
			core.Rule{Name: "trial", Path: "/trial", Limits: []core.Limit{core.PerMinute(1)}, Shadow: true},
			core.Rule{Name: "strict", Path: "/strict", Limits: []core.Limit{core.PerMinute(10)}, Failure: "closed"},
		))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	ctx := context.Background()
	client := "192.0.2.1:1"
	do := func(path string, n int, want ...core.Outcome) {
		t.Helper()
		for i := range n {
			d, err := lim.Decide(ctx, core.Request{Method: "GET", Path: path, RemoteAddr: client})
			if err != nil {
				t.Fatal(err)
			}
			if i < len(want) && d.Outcome != want[i] {
				t.Fatalf("%s request %d: outcome %v, want %v", path, i, d.Outcome, want[i])
			}
		}
	}
	A, D, L, S := core.Allowed, core.Denied, core.Delayed, core.ShadowDenied
	do("/", 5, A, A, D, D, D)  // 2 allowed, 1 denied by the backend, 2 by the deny cache
	do("/status", 3)           // exempt
	do("/slow", 4, A, A, L, L) // a burst of 2, then delayed 30s and 60s
	do("/trial", 3, A, S, S)   // shadow: over the limit, and proceeds
	clk.Advance(time.Minute)   // the trial window refills
	do("/trial", 2, A, S)      // allowed again, then shadow-denied again
	do("/slow", 1, L)          // 30s of the 60s delay left: delayed again
	b.down = true
	do("/login", 2, A, D)  // fail_local: allowed, denied (2 failed calls)
	do("/strict", 2)       // fail_closed: 1 failed call opens the breaker (3 in a row), then refused by it
	client = "192.0.2.2:1" // not in the deny cache
	do("/", 4)             // fail_open, breaker open: no backend call
	m.ConfigReloaded(nil)
	m.ConfigReloaded(errors.New("bad file"))
	m.SetPenaltiesActive(7)

	want := []struct {
		rule, outcome string
		n             float64
	}{
		{"api", "allowed", 2}, {"api", "denied", 3},
		{"status", "exempt", 3},
		{"slow", "allowed", 2}, {"slow", "delayed", 3},
		{"trial", "allowed", 2}, {"trial", "shadow_denied", 3},
		{"login", "fail_local", 2},
		{"strict", "fail_closed", 2},
		{"api", "fail_open", 4},
	}
	covered, total := map[string]bool{}, 0.0
	for _, c := range want {
		got := testutil.ToFloat64(mustCounter(t, reg, "sluice_decisions_total", map[string]string{"rule": c.rule, "outcome": c.outcome}))
		if got != c.n {
			t.Errorf("sluice_decisions_total{rule=%q,outcome=%q} = %v, want %v", c.rule, c.outcome, got, c.n)
		}
		covered[c.outcome], total = true, total+c.n
	}
	for _, o := range []string{"allowed", "denied", "delayed", "exempt", "shadow_denied", "fail_open", "fail_closed", "fail_local"} {
		if !covered[o] {
			t.Errorf("the script asserts no %s decision", o)
		}
	}
	if got := sumSeries(t, reg, "sluice_decisions_total"); got != total {
		t.Errorf("sluice_decisions_total sums to %v over all series, want %v: a decision counted where the script expects none", got, total)
	}
	expect := `
# HELP sluice_local_deny_cache_hits_total Denials served by the local deny cache without a backend call.
# TYPE sluice_local_deny_cache_hits_total counter
sluice_local_deny_cache_hits_total 2
# HELP sluice_circuit_breaker_state Circuit breaker state: 0 closed, 1 half-open, 2 open.
# TYPE sluice_circuit_breaker_state gauge
sluice_circuit_breaker_state{backend="test"} 2
# HELP sluice_config_reloads_total Configuration reloads by result: success, failure.
# TYPE sluice_config_reloads_total counter
sluice_config_reloads_total{result="failure"} 1
sluice_config_reloads_total{result="success"} 1
# HELP sluice_penalties_active Clients currently blocked by a progressive penalty, as this instance saw them.
# TYPE sluice_penalties_active gauge
sluice_penalties_active 7
# HELP sluice_backend_errors_total Failed backend calls by kind: timeout, canceled, error.
# TYPE sluice_backend_errors_total counter
sluice_backend_errors_total{backend="test",kind="error"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect),
		"sluice_local_deny_cache_hits_total", "sluice_circuit_breaker_state", "sluice_config_reloads_total",
		"sluice_penalties_active", "sluice_backend_errors_total"); err != nil {
		t.Error(err)
	}
	// Every backend call was timed: good applies, failed ones, local ones.
	if n := testutil.CollectAndCount(reg, "sluice_backend_request_duration_seconds"); n != 2 {
		t.Errorf("duration series = %d, want 2 (test/apply and local/apply)", n)
	}
}

// sumSeries sums a counter over all its series.
func sumSeries(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, metric := range mf.GetMetric() {
				sum += metric.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return metric.GetCounter().GetValue() })
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return 0 })
}

func TestNoClientLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := sluiceprom.New(reg)
	lim, _ := core.New(core.WithObserver(m), core.WithDefault(core.PerMinute(1)))
	defer lim.Close()
	for i := range 50 {
		lim.Decide(context.Background(), core.Request{Path: "/", RemoteAddr: "10.0.0." + string(rune('0'+i%10)) + ":1"})
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if strings.Contains(lp.GetValue(), "10.0.0.") {
					t.Errorf("%s has a client in label %s=%q", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := sluiceprom.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := sluiceprom.New(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}

// TestFailedNewRegistersNothing makes New fail on its last metric and checks
// that it left none of the others registered; then Unregister frees a
// registry for another Metrics.
func TestFailedNewRegistersNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	taken := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sluice", Name: "penalties_active",
		Help: "Clients currently blocked by a progressive penalty, as this instance saw them."})
	reg.MustRegister(taken)
	if _, err := sluiceprom.New(reg); err == nil {
		t.Fatal("New succeeded with sluice_penalties_active already registered")
	}
	reg.Unregister(taken)
	m, err := sluiceprom.New(reg)
	if err != nil {
		t.Fatalf("New after a failed New: %v; want the failed one to have registered nothing", err)
	}
	m.Unregister(reg)
	if _, err := sluiceprom.New(reg); err != nil {
		t.Fatalf("New after Unregister: %v", err)
	}
}

// TestBackendErrorKinds: backend errors are counted by kind, and evictions
// on their own.
func TestBackendErrorKinds(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := sluiceprom.New(reg)
	for _, err := range []error{context.DeadlineExceeded, errors.Join(errors.New("x"), context.Canceled), errors.New("boom"), nil} {
		m.ObserveBackend("redis", "apply", time.Millisecond, err)
	}
	m.ObserveBackend("memory", "evict", 0, nil)
	m.ObserveBackend("memory", "evict", 0, nil)
	expect := `
# HELP sluice_backend_errors_total Failed backend calls by kind: timeout, canceled, error.
# TYPE sluice_backend_errors_total counter
sluice_backend_errors_total{backend="redis",kind="canceled"} 1
sluice_backend_errors_total{backend="redis",kind="error"} 1
sluice_backend_errors_total{backend="redis",kind="timeout"} 1
# HELP sluice_backend_evictions_total Client states a bounded backend dropped to make room for new ones: a client evicted starts afresh.
# TYPE sluice_backend_evictions_total counter
sluice_backend_evictions_total{backend="memory"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect), "sluice_backend_errors_total", "sluice_backend_evictions_total"); err != nil {
		t.Error(err)
	}
}

func TestPenaltiesActive(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := sluiceprom.New(reg)
	lim, err := core.New(core.WithObserver(m), core.WithRules(core.Rule{
		Limits:  []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 2, Window: time.Minute, Base: time.Hour},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		for range 5 { // 1 allowed, 2 denials, then blocked
			lim.Decide(context.Background(), core.Request{Path: "/", RemoteAddr: ip + ":1"})
		}
	}
	if got := testutil.ToFloat64(mustGauge(t, reg)); got != 2 {
		t.Errorf("sluice_penalties_active = %v, want 2 blocked clients", got)
	}
	m.SetPenaltiesActive(7)
	if got := testutil.ToFloat64(mustGauge(t, reg)); got != 7 {
		t.Errorf("after SetPenaltiesActive(7): %v", got)
	}
}

func mustGauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sluice_penalties_active" {
			v := mf.GetMetric()[0].GetGauge().GetValue()
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return v })
		}
	}
	t.Fatal("sluice_penalties_active not exported")
	return nil
}
