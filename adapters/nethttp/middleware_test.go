package sluicehttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// TestMiddlewareMountedInAnotherMux mounts the middleware and the mux it
// wraps under an outer ServeMux, as the examples do beside /metrics. The
// outer mux sets Request.Pattern to its own "/", which says nothing about
// the route: a rule for "/" must still apply to "/" only.
func TestMiddlewareMountedInAnotherMux(t *testing.T) {
	lim, err := core.New(
		core.WithDefault(core.PerMinute(100)),
		core.WithRules(core.Rule{Name: "root", Path: "/", Limits: []core.Limit{core.PerMinute(1)}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	inner := http.NewServeMux()
	inner.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {})
	inner.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {})
	outer := http.NewServeMux()
	outer.Handle("/", sluicehttp.Middleware(lim, httpcontract.WithHeaders(httpcontract.HeadersX))(inner))
	get := func(path string) *http.Response {
		w := httptest.NewRecorder()
		outer.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Result()
	}
	for i := range 3 {
		if resp := get("/hello"); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Limit") != "100" {
			t.Fatalf("GET /hello #%d: %d, limit %q; want 200 under the default rule (100)", i+1, resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"))
		}
	}
	if resp := get("/"); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Limit") != "1" {
		t.Fatalf("GET /: %d, limit %q; want 200 under the root rule (1)", resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"))
	}
	if resp := get("/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second GET /: %d, want 429", resp.StatusCode)
	}
}
