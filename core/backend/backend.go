// Package backend defines the contract between a Sluice Limiter and the store
// that keeps rate-limit state: the in-memory default, Redis, or your own.
//
// A Backend is deliberately small. It knows nothing about HTTP, rules,
// identities or tiers: it receives a key, an algorithm, up to [MaxWindows]
// windows and a cost, and answers whether the cost was admitted. The Limiter
// in package core turns requests into these calls.
//
// # Writing a backend
//
// An implementation must:
//
//   - apply a request to all of its windows atomically: either every window
//     admits the cost and every window is charged, or nothing is charged;
//   - treat a cost of 0 as a peek, which reports state and changes nothing;
//   - correct a charge it admitted when [Backend.Settle] says what it really
//     cost, giving back only what is still outstanding of that charge;
//   - keep the state of different (Namespace, Key) pairs apart, whatever
//     bytes they contain;
//   - read time from [Request.Now] unless it documents a clock of its own
//     (the Redis backend uses the server's clock by default);
//   - report a denial as a [Result] with Allowed false, never as an error.
//     An error means "no answer": the store failed, timed out or the context
//     ended.
//
// Optional interfaces add abilities: [Remote] for network stores (the
// Limiter then applies its timeout, circuit breaker and deny cache, and
// readiness probes ping them), and [Penalizer] for rules with progressive
// penalties (the Limiter refuses such rules on a backend without it).
//
// The exact admit/deny behaviour of every [Algorithm] is specified by the
// conformance suite in module github.com/sluicehq/sluice/testkit; run
// testkit.RunBackendSuite against your implementation.
package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxWindows is the largest number of windows one rule, and so one
// [Request], may have. Four windows cover "per second, per minute, per hour,
// per day"; keeping the number fixed lets results live on the stack.
const MaxWindows = 4

// Algorithm selects how a window counts requests.
type Algorithm uint8

// The algorithms. Each window of a [Request] is evaluated with the request's
// algorithm; a rule cannot mix algorithms.
const (
	// TokenBucket is a token bucket in the GCRA formulation: one stored
	// timestamp per window. Limit tokens refill evenly over Period, and the
	// bucket holds at most Burst tokens (Limit when Burst is 0). It is the
	// default algorithm, and the only one that supports throttling
	// ([Request.MaxDelay]).
	TokenBucket Algorithm = iota
	// SlidingLog admits at most Limit units in any interval of length Period
	// (a request at time t counts during [t, t+Period)). It is exact and
	// stores one entry per admitted request.
	SlidingLog
	// SlidingWindow is the sliding window counter: two fixed-window counters,
	// the previous one weighted by how much of it still overlaps the sliding
	// window. It approximates SlidingLog in constant memory.
	SlidingWindow
	// FixedWindow counts units in windows aligned to multiples of Period
	// since the Unix epoch, so a 24h window resets at midnight UTC and every
	// instance agrees on the boundary.
	FixedWindow
	// Concurrency limits the units in flight: each admitted request holds a
	// lease of Cost units until it is released with Backend.Release or its
	// lease (the window's Period) expires.
	Concurrency

	numAlgorithms
)

var algorithmNames = [numAlgorithms]string{
	TokenBucket:   "token_bucket",
	SlidingLog:    "sliding_log",
	SlidingWindow: "sliding_window",
	FixedWindow:   "fixed_window",
	Concurrency:   "concurrency",
}

// String returns the algorithm's configuration name, such as "token_bucket",
// or "Algorithm(N)" for a value that is not one of the constants.
func (a Algorithm) String() string {
	if a < numAlgorithms {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Window is one limit of a request: at most Limit units per Period.
type Window struct {
	// Limit is the number of units admitted per Period. A Limit of 0
	// admits nothing.
	Limit int64
	// Period is the length of the window; for Concurrency it is the lease
	// after which an unreleased slot frees itself. It must be positive.
	Period time.Duration
	// Burst is the token bucket's capacity, the most units it admits at
	// once; 0 means Limit. Other algorithms ignore it: their capacity is
	// Limit.
	Burst int64
}

// Request asks a backend to charge Cost units to every window of one key.
type Request struct {
	// Namespace separates rules (or rule groups) and identity kinds; it is
	// constant per rule and fits in a key prefix.
	Namespace string
	// Key identifies the client within Namespace. It may contain any bytes.
	Key string
	// Algorithm selects how every window counts.
	Algorithm Algorithm
	// Windows are the limits, 1 to MaxWindows of them. For Concurrency
	// there is exactly one. The backend must not modify or retain the
	// slice.
	Windows []Window
	// Cost is the number of units to charge. 0 is a peek: the backend
	// reports whether one unit would be admitted and charges nothing.
	Cost int64
	// MaxDelay, for TokenBucket, lets the backend admit a request that
	// conforms within MaxDelay: it is charged now and the Result carries the
	// Delay the caller must wait before serving it.
	MaxDelay time.Duration
	// Lease identifies a Concurrency slot, unique per acquisition. It is
	// set by the Limiter; Release frees the slot with the same Lease.
	Lease uint64
	// Now is the caller's clock reading.
	Now time.Time
}

// ErrInvalidRequest is wrapped by every error that reports a request no
// decision can be made for: a backend request that breaks this contract
// (see [Request.Validate]), and, in package core, a call the Limiter cannot
// attribute to a client or to a rule.
var ErrInvalidRequest = errors.New("sluice: invalid request")

// ErrKeyUnavailable is wrapped by the error of a remote backend that is up
// but could not serve one key just now, such as a Redis Cluster slot that
// is moving between nodes. The Limiter applies the rule's failure mode to
// the decision, but does not count the error against the backend's health:
// its circuit breaker stays closed for every other key.
var ErrKeyUnavailable = errors.New("sluice: key unavailable")

// Validate reports whether req keeps the contract: 1 to MaxWindows windows
// (exactly one for Concurrency), a known algorithm, positive periods, and no
// negative limit, burst, cost or max delay. Backends call it before doing anything.
func (req Request) Validate() error {
	if n := len(req.Windows); n == 0 || n > MaxWindows {
		return fmt.Errorf("%w: %d windows, want 1 to %d", ErrInvalidRequest, n, MaxWindows)
	}
	if req.Algorithm >= numAlgorithms {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, req.Algorithm)
	}
	if req.Algorithm == Concurrency && len(req.Windows) != 1 {
		return fmt.Errorf("%w: concurrency takes exactly one window", ErrInvalidRequest)
	}
	for _, w := range req.Windows {
		if w.Period <= 0 || w.Limit < 0 || w.Burst < 0 {
			return fmt.Errorf("%w: window %+v", ErrInvalidRequest, w)
		}
	}
	if req.Cost < 0 {
		return fmt.Errorf("%w: negative cost %d", ErrInvalidRequest, req.Cost)
	}
	if req.MaxDelay < 0 {
		return fmt.Errorf("%w: negative max delay %v", ErrInvalidRequest, req.MaxDelay)
	}
	return nil
}

// WindowResult is the state of one window after a Request.
type WindowResult struct {
	// Remaining is the number of units the window would still admit now.
	Remaining int64
	// ResetAfter is the time until the window has its full capacity back
	// if no more units are charged; 0 when it is already full.
	ResetAfter time.Duration
	// RetryAfter is the time until this window would admit the request's
	// cost (one unit for a peek); 0 when it admits it now. A cost that the
	// window can never admit (a Limit of 0, or a cost above its capacity)
	// reports the window's Period.
	RetryAfter time.Duration
	// NextAfter is the time until the window has one unit more than
	// Remaining (the time until a cost of Remaining+1 would be admitted):
	// the next token of a token bucket, the end of a fixed window, the
	// oldest entries leaving a sliding log, the previous window's weight
	// decaying in a sliding window counter; 0 when the window already
	// has its full capacity. For Concurrency it is the time until the
	// first lease expires, at most a second (a slot usually comes back
	// sooner, when a request ends), and 0 when no slot is held. A Limit of
	// 0 reports the window's Period.
	NextAfter time.Duration
	// Refunded is, for a TokenBucket window, how far settlements have
	// moved its state back since the state was created, in nanoseconds
	// modulo 2^52; 0 for other algorithms and for a state never
	// settled. A [Settlement] passes back what Apply returned, so that a
	// refund never gives back units that other charges depend on.
	Refunded int64
}

// Result is a backend's answer to a Request.
type Result struct {
	// Allowed reports whether the cost was admitted and charged to every
	// window. For a peek it reports whether one unit would be admitted.
	Allowed bool
	// Delay is how long the caller must wait before serving an admitted
	// request; it is positive only when Request.MaxDelay allowed the
	// backend to admit a request that did not yet conform.
	Delay time.Duration
	// Windows holds one WindowResult per request window, in order.
	Windows [MaxWindows]WindowResult
	// Evicted is the number of other states the backend dropped to make
	// room for this request's, to keep to a bound on its memory (the
	// in-memory backend's); the Limiter reports each to its Observer.
	Evicted int
}

// Backend stores rate-limit state. Implementations must be safe for
// concurrent use. See the package documentation for the full contract.
type Backend interface {
	// Apply charges req.Cost to every window of (req.Namespace, req.Key)
	// atomically, or to none if any window denies it, and reports the
	// state of every window. A denial is a Result with Allowed false; an
	// error means that no decision could be made.
	Apply(ctx context.Context, req Request) (Result, error)

	// Release frees the Concurrency lease req.Lease held by
	// (req.Namespace, req.Key). Releasing a lease that is unknown, expired
	// or already released is not an error.
	Release(ctx context.Context, req Request) error

	// Settle corrects a charge that Apply admitted to the cost it really
	// had (see [Settlement]): an extra charge when it cost more, a refund
	// when it cost less, atomically for every window. It never denies:
	// the work was done. An error means the correction was not made.
	Settle(ctx context.Context, s Settlement) error

	// Reset forgets all state of (namespace, key), for every algorithm.
	Reset(ctx context.Context, namespace, key string) error
}

// Settlement corrects a charge: Request is the request Apply admitted
// (the same namespace, key, algorithm, windows, max delay and lease), with
// Cost set to what the work really cost and Now to the time of settling.
//
// The difference is charged or refunded in every window:
//
//   - more than Charged: the extra is charged now, even beyond the limit
//     (the work was done), so later requests wait longer;
//   - less: the refund goes back to the window the charge went into, and
//     only as far as the charge is still outstanding there. A TokenBucket
//     window gives back at most what is left of the charge's own units,
//     never units that later charges depend on (Refunded bounds how far
//     earlier refunds moved them); a FixedWindow or SlidingWindow window
//     lowers the count of the fixed window the charge went into, if it is
//     still counted, never below 0; a SlidingLog window keeps the
//     estimate (refunds give nothing back; extra is a new entry).
//
// Concurrency requests are not settled (their units come back with
// Release): Settle does nothing for them.
type Settlement struct {
	Request
	// Charged is the cost Apply admitted and charged.
	Charged int64
	// Elapsed is the time since Apply, by the caller's clock (a monotonic
	// reading): the backend finds the charge's windows from it, even when
	// it keeps time by a clock of its own.
	Elapsed time.Duration
	// Charge holds, per window, the WindowResult Apply returned: its
	// ResetAfter (where the charge's units end) and Refunded.
	Charge [MaxWindows]WindowResult
}

// Remote is implemented by backends that keep their state over the network,
// such as the Redis backend: their calls may wait and fail. The Limiter
// bounds each call of a Remote backend with its timeout, guards them with
// its circuit breaker, keeps a local deny cache and, for FailModeLocal, a
// fallback; a backend that is not Remote (the in-memory one) is called
// directly. A wrapper around a backend (an instrumenting decorator, say)
// implements Remote exactly when the backend it wraps does.
type Remote interface {
	// Ping checks that the backend is reachable and answering, for
	// readiness probes.
	Ping(ctx context.Context) error
	// Name returns a short constant name, such as "redis", for metrics
	// and logs.
	Name() string
}
