package httpcontract

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/core"
)

// Middleware applies a Limiter to HTTP requests. It holds everything the
// adapters share; an adapter only calls Serve with its framework's request,
// response writer, route template and next step. It is safe for concurrent
// use.
type Middleware struct {
	lim      *core.Limiter
	cfg      config
	policies atomic.Pointer[[]*policyEntry] // the RateLimit-Policy field per rule (headers.go)

}

// New returns a Middleware for lim. It panics if lim is nil: that is a
// programming error at startup, not a request-time condition.
func New(lim *core.Limiter, opts ...Option) *Middleware {
	if lim == nil {
		panic("httpcontract: nil *core.Limiter")
	}
	m := &Middleware{lim: lim, cfg: newConfig(opts)}
	if m.cfg.deny == nil {
		m.cfg.deny = m.writeDenied
	}
	return m
}

// reportError hands err, which the client never sees, to the error handler
// (WithErrorHandler). Without one it is already logged, at most once a
// second: the Limiter logs the errors of Decide and the backend failures
// behind fail-open and fail-closed decisions to its logger (core.WithLogger).
func (m *Middleware) reportError(r *http.Request, err error) {
	if m.cfg.onError != nil {
		m.cfg.onError(r, err)
	}
}

// request builds the core.Request for r. route is the framework's route
// template, or "" when it has none: then the pattern of mux, if it has one,
// or of the ServeMux that routed r.
func (m *Middleware) request(r *http.Request, route string, mux router, clientIP func() string) core.Request {
	if route == "" {
		route = muxRoute(r, mux)
	}
	req := core.Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		Route:      route,
		RemoteAddr: r.RemoteAddr,
		Header:     r.Header,
	}
	if m.cfg.cost != nil {
		req.Cost = m.cfg.cost(r)
	}
	if m.cfg.frameworkIP && clientIP != nil {
		if ip := clientIP(); ip != "" {
			req.RemoteAddr = ip
		}
	}
	return req
}

// router is what an http.ServeMux can do: tell the pattern a request
// matches without serving it.
type router interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// muxRoute finds a net/http route pattern: the one mux (the handler the
// middleware wraps, when it is a router) would match, or else the one a
// ServeMux already matched. mux comes first: when the middleware is
// mounted in an outer mux, Request.Pattern is the outer mux's, such as
// "/", which says nothing of the route.
func muxRoute(r *http.Request, mux router) string {
	var pattern string
	if mux != nil {
		_, pattern = mux.Handler(r)
	} else {
		pattern = r.Pattern
	}
	if pattern == "" {
		return ""
	}
	// "GET example.com/users/{id}" -> "/users/{id}"
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return strings.TrimSuffix(pattern, "{$}")
}

// Serve decides on r and either calls next, after writing the rate-limit
// headers to w (and after waiting, for a Delayed decision), or writes the
// response itself: 429 for a denial, 503 when the backend failed closed or
// no decision could be made. It reports whether next was called. A
// concurrency slot is released when next returns or panics. route is the
// framework's route template for r (see RouteTemplate), or "".
func (m *Middleware) Serve(w http.ResponseWriter, r *http.Request, route string, next func()) bool {
	return m.serve(w, r, route, nil, nil, next)
}

// ServeClient is Serve for an adapter whose framework resolves the
// client's address: clientIP returns it, and is called only when the
// Middleware was made WithFrameworkClientIP.
func (m *Middleware) ServeClient(w http.ResponseWriter, r *http.Request, route string, clientIP func() string, next func()) bool {
	return m.serve(w, r, route, nil, clientIP, next)
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, route string, mux router, clientIP func() string, next func()) bool {
	d, err := m.lim.Decide(r.Context(), m.request(r, route, mux, clientIP))
	if err != nil {
		if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return false // the client is gone; nobody reads a response
		}
		m.reportError(r, err)
		writeUnavailable(w, seconds(m.cfg.unavailable))
		return false
	}
	switch d.Outcome {
	case core.Exempt:
		next()
		return true
	case core.FailedClosed:
		m.reportError(r, d.Err)
		writeUnavailable(w, seconds(m.cfg.unavailable))
		return false
	case core.FailedOpen:
		m.reportError(r, d.Err)
	case core.Denied:
		h := w.Header()
		m.writeHeaders(h, &d)
		// Set before any deny handler runs, so that no handler can forget
		// it: a cached 429 would deny a client after its quota came back.
		h[keyCacheCtl] = []string{"no-store"}
		denied := d // only a denial pays for the copy the handler may keep
		m.cfg.deny(w, r, &denied)
		return false
	case core.Delayed:
		if err := m.cfg.wait(r.Context(), d.Delay); err != nil {
			d.Release()
			if r.Context().Err() == nil { // the wait failed, not the client
				m.reportError(r, err)
				writeUnavailable(w, seconds(m.cfg.unavailable))
			}
			return false
		}
	}
	m.writeHeaders(w.Header(), &d)
	defer d.Release()
	next()
	return true
}

// Handler returns h limited by m, for net/http. When h can tell the
// pattern a request matches, as an *http.ServeMux can, rules match
// requests by that route pattern (such as "/users/{id}") before h runs;
// otherwise by the pattern of the ServeMux that routed the request, if any.
func (m *Middleware) Handler(h http.Handler) http.Handler {
	mux, _ := h.(router)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(w, r, "", mux, nil, func() { h.ServeHTTP(w, r) })
	})
}

// routeTemplates caches RouteTemplate results. Adapters pass registered
// routes, a small fixed set; the cache stops growing at maxRouteTemplates
// anyway, so a framework that passed raw paths could not exhaust memory.
var (
	routeTemplates     sync.Map // string -> string
	routeTemplateCount atomic.Int64
)

const maxRouteTemplates = 4096

// RouteTemplate rewrites a framework's route into the "{name}" syntax rules
// are written in: ":id" (gin, echo, httprouter) and chi's "{id:[0-9]+}"
// become "{id}", "*path" becomes "{path...}" and a bare "*" becomes
// "{...}". Routes already in plain brace syntax are returned unchanged.
// Results are cached, so the common call does not allocate.
func RouteTemplate(route string) string {
	if strings.IndexByte(route, ':') < 0 && strings.IndexByte(route, '*') < 0 {
		return route
	}
	if v, ok := routeTemplates.Load(route); ok {
		return v.(string)
	}
	segs := strings.Split(route, "/")
	for i, s := range segs {
		switch {
		case len(s) > 1 && s[0] == ':':
			name, _, _ := strings.Cut(s[1:], ":")
			segs[i] = "{" + name + "}"
		case len(s) > 1 && s[0] == '*':
			name, _, _ := strings.Cut(s[1:], ":")
			segs[i] = "{" + name + "...}"
		case s == "*":
			segs[i] = "{...}"
		case len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}':
			if name, _, regex := strings.Cut(s[1:len(s)-1], ":"); regex {
				segs[i] = "{" + name + "}"
			}
		}
	}
	out := strings.Join(segs, "/")
	if routeTemplateCount.Add(1) <= maxRouteTemplates {
		routeTemplates.Store(route, out)
	}
	return out
}
