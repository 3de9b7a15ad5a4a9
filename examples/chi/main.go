// Command chi is a small API server on a chi router, limited by Sluice
// through package sluicechi on the in-memory backend. Its policy, shared by
// every example, is in package policy: 5 requests per 10 seconds per client
// IP by default, 3 login attempts per minute, 10 user lookups per minute for
// all users together, and /healthz exempt. GET /api/... answers any path
// below /api. CONFIG_FILE=sluice.toml takes the policy from a
// configuration file instead, reloaded when it changes.
//
//	go run ./examples/chi          # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/examples/internal/policy"
)

func main() {
	policy.Main("chi", func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler {
		r := chi.NewRouter()
		// The middleware passes chi's route pattern, so /users/1 and /users/2
		// share the "/users/{id}" rule.
		r.Use(sluicechi.Middleware(lim, opts...))
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
		r.Get("/api/*", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "api /%s\n", chi.URLParam(r, "*"))
		})
		return r
	})
}
