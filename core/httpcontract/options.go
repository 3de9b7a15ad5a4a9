package httpcontract

import (
	"context"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/core"
)

// Headers selects the rate-limit header fields responses carry: one of
// the profiles below, several joined with |, or 0 for none (a denial still
// carries Retry-After). The draft that defines them has changed its syntax
// several times; pick what your clients read.
type Headers uint8

// The header profiles.
const (
	// HeadersDraft10 sends RateLimit-Policy, every window of the rule
	// (`"api-s";q=10;w=1, "api-h";q=1000;w=3600`), and RateLimit, the
	// current state (`"api-s";r=7;t=1`: r units remaining, more in t
	// seconds), in the syntax of draft-ietf-httpapi-ratelimit-headers-10.
	// It is the default.
	HeadersDraft10 Headers = 1 << iota
	// HeadersTriple sends RateLimit-Limit, RateLimit-Remaining and
	// RateLimit-Reset (seconds until the quota is back) for the most
	// constraining window, the form of the draft's earlier versions that
	// many clients and gateways still read.
	HeadersTriple
	// HeadersX sends X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds until the quota is back), the common
	// unstandardised form.
	HeadersX
	// HeadersXUnix is HeadersX with X-RateLimit-Reset as the Unix time, in
	// seconds, at which the quota is back, as GitHub's API sends it.
	HeadersXUnix
)

// DenyHandler writes the response to a denied request. The rate-limit
// headers, Retry-After and Cache-Control: no-store are already set on w when
// it is called; a handler that writes a status and a body keeps them.
type DenyHandler func(w http.ResponseWriter, r *http.Request, d *core.Decision)

type config struct {
	headers       Headers
	problemType   string
	deny          DenyHandler
	onError       func(r *http.Request, err error)
	shadowHeaders bool
	cost          func(r *http.Request) int64
	wait          func(ctx context.Context, d time.Duration) error
	unavailable   time.Duration
	frameworkIP   bool
}

func newConfig(opts []Option) config {
	c := config{
		headers:     HeadersDraft10,
		problemType: problemQuotaExceeded,
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

// WithHeaders selects the rate-limit header fields responses carry (see
// Headers): WithHeaders(HeadersDraft10|HeadersX) sends both forms,
// WithHeaders(0) none. The default is HeadersDraft10.
func WithHeaders(h Headers) Option { return optionFunc(func(c *config) { c.headers = h }) }

// WithProblemType sets the "type" URI of the problem+json body of a 429.
// The default is the IANA problem type of the ratelimit-headers draft,
// "https://iana.org/assignments/http-problem-types#quota-exceeded".
func WithProblemType(uri string) Option { return optionFunc(func(c *config) { c.problemType = uri }) }

// WithDenyHandler replaces the response to a denied request. The default
// writes status 429 and an RFC 9457 application/problem+json body of the
// type WithProblemType sets, with the violated policies, limit, remaining,
// retry_after (seconds) and rule members, and nothing of the limiter's
// internals. Whatever h writes, the response carries the rate-limit
// headers, Retry-After and Cache-Control: no-store, set before h runs.
func WithDenyHandler(h DenyHandler) Option { return optionFunc(func(c *config) { c.deny = h }) }

// WithErrorHandler receives errors that are not sent to the client: a
// backend failure behind a fail-open or fail-closed decision, a Decide error
// (the identifier failed, the Limiter is closed) or a failed wait (see
// WithWait). The Limiter logs the first two to its logger (core.WithLogger)
// either way, at most once a second; use this for anything else, such as
// tracing. The default does nothing more.
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

// WithFrameworkClientIP keys clients by the address their framework
// resolved (gin's c.ClientIP(), echo's c.RealIP(), under the framework's
// own trusted-proxy settings) instead of by the connection's peer, for an
// application that already trusts its framework's answer: then Sluice's
// key is the address the application logs and sees. The Limiter's
// identifier takes that address as the peer, so configure trusted proxies
// in one place only, the framework. Adapters whose framework resolves no
// address (net/http, chi) ignore it; with chi, install
// middleware.RealIP before Sluice instead: it rewrites RemoteAddr, which
// Sluice reads.
func WithFrameworkClientIP() Option { return optionFunc(func(c *config) { c.frameworkIP = true }) }

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
