package httpcontract

import (
	"context"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/core"
)

// HeaderSet selects which rate-limit header fields responses carry.
type HeaderSet uint8

// The header sets.
const (
	// HeadersBoth sends the legacy X-RateLimit-* fields and the IETF
	// RateLimit-Policy and RateLimit fields. It is the default.
	HeadersBoth HeaderSet = iota
	// HeadersLegacy sends X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset only.
	HeadersLegacy
	// HeadersIETF sends RateLimit-Policy and RateLimit only, in the syntax
	// of draft-ietf-httpapi-ratelimit-headers-10.
	HeadersIETF
	// HeadersNone sends no rate-limit fields; denials still carry
	// Retry-After.
	HeadersNone
)

func (s HeaderSet) legacy() bool { return s == HeadersBoth || s == HeadersLegacy }
func (s HeaderSet) ietf() bool   { return s == HeadersBoth || s == HeadersIETF }

// ResetFormat selects how X-RateLimit-Reset is written.
type ResetFormat uint8

// The reset formats.
const (
	// ResetSeconds writes the number of seconds until the quota resets,
	// rounded up. It is the default.
	ResetSeconds ResetFormat = iota
	// ResetUnix writes the Unix time, in seconds, at which the quota
	// resets, as GitHub's API does.
	ResetUnix
)

// DenyHandler writes the response to a denied request. The rate-limit
// headers, Retry-After and Cache-Control: no-store are already set on w when
// it is called; a handler that writes a status and a body keeps them.
type DenyHandler func(w http.ResponseWriter, r *http.Request, d *core.Decision)

type config struct {
	headers       HeaderSet
	reset         ResetFormat
	deny          DenyHandler
	onError       func(r *http.Request, err error)
	shadowHeaders bool
	cost          func(r *http.Request) int64
	wait          func(ctx context.Context, d time.Duration) error
	unavailable   time.Duration
	mux           *http.ServeMux
}

func newConfig(opts []Option) config {
	c := config{
		wait:        sleep,
		unavailable: time.Second,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Option configures a Middleware. Every adapter declares
// `type Option = httpcontract.Option`, so options are shared by all of them.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHeaders selects the rate-limit header fields. The default is
// HeadersBoth.
func WithHeaders(s HeaderSet) Option { return optionFunc(func(c *config) { c.headers = s }) }

// WithResetFormat selects how X-RateLimit-Reset is written. The default is
// ResetSeconds.
func WithResetFormat(f ResetFormat) Option { return optionFunc(func(c *config) { c.reset = f }) }

// WithDenyHandler replaces the response to a denied request. The default
// writes a 429 application/problem+json body (see WriteDenied). Whatever h
// writes, the response carries the rate-limit headers, Retry-After and
// Cache-Control: no-store, set before h runs.
func WithDenyHandler(h DenyHandler) Option { return optionFunc(func(c *config) { c.deny = h }) }

// WithErrorHandler receives errors that are not sent to the client: a
// backend failure behind a fail-open or fail-closed decision, a Decide error
// (the identifier failed, the Limiter is closed) or a failed wait (see
// WithWait). Without it, the Limiter logs the first two itself to its
// logger (core.WithLogger), at most once a second, with the request's
// method, route and path, and nothing when it has no logger; a failed wait
// is the WithWait function's to report.
func WithErrorHandler(f func(r *http.Request, err error)) Option {
	return optionFunc(func(c *config) { c.onError = f })
}

// WithShadowHeaders makes responses governed by a shadow rule carry its
// rate-limit headers. By default they carry none, so that rolling out a
// rule in shadow mode changes nothing clients can see.
func WithShadowHeaders(on bool) Option { return optionFunc(func(c *config) { c.shadowHeaders = on }) }

// WithCost sets a function that gives a request's cost, overriding the
// rule's cost when it returns a positive number.
func WithCost(f func(r *http.Request) int64) Option {
	return optionFunc(func(c *config) { c.cost = f })
}

// WithWait replaces how a Delayed request waits. It must return ctx's error
// when ctx ends first. Another error answers 503 and goes to the error
// handler (WithErrorHandler), if any. The default uses a timer, which fails
// only when ctx ends; tests pass their own.
func WithWait(f func(ctx context.Context, d time.Duration) error) Option {
	return optionFunc(func(c *config) { c.wait = f })
}

// WithUnavailableRetryAfter sets the Retry-After of the 503 sent when the
// backend fails and the failure mode is closed. The default is 1s.
func WithUnavailableRetryAfter(d time.Duration) Option {
	return optionFunc(func(c *config) { c.unavailable = d })
}

// WithServeMux lets a net/http middleware that wraps a whole ServeMux find
// each request's route pattern (such as "/users/{id}") before the mux runs,
// so that all paths of one pattern share a rule and its counters. Handlers
// wrapped one by one do not need it: the pattern is known by then. With it,
// the middleware uses mux's pattern even when an outer mux routed the
// request to it.
func WithServeMux(mux *http.ServeMux) Option { return optionFunc(func(c *config) { c.mux = mux }) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
