package core

import (
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

type config struct {
	rules      []Rule
	backend    backend.Backend
	clock      clock.Clock
	identifier Identifier
	failure    FailureMode
	onError    func(error)
	policy     policyConfig // tiers and exemptions (options_identify.go)

	timeout      *time.Duration
	breaker      Breaker
	localDivisor int
	denyCache    *bool

	observer        Observer
	logger          *slog.Logger
	logKeySecret    []byte
	onDecision      func(Request, Decision)
	onDecisionQueue int
}

// Option configures a [Limiter].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithRules adds rules to the Limiter. At least one rule is required; a
// rule with an empty Path is the default rule.
func WithRules(rules ...Rule) Option {
	return optionFunc(func(c *config) { c.rules = append(c.rules, rules...) })
}

// WithDefault adds a default rule named "default" with the given limits: it
// applies to every request that no other rule matches.
func WithDefault(limits ...Limit) Option {
	return WithRules(Rule{Name: "default", Limits: limits})
}

// WithBackend sets where state is kept. The default is a new in-memory
// backend (package memory) that the Limiter owns and closes. A backend passed
// here stays the caller's: Close does not close it, so one backend can serve
// several Limiters.
func WithBackend(b backend.Backend) Option {
	return optionFunc(func(c *config) { c.backend = b })
}

// WithClock sets the clock decisions read. The default is [clock.Real]; tests
// pass a [clock.Fake].
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clk })
}

// WithIdentifier sets how the client of a request is found. The default is
// [RemoteIP], which trusts no header.
func WithIdentifier(id Identifier) Option {
	return optionFunc(func(c *config) { c.identifier = id })
}

// WithErrorHandler sets a function that receives errors that do not reach a
// caller, such as a failed Release. It must be safe for concurrent use and
// should not block. The default discards them.
func WithErrorHandler(f func(error)) Option {
	return optionFunc(func(c *config) { c.onError = f })
}
