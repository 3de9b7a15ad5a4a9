package conformance_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	sluiceecho "github.com/sluicehq/sluice/adapters/echo"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func TestEchoMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		e.Use(sluiceecho.Middleware(lim, opts...))
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler))
		}
		return e
	})
}

// TestEchoMiddlewarePerRoute installs the middleware on each route.
func TestEchoMiddlewarePerRoute(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		mw := sluiceecho.Middleware(lim, opts...)
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler), mw)
		}
		return e
	})
}

func BenchmarkEcho(b *testing.B) {
	newEcho := func(routes []testkit.Route, mw echo.MiddlewareFunc) http.Handler {
		e := echo.New()
		if mw != nil {
			e.Use(mw)
		}
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler))
		}
		return e
	}
	testkit.BenchmarkAdapter(b, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newEcho(routes, sluiceecho.Middleware(lim, opts...))
	}, func(routes []testkit.Route) http.Handler { return newEcho(routes, nil) })
}
