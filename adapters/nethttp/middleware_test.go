package sluicehttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

// TestMiddleware wraps the whole ServeMux, telling the middleware about it
// so route patterns are known.
func TestMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		mux := newMux(routes, nil)
		return sluicehttp.Middleware(lim, opts...)(mux)
	})
}

// TestHandler wraps each route's handler on its own.
func TestHandler(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newMux(routes, func(h http.Handler) http.Handler { return sluicehttp.Handler(lim, h, opts...) })
	})
}

func newMux(routes []testkit.Route, wrap func(http.Handler) http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		var h http.Handler = r.Handler
		if wrap != nil {
			h = wrap(h)
		}
		mux.Handle(r.Method+" "+r.Pattern, h)
	}
	return mux
}

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
