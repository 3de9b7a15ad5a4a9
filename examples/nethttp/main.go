// Command nethttp is a small API server on net/http's ServeMux, limited by
// Sluice through package sluicehttp on the in-memory backend. Its policy,
// shared by every example, is in package policy: 5 requests per 10 seconds
// per client IP by default, 3 login attempts per minute, 10 user lookups per
// minute for all users together, and /healthz exempt.
//
//	go run ./examples/nethttp      # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"fmt"
	"net/http"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/examples/internal/policy"
)

func main() {
	policy.Main("nethttp", func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler {
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
		// Everything under /api/: a configuration file can limit its
		// subtrees separately ("/api/search/**"), since rules match the path
		// as well as the route.
		mux.HandleFunc("GET /api/{rest...}", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "api /%s\n", r.PathValue("rest"))
		})

		// The middleware runs before the mux; WithServeMux lets it find the
		// pattern, so /users/1 and /users/2 share the "/users/{id}" rule.
		limit := sluicehttp.Middleware(lim, append(opts, httpcontract.WithServeMux(mux))...)
		return limit(mux)
	})
}
