package sluiceotel_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/core"
	sluiceotel "github.com/sluicehq/sluice/metrics/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func ExampleNew() {
	// A MeterProvider with a reader; a service would use an OTLP or
	// Prometheus exporter's reader, or call New() for the global provider.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	m, err := sluiceotel.New(sluiceotel.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	lim, _ := core.New(core.WithObserver(m), core.WithDefault(core.PerMinute(1)))
	defer lim.Close()
	for range 3 {
		lim.Decide(context.Background(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1234"})
	}

	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != "sluice.decisions" {
				continue
			}
			for _, p := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				rule, _ := p.Attributes.Value("sluice.rule")
				outcome, _ := p.Attributes.Value("sluice.outcome")
				fmt.Printf("%s{rule=%s, outcome=%s} %d\n", mt.Name, rule.AsString(), outcome.AsString(), p.Value)
			}
		}
	}
	// Unordered output:
	// sluice.decisions{rule=default, outcome=allowed} 1
	// sluice.decisions{rule=default, outcome=denied} 2
}
