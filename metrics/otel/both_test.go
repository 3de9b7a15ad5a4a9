package sluiceotel_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// TestWithPrometheus: sluiceprom and sluiceotel observe one Limiter at
// once, and count the same decisions.
func TestWithPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	prom, err := sluiceprom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	otel, reader := newMetrics(t)
	lim, err := core.New(core.WithObserver(prom), core.WithObserver(otel), core.WithDefault(core.PerMinute(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	for range 5 {
		lim.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	promN := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "sluice_decisions_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["rule"] == "default" {
				promN[labels["outcome"]] = s.GetCounter().GetValue()
			}
		}
	}
	otelN := collect(t, reader).series["sluice.decisions"]
	for outcome, want := range map[string]float64{"allowed": 2, "denied": 3} {
		p, o := promN[outcome], otelN["sluice.outcome="+outcome+",sluice.rule=default"]
		if p != want || o != want {
			t.Errorf("%s decisions: Prometheus %v, OpenTelemetry %v, want %v in both", outcome, p, o, want)
		}
	}
}
