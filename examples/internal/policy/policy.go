// Package policy is the rate-limiting policy that every example server
// applies, written once so the four servers differ only in their framework:
//
//   - by default, 5 requests per 10 seconds per client IP (token bucket);
//   - POST /login, 3 per minute (sliding log: exact, for a small limit);
//   - GET /users/{id}, 10 per minute, one counter for every user ID, because
//     rules match the framework's route template, not the path;
//   - GET /healthz, exempt, so probes never use up a client's quota.
//
// With REDIS_URL set (redis://, redis+sentinel://, redis+cluster://) every
// instance shares its counters in Redis. With CONFIG_FILE set to a
// configuration file (see config.example.toml), the file sets the whole
// policy instead, and editing it (or SIGHUP) reloads the rules. /metrics
// serves the Prometheus metrics and /readyz checks the backend; neither is
// limited.
//
// Clients are identified by the connection's IP address (core.RemoteIP),
// trusting no header. Behind a proxy or load balancer every request would
// share the proxy's address: pass core.WithIdentifier an identifier that
// trusts only your proxies.
package policy

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/breaker"
	"github.com/sluicehq/sluice/core/httpcontract"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// Rules returns the examples' rules.
func Rules() []core.Rule {
	return []core.Rule{
		{Name: "default", Limits: []core.Limit{core.Every(5, 10*time.Second)}},
		{Name: "login", Path: "/login", Methods: []string{"POST"},
			Algorithm: core.SlidingLog, Limits: []core.Limit{core.PerMinute(3)}},
		{Name: "users", Path: "/users/{id}", Methods: []string{"GET"},
			Limits: []core.Limit{core.PerMinute(10)}},
		// HEAD too: net/http serves HEAD for GET routes, and probes use it.
		{Name: "health", Path: "/healthz", Methods: []string{"GET", "HEAD"}, Exempt: true},
	}
}

// Limiter returns a Limiter with the examples' rules and a function that
// releases what it holds. Without REDIS_URL it counts in memory; with it,
// every instance shares its counters in Redis, behind a circuit breaker, and
// fails open if Redis does. Its metrics go to reg.
func Limiter(reg prometheus.Registerer) (*core.Limiter, func(), error) {
	m, err := sluiceprom.New(reg)
	if err != nil {
		return nil, nil, err
	}
	opts := []core.Option{
		core.WithRules(Rules()...),
		core.WithObserver(m),
		core.WithLogger(slog.Default()),
		core.WithErrorHandler(func(err error) { slog.Error("sluice", "err", err) }),
	}
	closeBackend := func() {}
	if url := os.Getenv("REDIS_URL"); url != "" {
		b, err := sluiceredis.NewFromURL(url)
		if err != nil {
			return nil, nil, err
		}
		closeBackend = func() { b.Close() }
		br := breaker.New(breaker.WithName("redis"), breaker.WithOnStateChange(m.BreakerStateChanged("redis")),
			breaker.WithLogger(slog.Default()))
		opts = append(opts, core.WithBackend(b), core.WithBreaker(br))
	}
	lim, err := core.New(opts...)
	if err != nil {
		closeBackend()
		return nil, nil, err
	}
	return lim, func() { lim.Close(); closeBackend() }, nil
}

// Main runs an example server: build returns the framework's handler with
// the Sluice middleware installed with opts. /metrics is served beside it,
// never limited. Main logs and exits 1 on error.
func Main(name string, build func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler) {
	if err := run(build); err != nil {
		slog.Error(name, "err", err)
		os.Exit(1)
	}
}

func run(build func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler) error {
	reg := prometheus.NewRegistry()
	var (
		lim     *core.Limiter
		opts    []httpcontract.Option
		release func()
		err     error
	)
	if path := os.Getenv("CONFIG_FILE"); path != "" {
		lim, opts, release, err = FromConfig(path, reg)
	} else {
		lim, release, err = Limiter(reg)
	}
	if err != nil {
		return err
	}
	defer release()
	// Backend failures are logged, never sent to the client.
	app := build(lim, append(opts, httpcontract.WithErrorHandler(LogError))...)
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := lim.Ping(r.Context()); err != nil {
			http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	root.Handle("/", app)
	return Serve(root)
}

// FromConfig builds the Limiter from the configuration file at path (see
// package sluiceconfig and config.example.toml) instead of Rules, and
// reloads its rules when the file changes or the process gets SIGHUP. It
// returns the adapter options of the file's headers section and a function
// that releases what it holds. Metrics, when the file enables them, go to
// reg, reload counts included.
func FromConfig(path string, reg prometheus.Registerer) (*core.Limiter, []httpcontract.Option, func(), error) {
	svc, err := sluiceconfig.New(path, sluiceconfig.WithRegisterer(reg))
	if err != nil {
		return nil, nil, nil, err
	}
	wopts := []sluiceconfig.WatchOption{sluiceconfig.WithWatchLogger(slog.Default())}
	if svc.Metrics != nil {
		wopts = append(wopts, sluiceconfig.WithReloadHook(svc.Metrics.ConfigReloaded))
	}
	w, err := sluiceconfig.Watch(svc.Limiter, path, svc.Config, wopts...)
	if err != nil {
		svc.Close()
		return nil, nil, nil, err
	}
	return svc.Limiter, svc.HTTP, func() { w.Close(); svc.Close() }, nil
}

// LogError logs an error the middleware does not send to the client (a
// backend failure, say). Pass it to httpcontract.WithErrorHandler.
func LogError(r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "sluice", "method", r.Method, "path", r.URL.Path, "err", err)
}
