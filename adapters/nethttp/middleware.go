package sluicehttp

import (
	"net/http"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// Option configures the middleware; see package httpcontract for the
// options.
type Option = httpcontract.Option

// Middleware returns net/http middleware that limits every request with lim.
// It panics if lim is nil.
func Middleware(lim *core.Limiter, opts ...Option) func(http.Handler) http.Handler {
	m := httpcontract.New(lim, opts...)
	return m.Handler
}

// Handler returns h limited by lim: Middleware for a single handler.
func Handler(lim *core.Limiter, h http.Handler, opts ...Option) http.Handler {
	return httpcontract.New(lim, opts...).Handler(h)
}
