// Command chi is a small API server on a chi router, limited by Sluice
// through package sluicechi on the in-memory backend. Its policy, shared by
// every example, is in package policy: 5 requests per 10 seconds per client
// IP by default, 3 login attempts per minute, 10 user lookups per minute for
// all users together, and /healthz exempt.
//
//	go run ./examples/chi          # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/examples/internal/policy"
)

func main() {
	if err := run(); err != nil {
		slog.Error("chi", "err", err)
		os.Exit(1)
	}
}

func run() error {
	lim, err := policy.Limiter()
	if err != nil {
		return err
	}
	defer lim.Close()

	r := chi.NewRouter()
	// The middleware passes chi's route pattern, so /users/1 and /users/2
	// share the "/users/{id}" rule. Backend failures are logged, never sent
	// to the client.
	r.Use(sluicechi.Middleware(lim, httpcontract.WithErrorHandler(policy.LogError)))
	r.Get("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome")
	})
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s\n", chi.URLParam(r, "id"))
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return policy.Serve(r)
}
