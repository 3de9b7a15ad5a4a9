package sluiceotel_test

import (
	"log"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
	sluiceprom "github.com/sluicehq/sluice/metrics"
	sluiceotel "github.com/sluicehq/sluice/metrics/otel"
	"go.opentelemetry.io/otel"
)

// Both exporters on one Limiter, as docs/observability.md shows it (see
// docs/gen/snippets.go). It registers on the global Prometheus registry,
// so go test compiles it without running it.
func Example_withPrometheus() {
	// snippet:both
	prom, err := sluiceprom.New(prometheus.DefaultRegisterer)
	if err != nil {
		log.Fatal(err)
	}
	otm, err := sluiceotel.New(sluiceotel.WithMeterProvider(otel.GetMeterProvider()))
	if err != nil {
		log.Fatal(err)
	}
	lim, err := core.New(core.WithObserver(prom), core.WithObserver(otm), // observers add up
		core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// end snippet:both
}
