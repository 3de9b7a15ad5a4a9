package sluiceotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
	sluiceotel "github.com/sluicehq/sluice/metrics/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newMetrics returns Metrics on a MeterProvider of its own, read by the
// returned ManualReader.
func newMetrics(t testing.TB) (*sluiceotel.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := sluiceotel.New(sluiceotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	return m, reader
}

// series is what one collection holds: per instrument, per attribute set
// ("k=v,k=v" sorted), the value (a sum, a gauge's value, or a histogram's
// count).
type series map[string]map[string]float64

// collected also keeps each instrument's unit and kind, by name.
type collected struct {
	series
	units map[string]string
	kinds map[string]string
}

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	c := collected{series{}, map[string]string{}, map[string]string{}}
	for _, sm := range rm.ScopeMetrics {
		if got, want := sm.Scope.Name, "github.com/sluicehq/sluice/metrics/otel"; got != want {
			t.Errorf("instrumentation scope %q, want %q", got, want)
		}
		for _, m := range sm.Metrics {
			s := map[string]float64{}
			c.series[m.Name], c.units[m.Name] = s, m.Unit
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				c.kinds[m.Name] = "counter"
				if !d.IsMonotonic {
					c.kinds[m.Name] = "updowncounter"
				}
				for _, p := range d.DataPoints {
					s[attrs(p.Attributes.ToSlice())] += float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				c.kinds[m.Name] = "gauge"
				for _, p := range d.DataPoints {
					s[attrs(p.Attributes.ToSlice())] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				c.kinds[m.Name] = "histogram"
				for _, p := range d.DataPoints {
					s[attrs(p.Attributes.ToSlice())] += float64(p.Count)
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return c
}

// attrs writes an attribute set as sorted "key=value" pairs.
func attrs(kvs []attribute.KeyValue) string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key) + "=" + kv.Value.String()
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

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
// clock, and checks each count exactly: the same script as sluiceprom's.
func TestScriptedTraffic(t *testing.T) {
	m, reader := newMetrics(t)
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
	client := "192.0.2.1:1"
	do := func(path string, n int, want ...core.Outcome) {
		t.Helper()
		for i := range n {
			d, err := lim.Decide(t.Context(), core.Request{Method: "GET", Path: path, RemoteAddr: client})
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

	got := collect(t, reader)
	decisions := got.series["sluice.decisions"]
	want := map[string]float64{
		"sluice.outcome=allowed,sluice.rule=api":         2,
		"sluice.outcome=denied,sluice.rule=api":          3,
		"sluice.outcome=exempt,sluice.rule=status":       3,
		"sluice.outcome=allowed,sluice.rule=slow":        2,
		"sluice.outcome=delayed,sluice.rule=slow":        3,
		"sluice.outcome=allowed,sluice.rule=trial":       2,
		"sluice.outcome=shadow_denied,sluice.rule=trial": 3,
		"sluice.outcome=fail_local,sluice.rule=login":    2,
		"sluice.outcome=fail_closed,sluice.rule=strict":  2,
		"sluice.outcome=fail_open,sluice.rule=api":       4,
	}
	checkSeries(t, "sluice.decisions", decisions, want)
	checkSeries(t, "sluice.deny_cache.hits", got.series["sluice.deny_cache.hits"], map[string]float64{"": 2})
	checkSeries(t, "sluice.config.reloads", got.series["sluice.config.reloads"], map[string]float64{
		"sluice.config.reload.result=success": 1, "sluice.config.reload.result=failure": 1,
	})
	checkSeries(t, "sluice.circuit_breaker.state", got.series["sluice.circuit_breaker.state"], map[string]float64{
		"sluice.backend=test,sluice.circuit_breaker.state=closed":    0,
		"sluice.backend=test,sluice.circuit_breaker.state=half_open": 0,
		"sluice.backend=test,sluice.circuit_breaker.state=open":      1,
	})
	// Backend calls: /: 2 allowed + 1 denied; /slow: 5; /trial: 5 (the
	// deny cache skips shadow rules), then 3 failed calls (2 of /login, 1
	// of /strict) and the local fallback's 2 for /login.
	checkSeries(t, "sluice.backend.duration", got.series["sluice.backend.duration"], map[string]float64{
		"sluice.backend.operation=apply,sluice.backend=test":                   13,
		"error.type=_OTHER,sluice.backend.operation=apply,sluice.backend=test": 3,
		"sluice.backend.operation=apply,sluice.backend=local":                  2,
	})
	wantKinds := map[string][2]string{ // name -> kind, unit
		"sluice.decisions":             {"counter", "{decision}"},
		"sluice.backend.duration":      {"histogram", "s"},
		"sluice.circuit_breaker.state": {"gauge", "1"},
		"sluice.deny_cache.hits":       {"counter", "{decision}"},
		"sluice.config.reloads":        {"counter", "{reload}"},
		"sluice.penalties.active":      {"gauge", "{client}"},
	}
	for name, w := range wantKinds {
		if got.kinds[name] != w[0] || got.units[name] != w[1] {
			t.Errorf("%s: a %s in %q, want a %s in %q", name, got.kinds[name], got.units[name], w[0], w[1])
		}
	}
}

// checkSeries compares one instrument's series with want, every series
// of it included.
func checkSeries(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s{%s} = %v (present %v), want %v", name, k, g, ok, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s{%s} = %v, want no such series", name, k, g)
		}
	}
}

// TestBoundedAttributes: no attribute holds a client, whatever the traffic;
// every attribute key is one of the documented ones.
func TestBoundedAttributes(t *testing.T) {
	m, reader := newMetrics(t)
	lim, err := core.New(core.WithObserver(m), core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	for i := range 50 {
		for range 2 { // allowed, then denied
			lim.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: fmt.Sprintf("198.51.100.%d:1", i)})
		}
	}
	allowed := map[string]bool{"sluice.rule": true, "sluice.outcome": true, "sluice.backend": true,
		"sluice.backend.operation": true, "error.type": true, "sluice.circuit_breaker.state": true, "sluice.config.reload.result": true}
	got := collect(t, reader)
	for name, s := range got.series {
		for set := range s {
			if strings.Contains(set, "198.51.100") {
				t.Errorf("%s{%s}: a client in an attribute", name, set)
			}
			for kv := range strings.SplitSeq(set, ",") {
				if k, _, _ := strings.Cut(kv, "="); k != "" && !allowed[k] {
					t.Errorf("%s{%s}: undocumented attribute %q", name, set, k)
				}
			}
		}
	}
	if n := len(got.series["sluice.decisions"]); n != 2 {
		t.Errorf("sluice.decisions has %d series for 50 clients of one rule, want 2 (allowed, denied)", n)
	}
}

// TestBackendErrorTypes: a timeout, a cancellation and any other error
// are told apart by error.type; an eviction counts without a duration.
func TestBackendErrorTypes(t *testing.T) {
	m, reader := newMetrics(t)
	m.ObserveBackend("redis", "apply", time.Millisecond, fmt.Errorf("redis: %w", context.DeadlineExceeded))
	m.ObserveBackend("redis", "settle", time.Millisecond, context.Canceled)
	m.ObserveBackend("redis", "reset", time.Millisecond, errors.New("READONLY"))
	m.ObserveBackend("redis", "penalty_check", 2*time.Millisecond, nil)
	m.ObserveBackend("redis", "scan", time.Millisecond, nil) // an operation this package does not list
	m.ObserveBackend("memory", "evict", 0, nil)
	m.ObserveBackend("memory", "evict", 0, nil)
	got := collect(t, reader)
	checkSeries(t, "sluice.backend.duration", got.series["sluice.backend.duration"], map[string]float64{
		"error.type=timeout,sluice.backend.operation=apply,sluice.backend=redis":   1,
		"error.type=canceled,sluice.backend.operation=settle,sluice.backend=redis": 1,
		"error.type=_OTHER,sluice.backend.operation=reset,sluice.backend=redis":    1,
		"sluice.backend.operation=penalty_check,sluice.backend=redis":              1,
		"sluice.backend.operation=scan,sluice.backend=redis":                       1,
	})
	checkSeries(t, "sluice.backend.evictions", got.series["sluice.backend.evictions"], map[string]float64{"sluice.backend=memory": 2})
}

// TestBreakerStates: the current state is 1 and the others 0, per backend.
func TestBreakerStates(t *testing.T) {
	m, reader := newMetrics(t)
	m.ObserveBreaker("redis", "open")
	m.ObserveBreaker("redis", "half_open")
	m.ObserveBreaker("cache", "closed")
	checkSeries(t, "sluice.circuit_breaker.state", collect(t, reader).series["sluice.circuit_breaker.state"], map[string]float64{
		"sluice.backend=redis,sluice.circuit_breaker.state=closed":    0,
		"sluice.backend=redis,sluice.circuit_breaker.state=half_open": 1,
		"sluice.backend=redis,sluice.circuit_breaker.state=open":      0,
		"sluice.backend=cache,sluice.circuit_breaker.state=closed":    1,
		"sluice.backend=cache,sluice.circuit_breaker.state=half_open": 0,
		"sluice.backend=cache,sluice.circuit_breaker.state=open":      0,
	})
}

// TestPenaltiesActive: a client blocked by a penalty counts while its
// block lasts.
func TestPenaltiesActive(t *testing.T) {
	m, reader := newMetrics(t)
	lim, err := core.New(core.WithObserver(m), core.WithRules(core.Rule{
		Name: "login", Limits: []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 1, Window: time.Minute, Base: time.Hour},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	for _, addr := range []string{"192.0.2.1:1", "192.0.2.2:1"} {
		for range 3 {
			lim.Decide(t.Context(), core.Request{Path: "/login", RemoteAddr: addr})
		}
	}
	checkSeries(t, "sluice.penalties.active", collect(t, reader).series["sluice.penalties.active"], map[string]float64{"": 2})
}

// TestMeterProviderFails: an error creating an instrument is New's error.
func TestMeterProviderFails(t *testing.T) {
	_, err := sluiceotel.New(sluiceotel.WithMeterProvider(failingProvider{}))
	if err == nil || !strings.HasPrefix(err.Error(), "sluiceotel: ") || !errors.Is(err, errNoMeter) {
		t.Errorf("New on a failing provider: %v, want a sluiceotel error wrapping the provider's", err)
	}
}

var errNoMeter = errors.New("no counters here")

// failingProvider's meter fails to create counters.
type failingProvider struct{ noop.MeterProvider }

func (failingProvider) Meter(string, ...metric.MeterOption) metric.Meter { return failingMeter{} }

type failingMeter struct{ noop.Meter }

func (failingMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return nil, errNoMeter
}
