package sluiceredis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
)

var (
	_ backend.Backend   = (*Backend)(nil)
	_ backend.Remote    = (*Backend)(nil)
	_ backend.Penalizer = (*Backend)(nil)
)

// maxUnits is the largest limit, burst or cost the backend accepts: Lua
// numbers are doubles, exact for integers up to 2^53.
const maxUnits = 1<<53 - 1

// defaultPrefix is the prefix of every key unless WithPrefix sets another.
const defaultPrefix = "sluice:"

// Backend is a Sluice backend that keeps its state in Redis, so that every
// instance of an application shares its limits. It is safe for concurrent
// use. Create it with [NewFromURL], or with [New] on a go-redis client of
// your own.
//
// Requests whose limits, bursts or costs exceed 2^53-1 (the integers Lua's
// numbers hold exactly), or, with [WithCallerClock], whose time is before
// the Unix epoch, are refused with an error wrapping
// backend.ErrInvalidRequest.
type Backend struct {
	client Client
	closer io.Closer // the client, when the backend created it
	prefix string
	caller bool
	slack  int64    // milliseconds
	batch  *batcher // nil when scripts go one per round trip
}

// New returns a backend on an existing go-redis client, such as a
// *redis.Client, *redis.ClusterClient or redis.UniversalClient. The backend
// does not close the client.
//
// Every decision is one Lua script, which the backend marks as never to be
// retried, so the client's MaxRetries cannot make a script run, and charge,
// twice. The scripts of concurrent decisions share pipelined round trips
// when the client has a Pipeline method (see [WithBatching]).
//
// Two settings of the client's options matter when Redis fails, and
// NewFromURL sets both. ContextTimeoutEnabled: without it go-redis
// ignores context deadlines on the socket, and a slow Redis holds a
// decision for the client's ReadTimeout (3s by default) rather than the
// Limiter's timeout. DialerRetryTimeout of a few milliseconds: go-redis
// otherwise waits 100ms between its attempts to dial a Redis that refuses
// connections, so every decision waits its whole timeout instead of
// failing at once, and the Limiter's circuit breaker, which opens on the
// first refused connection, sees only timeouts and opens after 5 of them.
func New(client Client, opts ...Option) *Backend {
	if client == nil {
		panic("sluiceredis: New with a nil client")
	}
	cfg := config{prefix: defaultPrefix, lanes: -1}
	for _, o := range opts {
		o.apply(&cfg)
	}
	b := &Backend{
		client: client,
		prefix: cfg.prefix,
		caller: cfg.callerClock,
		slack:  int64((cfg.slack + time.Millisecond - 1) / time.Millisecond),
	}
	if cfg.lanes < 0 { // the default
		cfg.lanes = defaultBatchLanes
		if sharded(client) {
			cfg.lanes = 0
		}
	}
	// go-redis's auto-pipelining client batches by itself.
	if pc, ok := client.(pipeClient); ok && cfg.lanes > 0 && !autoPipelined(client) {
		b.batch = newBatcher(pc, cfg.lanes)
	}
	return b
}

// sharded reports whether c spreads keys over several servers, as a
// go-redis ClusterClient or Ring does (they can visit each shard). A
// pipeline on such a client returns when its slowest server has answered,
// so a batch would make one slow or paused node stall the decisions on
// every other: batching is off by default there.
func sharded(c Client) bool {
	_, ok := c.(interface {
		ForEachShard(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error
	})
	return ok
}

// autoPipelined reports whether c is go-redis's auto-pipelining client,
// which batches by itself (it submits commands to its own queue).
func autoPipelined(c Client) bool {
	_, ok := c.(interface {
		Submit(ctx context.Context, cmd redis.Cmder) redis.AutoFuture
	})
	return ok
}

// Apply implements [backend.Backend]: one script call, which checks every
// window and charges all of them or none. An error means no decision: Redis
// failed or timed out, or ctx ended (errors.Is(err, ctx.Err()) then holds).
func (b *Backend) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if err := b.check(req); err != nil {
		return backend.Result{}, err
	}
	keys := b.keys(req.Namespace, req.Key, req.Algorithm, len(req.Windows))
	args := make([]any, 0, 5+3*len(req.Windows))
	args = b.timeArgs(args, req.Now)
	var extra any = 0 // the token bucket's max delay, or the lease
	switch req.Algorithm {
	case backend.TokenBucket:
		extra = max(0, int64(req.MaxDelay))
	case backend.Concurrency:
		extra = strconv.FormatUint(req.Lease, 10)
	}
	args = append(args, req.Cost, extra)
	for _, w := range req.Windows {
		args = append(args, w.Limit, int64(w.Period), w.Burst)
	}
	s := scripts[req.Algorithm]
	v, err := s.run(ctx, b.client, b.batch, keys, args)
	if err != nil {
		return backend.Result{}, b.fail(ctx, s.name, err)
	}
	return parseResult(v, len(req.Windows))
}

// Release implements [backend.Backend]: it removes the lease and moves the
// key's expiry to the last lease still held.
func (b *Backend) Release(ctx context.Context, req backend.Request) error {
	if b.caller && req.Now.UnixNano() < 0 {
		return fmt.Errorf("%w: time %v is before the Unix epoch", backend.ErrInvalidRequest, req.Now)
	}
	args := b.timeArgs(make([]any, 0, 4), req.Now)
	args = append(args, strconv.FormatUint(req.Lease, 10))
	keys := b.keys(req.Namespace, req.Key, backend.Concurrency, 1)
	if _, err := releaseScript.run(ctx, b.client, b.batch, keys, args); err != nil {
		return b.fail(ctx, "release", err)
	}
	return nil
}

// Settle implements [backend.Backend]: one script call, which corrects the
// charge in every window or in none. A SlidingLog extra charge is the
// algorithm's own script, charging whatever the limit says; a SlidingLog
// refund and a Concurrency settlement change nothing, so they send nothing.
func (b *Backend) Settle(ctx context.Context, s backend.Settlement) error {
	if err := b.check(s.Request); err != nil {
		return err
	}
	if s.Charged <= 0 || s.Elapsed < 0 {
		return fmt.Errorf("%w: settlement of a charge of %d made %v ago", backend.ErrInvalidRequest, s.Charged, s.Elapsed)
	}
	if s.Charged > maxUnits {
		return fmt.Errorf("%w: charge %d above maxUnits", backend.ErrInvalidRequest, s.Charged)
	}
	switch {
	case s.Cost == s.Charged || s.Algorithm == backend.Concurrency:
		return nil
	case s.Algorithm == backend.SlidingLog:
		if s.Cost < s.Charged {
			return nil // the log keeps the estimate
		}
		args := b.timeArgs(make([]any, 0, 5+3*len(s.Windows)), s.Now)
		args = append(args, s.Cost-s.Charged, 1) // 1: charge whatever the limit
		for _, w := range s.Windows {
			args = append(args, w.Limit, int64(w.Period), w.Burst)
		}
		sc := scripts[backend.SlidingLog]
		if _, err := sc.run(ctx, b.client, b.batch, b.keys(s.Namespace, s.Key, s.Algorithm, len(s.Windows)), args); err != nil {
			return b.fail(ctx, "settle", err)
		}
		return nil
	}
	args := b.timeArgs(make([]any, 0, 7+5*len(s.Windows)), s.Now)
	args = append(args, s.Cost, max(0, int64(s.MaxDelay)), s.Charged, int64(s.Elapsed))
	for i, w := range s.Windows {
		args = append(args, w.Limit, int64(w.Period), w.Burst, int64(s.Charge[i].ResetAfter), s.Charge[i].Refunded)
	}
	sc := settleScripts[s.Algorithm]
	if _, err := sc.run(ctx, b.client, b.batch, b.keys(s.Namespace, s.Key, s.Algorithm, len(s.Windows)), args); err != nil {
		return b.fail(ctx, "settle", err)
	}
	return nil
}

// Reset implements [backend.Backend]: one DEL of every key (namespace, key)
// can have, for every algorithm and window.
func (b *Backend) Reset(ctx context.Context, namespace, key string) error {
	keys := b.allKeys(namespace, key)
	args := make([]any, 0, 1+len(keys))
	args = append(args, "del")
	for _, k := range keys {
		args = append(args, k)
	}
	if err := b.client.Process(ctx, redis.NewIntCmd(ctx, args...)); err != nil {
		return b.fail(ctx, "reset", err)
	}
	return nil
}

// Name implements [backend.Remote]: "redis".
func (b *Backend) Name() string { return "redis" }

// Ping implements [backend.Remote] with a PING.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.client.Process(ctx, redis.NewStatusCmd(ctx, "ping")); err != nil {
		return b.fail(ctx, "ping", err)
	}
	return nil
}

// Close closes the client if the backend created it ([NewFromURL]); a
// client passed to [New] is
// left open. The backend must not be used after Close.
func (b *Backend) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// timeArgs appends the time arguments every script takes first: now in
// whole microseconds and the nanoseconds beyond them (empty for the
// server's clock), and the expiry slack in milliseconds.
func (b *Backend) timeArgs(args []any, now time.Time) []any {
	if !b.caller {
		return append(args, "", 0, b.slack)
	}
	ns := now.UnixNano()
	return append(args, ns/1000, ns%1000, b.slack)
}

// fail wraps an error of a call, keeping the context's error visible to
// errors.Is when the context ended. go-redis reports the context's deadline,
// set on the socket, as an i/o timeout, which can fire a moment before the
// context's own timer marks it done: a passed deadline counts as ended.
func (b *Backend) fail(ctx context.Context, op string, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("sluiceredis: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("sluiceredis: %s: %w", op, err)
}

func (b *Backend) check(req backend.Request) error {
	if err := req.Validate(); err != nil {
		return err
	}
	for _, w := range req.Windows {
		if w.Limit > maxUnits || w.Burst > maxUnits {
			return fmt.Errorf("%w: window %+v above maxUnits", backend.ErrInvalidRequest, w)
		}
	}
	if req.Cost > maxUnits {
		return fmt.Errorf("%w: cost %d above maxUnits", backend.ErrInvalidRequest, req.Cost)
	}
	if b.caller && req.Now.UnixNano() < 0 {
		return fmt.Errorf("%w: time %v is before the Unix epoch", backend.ErrInvalidRequest, req.Now)
	}
	return nil
}

// parseResult reads a script's reply: allowed, delay, then remaining,
// reset after, retry after and next after for each window, in nanoseconds,
// then, from a token bucket with a refund total, each window's.
func parseResult(v any, windows int) (backend.Result, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != 2+4*windows && len(vals) != 2+5*windows {
		return backend.Result{}, fmt.Errorf("sluiceredis: unexpected script reply %v", v)
	}
	var n [2 + 5*backend.MaxWindows]int64
	for i, x := range vals {
		if n[i], ok = x.(int64); !ok {
			return backend.Result{}, fmt.Errorf("sluiceredis: unexpected script reply %v", v)
		}
	}
	res := backend.Result{Allowed: n[0] == 1, Delay: time.Duration(n[1])}
	for i := range windows {
		res.Windows[i] = backend.WindowResult{
			Remaining:  n[2+4*i],
			ResetAfter: time.Duration(n[3+4*i]),
			RetryAfter: time.Duration(n[4+4*i]),
			NextAfter:  time.Duration(n[5+4*i]),
			Refunded:   n[2+4*windows+i], // 0 when the reply has none
		}
	}
	return res, nil
}
