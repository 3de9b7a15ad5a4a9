package conformance_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func TestEchoV5Middleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		e.Use(sluiceechov5.Middleware(lim, opts...))
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler))
		}
		return e
	})
}

// TestEchoV5MiddlewarePerRoute installs the middleware on each route.
func TestEchoV5MiddlewarePerRoute(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		mw := sluiceechov5.Middleware(lim, opts...)
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler), mw)
		}
		return e
	})
}

func BenchmarkEchoV5(b *testing.B) {
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
		return newEcho(routes, sluiceechov5.Middleware(lim, opts...))
	}, func(routes []testkit.Route) http.Handler { return newEcho(routes, nil) })
}
