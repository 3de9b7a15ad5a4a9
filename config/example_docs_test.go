package sluiceconfig_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// The snippets of docs/configuration.md and docs/observability.md (see
// docs/gen/snippets.go): this module has every dependency they need. They
// read a configuration file and need a Redis server, so go test compiles
// them without running them.

func Example_configuration() {
	mux := http.NewServeMux()
	// snippet:configuration
	svc, err := sluiceconfig.New("sluice.toml") // load, validate, build
	if err != nil {
		log.Fatal(err) // lists every invalid setting, with its path
	}
	defer svc.Close()
	// Reload the rules when the file changes or on SIGHUP.
	if err := svc.Watch(); err != nil {
		log.Fatal(err)
	}
	handler := sluicehttp.Middleware(svc.Limiter, svc.HTTP...)(mux)
	// end snippet:configuration
	log.Fatal(http.ListenAndServe(":8080", handler))
}

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
	lim, err := core.New(core.WithObserver(m), core.WithBackend(redis),
		core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	http.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	// end snippet:metrics
}
