package sluiceclient

import (
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
)

// config is what the options set.
type config struct {
	lim        *core.Limiter
	rule       string
	key        func(*http.Request) string
	maxRetries int
	maxWait    time.Duration
	jitter     float64
	clock      clock.Clock
	onWait     func(Event)
}

func defaultConfig() config {
	return config{
		key:        hostKey,
		maxRetries: 3,
		maxWait:    time.Minute,
		jitter:     0.2,
		clock:      clock.Real,
	}
}

// Option configures a Transport.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithLimiter paces every request with a limit of the caller's own, the
// rule named rule of lim, such as 5000 an hour per GitHub token: before
// each send, including each retry, the transport takes one unit of the rule
// for the request's key (see WithKey), waiting while the rule denies it.
// Give the rule NameOnly, so that no HTTP request of a server sharing the
// Limiter can match it. The Limiter's backend decides who shares the
// quota: the in-memory default keeps it per process; the Redis backend
// (package sluiceredis) shares it with every process that uses the same
// Redis, so a fleet of instances stays within one outbound quota. The
// default is no limit of the caller's own: only what responses say paces
// requests.
//
// When the Limiter's backend fails, the rule's failure mode decides: a
// request proceeds when it fails open, and fails with an error wrapping
// core.ErrBackendUnavailable when it fails closed. Wrap panics if lim is
// nil or has no rule named rule.
func WithLimiter(lim *core.Limiter, rule string) Option {
	return optionFunc(func(c *config) { c.lim, c.rule = lim, rule })
}

// WithKey sets what requests share a quota: requests whose key is the same
// are paced together, by the Limiter of WithLimiter and by what their
// responses said. The default is the request's host, lower-cased and
// without the scheme's default port, so every request to api.github.com
// shares one quota. Key by what the server limits: per token, say, for an
// API that limits each token (return a digest of the token, or a name for
// it, rather than the token itself: keys may appear in logs and in Redis).
// A function returning "" gives the request the default key.
func WithKey(f func(*http.Request) string) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.key = f
		}
	})
}

// WithMaxRetries sets how many times a request refused for a rate limit
// (429, and 403 or 503 with Retry-After) is sent again; 0 turns retries
// off. The default is 3. Only requests that are safe to send twice are
// retried (see Transport).
func WithMaxRetries(n int) Option {
	return optionFunc(func(c *config) { c.maxRetries = n })
}

// WithMaxWait sets the longest the transport waits at once, for pacing or
// before a retry. A request that would have to wait longer, because a quota
// is spent until later or a Retry-After names a later time, is not held:
// a retry is given up and its last response returned; a request not sent
// yet fails at once with an error wrapping ErrWaitTooLong. The default is
// one minute. Raise it for APIs whose quotas reset hourly or daily, such
// as GitHub's, when callers can wait that long; every wait also ends with
// the request's context.
func WithMaxWait(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxWait = d })
}

// WithJitter sets how much random time is added to the waits that
// responses ask for (a Retry-After, a quota's reset), as a fraction of the
// wait: with the default 0.2, a Retry-After of 10s is waited 10 to 12s,
// so that many clients told the same time do not return at the same
// instant. Jitter only adds: no request is sent earlier than the server
// said. 0 turns it off. The waits of the Limiter of WithLimiter get none:
// the Limiter itself orders its callers.
func WithJitter(fraction float64) Option {
	return optionFunc(func(c *config) { c.jitter = fraction })
}

// WithClock sets the clock the transport reads and waits on. The default
// is clock.Real; tests pass a clock.Fake, and share it with their Limiter
// and test server, so that waits take no real time.
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	})
}

// WithOnWait sets a function called before each wait, and so before each
// retry, with what the transport is about to do: to log it, count it or
// show it. It is called on the request's goroutine and must be fast and
// safe for concurrent use. The default is none.
func WithOnWait(f func(Event)) Option {
	return optionFunc(func(c *config) { c.onWait = f })
}

// hostKey is the default key: the request's host, lower-cased, without the
// default port of its scheme.
func hostKey(r *http.Request) string {
	host := r.URL.Host
	if host == "" {
		host = r.Host
	}
	host = strings.ToLower(host)
	switch {
	case r.URL.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = host[:len(host)-4]
	case r.URL.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = host[:len(host)-3]
	}
	if host == "" {
		return "-" // a Limiter needs a key; a request without a host fails to send anyway
	}
	return host
}
