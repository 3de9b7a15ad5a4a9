package sluiceredis

import "time"

type config struct {
	prefix      string
	callerClock bool
	slack       time.Duration
	lanes       int
}

// Option configures a [Backend].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPrefix sets the prefix of every key the backend writes, so that
// several applications, or several environments, can share one Redis. Keys
// are the prefix, a hash tag and two bytes, such as
// "sluice:{3q2-7wEjRBaT4zS9bL1_xw}T0". The default is "sluice:".
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

// WithBatching sets how many pipelined round trips the backend keeps in
// flight at once (its lanes); 0 or less turns batching off, so that every
// script is one round trip of its own. The default is 4 lanes on a single
// server (standalone or Sentinel) and off on
// a Redis Cluster or Ring: a pipeline there returns only when every node in
// it has answered, so one slow, paused or failing node would stall the
// batched decisions of every healthy one. Turn it on there only if that
// coupling is acceptable.
//
// With batching, the scripts of concurrent decisions share round trips: a
// decision that finds a lane idle sends its script at once, exactly as
// without batching, and the decisions that arrive while that round trip is
// in flight leave together, as one pipeline, when it returns. There is no
// timer, so a lone caller waits for nothing. Scripts stay never retried, a
// caller whose context ends while it waits returns at once without failing
// the others, and NOSCRIPT and TRYAGAIN are handled per script. go-redis
// hooks (tracing, metrics) see scripts that shared a round trip as one
// pipeline (ProcessPipelineHook).
//
// Batching needs a client with a Pipeline method (*redis.Client,
// *redis.ClusterClient, *redis.Ring, redis.UniversalClient); it is off on
// other clients and on go-redis's auto-pipelining client, which batches by
// itself.
func WithBatching(lanes int) Option {
	return optionFunc(func(c *config) { c.lanes = max(lanes, 0) })
}
