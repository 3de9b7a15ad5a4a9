package conformance_test

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func TestChiMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		r := chi.NewRouter()
		r.Use(sluicechi.Middleware(lim, opts...))
		for _, rt := range routes {
			r.Method(rt.Method, rt.Pattern, rt.Handler)
		}
		return r
	})
}

// TestChiMiddlewareInGroup installs the middleware inside a route group of
// a mounted subrouter, where chi has only partly routed the request.
func TestChiMiddlewareInGroup(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		sub := chi.NewRouter()
		sub.Group(func(g chi.Router) {
			g.Use(sluicechi.Middleware(lim, opts...))
			for _, rt := range routes {
				g.Method(rt.Method, rt.Pattern, rt.Handler)
			}
		})
		r := chi.NewRouter()
		r.Mount("/", sub)
		return r
	})
}

func BenchmarkChi(b *testing.B) {
	newRouter := func(routes []testkit.Route, mw func(http.Handler) http.Handler) http.Handler {
		r := chi.NewRouter()
		if mw != nil {
			r.Use(mw)
		}
		for _, rt := range routes {
			r.Method(rt.Method, rt.Pattern, rt.Handler)
		}
		return r
	}
	testkit.BenchmarkAdapter(b, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newRouter(routes, sluicechi.Middleware(lim, opts...))
	}, func(routes []testkit.Route) http.Handler { return newRouter(routes, nil) })
}
