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

// The adapter conformance test that docs/extending.md shows (see
// docs/gen/snippets.go).

// snippet:adapter-suite
func TestConformance(t *testing.T) {
	testkit.RunAdapterSuite(t, func(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
		r := gin.New() // your framework's own router
		r.Use(sluicegin.Middleware(lim, opts...))
		for _, rt := range routes {
			r.Handle(rt.Method, testkit.ColonParams(rt.Pattern), gin.WrapF(rt.Handler))
		}
		return r
	})
}

// end snippet:adapter-suite
