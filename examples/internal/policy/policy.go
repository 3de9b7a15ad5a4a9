// Package policy is the rate-limiting policy that every example server
// applies, written once so the four servers differ only in their framework:
//
//   - by default, 5 requests per 10 seconds per client IP (token bucket);
//   - POST /login, 3 per minute (sliding log: exact, for a small limit);
//   - GET /users/{id}, 10 per minute, one counter for every user ID, because
//     rules match the framework's route template, not the path;
//   - GET /healthz, exempt, so probes never use up a client's quota.
//
// Clients are identified by the connection's IP address (core.RemoteIP),
// trusting no header. Behind a proxy or load balancer every request would
// share the proxy's address: pass core.WithIdentifier an identifier that
// trusts only your proxies.
package policy

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/sluicehq/sluice/core"
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

// Limiter returns a Limiter with the examples' rules on the in-memory
// backend. Close it when the server has shut down.
func Limiter() (*core.Limiter, error) {
	opts := []core.Option{
		core.WithRules(Rules()...),
		core.WithErrorHandler(func(err error) { slog.Error("sluice", "err", err) }),
	}

	// REDIS BACKEND: a later change plugs the Redis backend in here, so
	// that every instance of a server shares its counters:
	//
	//	if url := os.Getenv("REDIS_URL"); url != "" {
	//		opts = append(opts, core.WithBackend( /* sluiceredis backend for url */ ))
	//	}
	//
	// Until then no backend is configured and each process counts in its
	// own memory.
	if os.Getenv("REDIS_URL") != "" {
		slog.Warn("REDIS_URL is set but the examples do not support Redis yet; counting in memory")
	}

	return core.New(opts...)
}

// LogError logs an error the middleware does not send to the client (a
// backend failure, say). Pass it to httpcontract.WithErrorHandler.
func LogError(r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "sluice", "method", r.Method, "path", r.URL.Path, "err", err)
}
