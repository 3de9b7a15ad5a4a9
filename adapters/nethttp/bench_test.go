package sluicehttp_test

import (
	"net/http"
	"testing"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

func BenchmarkMiddleware(b *testing.B) {
	testkit.BenchmarkAdapter(b, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		return newMux(routes, func(h http.Handler) http.Handler { return sluicehttp.Handler(lim, h, opts...) })
	}, func(routes []testkit.Route) http.Handler { return newMux(routes, nil) })
}
