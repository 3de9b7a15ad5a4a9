package conformance_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func init() { gin.SetMode(gin.ReleaseMode) }

func TestGinMiddleware(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		r := gin.New()
		r.Use(sluicegin.Middleware(lim, opts...))
		for _, rt := range routes {
			r.Handle(rt.Method, testkit.ColonParams(rt.Pattern), gin.WrapF(rt.Handler))
		}
		return r
	})
}

// TestGinMiddlewarePerRoute installs the middleware on each route.
func TestGinMiddlewarePerRoute(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		r := gin.New()
		mw := sluicegin.Middleware(lim, opts...)
		api := r.Group("/")
		for _, rt := range routes {
			api.Handle(rt.Method, testkit.ColonParams(rt.Pattern), mw, gin.WrapF(rt.Handler))
		}
		return r
	})
}

func BenchmarkGin(b *testing.B) {
	newEngine := func(routes []testkit.Route, mw gin.HandlerFunc) http.Handler {
		r := gin.New()
		if mw != nil {
			r.Use(mw)
		}
		for _, rt := range routes {
			r.Handle(rt.Method, testkit.ColonParams(rt.Pattern), gin.WrapF(rt.Handler))
		}
		return r
	}
	testkit.BenchmarkAdapter(b, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newEngine(routes, sluicegin.Middleware(lim, opts...))
	}, func(routes []testkit.Route) http.Handler { return newEngine(routes, nil) })
}
