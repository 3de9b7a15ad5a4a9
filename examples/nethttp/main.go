// Command nethttp is a small API server on net/http's ServeMux, limited by
// Sluice through package sluicehttp. Copy this file to start your own: it
// builds on its own, in a module of yours.
//
// Its policy: 5 requests per 10 seconds per client IP by default, 3 login
// attempts per minute, 10 user lookups per minute per client, whatever the id
// (rules match the route, /users/{id}, not the path), and /healthz, a
// built-in health endpoint, exempt for GET and HEAD.
// Counters live in memory; with REDIS_URL set (redis://, redis+sentinel://,
// redis+cluster://) every instance shares them in Redis. With CONFIG_FILE
// set, a configuration file (see config.example.toml) sets the whole policy
// instead, and editing it (or SIGHUP) reloads the rules. /metrics serves
// Prometheus metrics and /readyz checks the backend; neither is limited.
//
// Clients are identified by the connection's IP address, trusting no
// header. Behind a proxy every request would share the proxy's address:
// add identify.Use(identify.WithTrustedProxies("10.0.0.0/8")), naming only
// your proxies.
//
//	go run ./examples/nethttp  # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// rules is the policy; a configuration file replaces it.
var rules = []core.Rule{
	{Name: "default", Limits: []core.Limit{{N: 5, Per: 10 * time.Second}}},
	{Name: "login", Path: "/login", Methods: []string{"POST"},
		Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerMinute(3)}},
	{Name: "users", Path: "/users/{id}", Methods: []string{"GET"},
		Limits: []core.Limit{core.PerMinute(10)}},
}

func main() {
	if err := run(); err != nil {
		slog.Error("nethttp", "err", err)
		os.Exit(1)
	}
}

func run() error {
	reg := prometheus.NewRegistry()
	var (
		lim  *core.Limiter
		opts []sluicehttp.Option
		ping = func(context.Context) error { return nil } // the in-memory backend is always ready
	)
	if path := os.Getenv("CONFIG_FILE"); path != "" {
		svc, err := sluiceconfig.New(path, sluiceconfig.WithRegisterer(reg))
		if err != nil {
			return err
		}
		defer svc.Close()
		// Reload the rules when the file changes or on SIGHUP.
		if err := svc.Watch(); err != nil {
			return err
		}
		lim, opts, ping = svc.Limiter, svc.HTTP, svc.Ping
	} else {
		m, err := sluiceprom.New(reg)
		if err != nil {
			return err
		}
		// The log gets denials, backend failures and errors no client sees.
		copts := []core.Option{core.WithRules(rules...), core.WithObserver(m), core.WithLogger(slog.Default())}
		if url := os.Getenv("REDIS_URL"); url != "" {
			b, err := sluiceredis.NewFromURL(url)
			if err != nil {
				return err
			}
			defer b.Close()
			// If Redis fails, requests proceed (the default failure mode),
			// and the built-in circuit breaker stops waiting on Redis while
			// it keeps failing, logging its state changes to the Limiter's log.
			copts, ping = append(copts, core.WithBackend(b)), b.Ping
		}
		if lim, err = core.New(copts...); err != nil {
			return err
		}
		defer lim.Close()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome")
	})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s\n", r.PathValue("id"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Everything under /api/: a configuration file can limit its subtrees
	// separately ("/api/search/**"), since rules match the path as well as
	// the route.
	mux.HandleFunc("GET /api/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "api /%s\n", r.PathValue("rest"))
	})

	// /metrics and /readyz sit beside the limited mux, never limited. The
	// middleware runs before the mux and asks it for the pattern a request
	// matches, so /users/1 and /users/2 share the "/users/{id}" rule. A
	// "GET" pattern serves HEAD too.
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ping(r.Context()); err != nil {
			http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
		}
	})
	root.Handle("/", sluicehttp.Middleware(lim, opts...)(mux))
	return serve(root)
}

// serve runs h on $ADDR (default ":8080") until SIGINT or SIGTERM, then
// shuts down gracefully: requests in flight finish, for up to 10 seconds.
func serve(h http.Handler) error {
	ln, err := net.Listen("tcp", cmp.Or(os.Getenv("ADDR"), ":8080"))
	if err != nil {
		return err
	}
	slog.Info("listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
