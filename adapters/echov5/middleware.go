package sluiceechov5

import (
	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// Option configures the middleware; see package httpcontract for the
// options.
type Option = httpcontract.Option

// Middleware returns echo middleware that limits every request with lim. It
// panics if lim is nil. A limited request never reaches next, and the
// middleware returns nil for it: the response is already written.
//
// Clients are keyed by the connection's peer, or by what the Limiter's
// identifier makes of it and its headers (trusted proxies are configured
// there, see package identify), not by c.RealIP(), which follows echo's
// IPExtractor: the two agree only when both trust the same proxies. To key
// clients by c.RealIP() instead, pass httpcontract.WithFrameworkClientIP().
func Middleware(lim *core.Limiter, opts ...Option) echo.MiddlewareFunc {
	m := httpcontract.New(lim, opts...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			var err error
			m.ServeClient(c.Response(), c.Request(), httpcontract.RouteTemplate(c.Path()), c.RealIP, func() { err = next(c) })
			return err
		}
	}
}
