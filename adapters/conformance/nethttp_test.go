package conformance_test

import (
	"net/http"
	"testing"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

// TestNetHTTPMiddleware wraps the whole ServeMux, telling the middleware
// about it so route patterns are known.
func TestNetHTTPMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		mux := newMux(routes, nil)
		return sluicehttp.Middleware(lim, opts...)(mux)
	})
}

// TestNetHTTPHandler wraps each route's handler on its own.
func TestNetHTTPHandler(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newMux(routes, func(h http.Handler) http.Handler { return sluicehttp.Handler(lim, h, opts...) })
	})
}

func BenchmarkNetHTTP(b *testing.B) {
	testkit.BenchmarkAdapter(b, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newMux(routes, func(h http.Handler) http.Handler { return sluicehttp.Handler(lim, h, opts...) })
	}, func(routes []testkit.Route) http.Handler { return newMux(routes, nil) })
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
