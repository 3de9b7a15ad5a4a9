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
//
// Clients are keyed by the connection's peer, or by what the Limiter's
// identifier makes of it and its headers (trusted proxies are configured
// there, see package identify), not by c.ClientIP(), which follows gin's
// own trusted-proxy settings: the two agree only when both trust the same
// proxies. To key clients by c.ClientIP() instead, pass
// httpcontract.WithFrameworkClientIP().
func Middleware(lim *core.Limiter, opts ...Option) gin.HandlerFunc {
	m := httpcontract.New(lim, opts...)
	return func(c *gin.Context) {
		if !m.ServeClient(c.Writer, c.Request, httpcontract.RouteTemplate(c.FullPath()), c.ClientIP, c.Next) {
			c.Abort()
		}
	}
}
