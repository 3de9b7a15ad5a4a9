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
func Middleware(lim *core.Limiter, opts ...Option) echo.MiddlewareFunc {
	m := httpcontract.New(lim, opts...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			var err error
			m.Serve(c.Response(), c.Request(), httpcontract.RouteTemplate(c.Path()), func() { err = next(c) })
			return err
		}
	}
}
