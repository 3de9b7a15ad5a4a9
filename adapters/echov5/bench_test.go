package sluiceechov5_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func BenchmarkMiddleware(b *testing.B) {
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
