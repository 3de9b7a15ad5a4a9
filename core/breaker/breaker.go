// Package breaker is the circuit breaker Sluice puts around a shared backend,
// built on github.com/sony/gobreaker/v2.
//
//	lim, err := core.New(core.WithBackend(redisBackend), core.WithBreaker(breaker.New()))
//
// The breaker opens after several consecutive failures, or when a share of
// the calls within an interval fail; while it is open every decision fails at
// once, without waiting on the dead backend, and the Limiter's failure mode
// applies. After a cool-down it lets a few probe calls through (half-open)
// and closes again when they succeed.
package breaker

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrOpen is returned by Allow while the breaker is open.
var ErrOpen = gobreaker.ErrOpenState

// ErrTooManyProbes is returned by Allow while the breaker is half-open and
// its probe calls are all in flight.
var ErrTooManyProbes = gobreaker.ErrTooManyRequests

// State is the breaker's state.
type State = gobreaker.State

// The states, for metrics: StateClosed is 0, StateHalfOpen 1, StateOpen 2.
const (
	StateClosed   = gobreaker.StateClosed
	StateHalfOpen = gobreaker.StateHalfOpen
	StateOpen     = gobreaker.StateOpen
)

// Breaker is a two-step circuit breaker. It implements core.Breaker and is
// safe for concurrent use.
type Breaker struct {
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]
	logger atomic.Pointer[slog.Logger] // nil: state changes are not logged
}

type config struct {
	name        string
	consecutive uint32
	ratio       float64
	minCalls    uint32
	interval    time.Duration
	coolDown    time.Duration
	probes      uint32
	onChange    func(from, to State)
	logger      *slog.Logger
}

// Option configures a Breaker.
type Option func(*config)

// WithName names the breaker in state-change callbacks. The default is
// "sluice".
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithConsecutiveFailures opens the breaker after n consecutive failures.
// The default is 5.
func WithConsecutiveFailures(n uint32) Option { return func(c *config) { c.consecutive = max(1, n) } }

// WithFailureRatio opens the breaker when at least minCalls calls were made
// within the interval (see WithInterval) and at least ratio of them failed.
// The default is 0.5 of at least 20 calls; a ratio of 0 disables the check.
func WithFailureRatio(ratio float64, minCalls uint32) Option {
	return func(c *config) { c.ratio, c.minCalls = ratio, minCalls }
}

// WithInterval sets the rolling window over which failures are counted
// while the breaker is closed. The default is 10s.
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithCoolDown sets how long the breaker stays open before it lets probe
// calls through. The default is 5s.
func WithCoolDown(d time.Duration) Option { return func(c *config) { c.coolDown = d } }

// WithProbes sets how many calls a half-open breaker lets through; all must
// succeed to close it. The default is 1.
func WithProbes(n uint32) Option { return func(c *config) { c.probes = max(1, n) } }

// WithOnStateChange calls f on every state change, for logs and metrics. It
// is called synchronously on the request path: keep it fast.
func WithOnStateChange(f func(from, to State)) Option { return func(c *config) { c.onChange = f } }

// WithLogger logs every state change at WARN (closing again at INFO) with
// the breaker's name. Without it, a Limiter the breaker is given to
// (core.WithBreaker) passes its own logger (core.WithLogger), if any.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns a closed breaker configured by opts.
func New(opts ...Option) *Breaker {
	c := config{name: "sluice", consecutive: 5, ratio: 0.5, minCalls: 20, interval: 10 * time.Second, coolDown: 5 * time.Second, probes: 1}
	for _, o := range opts {
		o(&c)
	}
	s := gobreaker.Settings{
		Name:         c.name,
		MaxRequests:  c.probes,
		Interval:     c.interval,
		BucketPeriod: max(c.interval/10, time.Millisecond),
		Timeout:      c.coolDown,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if n.ConsecutiveFailures >= c.consecutive {
				return true
			}
			return c.ratio > 0 && n.Requests >= c.minCalls && float64(n.TotalFailures) >= c.ratio*float64(n.Requests)
		},
	}
	b := &Breaker{}
	if c.logger != nil {
		b.logger.Store(c.logger)
	}
	s.OnStateChange = func(name string, from, to gobreaker.State) {
		if l := b.logger.Load(); l != nil {
			level := slog.LevelWarn
			if to == StateClosed {
				level = slog.LevelInfo
			}
			l.LogAttrs(context.Background(), level, "sluice: circuit breaker "+to.String(),
				slog.String("breaker", name), slog.String("from", from.String()), slog.String("to", to.String()))
		}
		if c.onChange != nil {
			c.onChange(from, to)
		}
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](s)
	return b
}

// SetDefaultLogger logs state changes to l unless WithLogger gave the
// breaker a logger already. core.New calls it with the Limiter's logger.
func (b *Breaker) SetDefaultLogger(l *slog.Logger) {
	if l != nil {
		b.logger.CompareAndSwap(nil, l)
	}
}

// Allow reports whether a backend call may go ahead; call done with the
// call's error, nil for success. It returns ErrOpen or ErrTooManyProbes when
// the call may not go ahead.
func (b *Breaker) Allow() (done func(err error), err error) { return b.cb.Allow() }

// State returns the breaker's current state.
func (b *Breaker) State() State { return b.cb.State() }

// IsOpen reports whether err is the error of an open or saturated breaker.
func IsOpen(err error) bool { return errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyProbes) }
