package sluicegin

import (
	"github.com/gin-gonic/gin"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// Option configures the middleware; see package httpcontract for the
// options.
type Option = httpcontract.Option

// Middleware returns gin middleware that limits every request with lim. It
// panics if lim is nil.
func Middleware(lim *core.Limiter, opts ...Option) gin.HandlerFunc {
	m := httpcontract.New(lim, opts...)
	return func(c *gin.Context) {
		if !m.Serve(c.Writer, c.Request, httpcontract.RouteTemplate(c.FullPath()), c.Next) {
			c.Abort()
		}
	}
}
