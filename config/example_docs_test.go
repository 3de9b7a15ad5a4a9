package sluiceconfig_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/breaker"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// The metrics setup of docs/observability.md (see docs/gen/snippets.go):
// this module has every dependency it needs. It needs a Redis server, so go
// test compiles it without running it.
func Example_metrics() {
	redis, err := sluiceredis.NewFromURL("redis://redis.internal:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer redis.Close()
	// snippet:metrics
	registry := prometheus.NewRegistry()
	m, err := sluiceprom.New(registry)
	if err != nil {
		log.Fatal(err)
	}
	br := breaker.New(breaker.WithOnStateChange(m.BreakerStateChanged("redis")))
	lim, err := core.New(core.WithObserver(m), core.WithBreaker(br), core.WithBackend(redis),
		core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	http.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	// end snippet:metrics
}
