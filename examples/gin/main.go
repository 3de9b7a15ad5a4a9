// Command gin is a small API server on a gin engine, limited by Sluice
// through package sluicegin. Copy this file to start your own: it builds on
// its own, in a module of yours.
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
//	go run ./examples/gin  # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
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
		slog.Error("gin", "err", err)
		os.Exit(1)
	}
}

func run() error {
	reg := prometheus.NewRegistry()
	var (
		lim  *core.Limiter
		opts []sluicegin.Option
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

	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode) // no debug banner and route dump; GIN_MODE=debug shows them
	}
	r := gin.New()
	r.Use(gin.Recovery())
	// The middleware passes gin's route ("/users/:id", read as
	// "/users/{id}"), so /users/1 and /users/2 share that rule.
	r.Use(sluicegin.Middleware(lim, opts...))
	r.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })
	r.POST("/login", func(c *gin.Context) { c.String(http.StatusOK, "welcome\n") })
	r.GET("/users/:id", func(c *gin.Context) { c.String(http.StatusOK, "user %s\n", c.Param("id")) })
	healthz := func(c *gin.Context) { c.String(http.StatusOK, "ok\n") }
	r.GET("/healthz", healthz)
	r.HEAD("/healthz", healthz) // for probes that use HEAD
	r.GET("/api/*rest", func(c *gin.Context) { c.String(http.StatusOK, "api %s\n", c.Param("rest")) })

	// /metrics and /readyz sit beside the limited engine, never limited.
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ping(r.Context()); err != nil {
			http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
		}
	})
	root.Handle("/", r)
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
