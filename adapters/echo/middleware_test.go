package sluiceecho_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	sluiceecho "github.com/sluicehq/sluice/adapters/echo"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func TestMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		e.Use(sluiceecho.Middleware(lim, opts...))
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler))
		}
		return e
	})
}

// TestMiddlewarePerRoute installs the middleware on each route.
func TestMiddlewarePerRoute(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		mw := sluiceecho.Middleware(lim, opts...)
		for _, rt := range routes {
			e.Add(rt.Method, testkit.ColonParams(rt.Pattern), echo.WrapHandler(rt.Handler), mw)
		}
		return e
	})
}
