package sluicechi

import (
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// Option configures the middleware; see package httpcontract for the
// options.
type Option = httpcontract.Option

// Middleware returns chi middleware that limits every request with lim. It
// panics if lim is nil.
func Middleware(lim *core.Limiter, opts ...Option) func(http.Handler) http.Handler {
	m := httpcontract.New(lim, opts...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.Serve(w, r, httpcontract.RouteTemplate(routePattern(r)), func() { next.ServeHTTP(w, r) })
		})
	}
}

var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// routePattern returns the pattern chi routes r to. Middleware registered
// with Use runs before chi routes, so the pattern is looked up in the router
// with a scratch routing context; inside a route it is already known.
func routePattern(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return ""
	}
	if rctx.Routes != nil {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		scratch := routeContexts.Get().(*chi.Context)
		scratch.Reset()
		pattern := rctx.Routes.Find(scratch, r.Method, path)
		routeContexts.Put(scratch)
		if pattern != "" {
			return pattern
		}
	}
	return rctx.RoutePattern()
}
