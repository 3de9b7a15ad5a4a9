package sluiceredis

import "time"

// DefaultPrefix is the prefix of every key unless [WithPrefix] sets another.
const DefaultPrefix = "sluice:"

type config struct {
	prefix      string
	callerClock bool
	slack       time.Duration
}

// Option configures a [Backend].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPrefix sets the prefix of every key the backend writes, so that
// several applications, or several environments, can share one Redis. Keys
// are the prefix, a hash tag and two bytes, such as
// "sluice:{3q2-7wEjRBaT4zS9bL1_xw}t0". The default is [DefaultPrefix].
// Backends that should share limits must use the same prefix.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) { c.prefix = prefix })
}

// WithCallerClock makes the backend take time from each request's
// backend.Request.Now instead of the Redis server's clock.
//
// By default a script reads the server's clock (TIME), so application
// servers whose clocks disagree still agree on every limit. Use the caller's
// clock to drive the backend from a fake clock, as the conformance suite
// does, or when every caller's clock is synchronised. Keys still expire by
// the server's clock, after the time their windows need by the caller's
// clock.
func WithCallerClock() Option {
	return optionFunc(func(c *config) { c.callerClock = true })
}

// withExpirySlack keeps every key d longer than its windows need. Tests that
// drive the backend from a frozen fake clock use it, so that state they
// still expect does not expire in real time between two steps.
func withExpirySlack(d time.Duration) Option {
	return optionFunc(func(c *config) { c.slack = d })
}
