// Command nethttp is a small API server limited by Sluice on the in-memory
// backend: 5 requests per 10 seconds per client IP by default, and 3 login
// attempts per minute.
//
//	go run ./examples/nethttp            # listens on :8080 (ADDR overrides)
//	curl -i localhost:8080/hello
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/core"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	lim, err := core.New(
		core.WithDefault(core.Every(5, 10*time.Second)),
		core.WithRules(
			core.Rule{Name: "login", Path: "/login", Methods: []string{"POST"},
				Algorithm: core.SlidingLog, Limits: []core.Limit{core.PerMinute(3)}},
			core.Rule{Name: "health", Path: "/healthz", Exempt: true},
		),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "welcome") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })

	srv := &http.Server{Addr: addr, Handler: limit(lim, mux), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("listening on %s", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// limit is a minimal middleware over core.Limiter.Decide.
func limit(lim *core.Limiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := lim.Decide(r.Context(), core.Request{
			Method: r.Method, Path: r.URL.Path, RemoteAddr: r.RemoteAddr, Header: r.Header,
		})
		if err != nil {
			http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
			return
		}
		if d.Outcome != core.Exempt && d.Outcome != core.FailOpen {
			h := w.Header()
			h.Set("X-RateLimit-Limit", strconv.FormatInt(d.Limit, 10))
			h.Set("X-RateLimit-Remaining", strconv.FormatInt(d.Remaining, 10))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(int64((d.ResetAfter+time.Second-1)/time.Second), 10))
		}
		if !d.Outcome.Proceed() {
			retry := max(1, int64((d.RetryAfter+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		defer d.Release()
		next.ServeHTTP(w, r)
	})
}
