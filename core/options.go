package core

import (
	"log/slog"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

type config struct {
	rules       []Rule
	backend     backend.Backend
	clock       clock.Clock
	identifier  Identifier
	failure     Failure
	tiers       []string
	defaultTier string
	observers   []Observer
	logger      *slog.Logger
}

// Option configures a [Limiter].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithRules adds rules to the Limiter. At least one rule is required; a
// rule with an empty Path is a default rule.
func WithRules(rules ...Rule) Option {
	return optionFunc(func(c *config) { c.rules = append(c.rules, rules...) })
}

// WithDefault adds a default rule named "default" with the given limits: it
// applies to every request that no other rule matches. It is shorthand for
// WithRules(Rule{Name: "default", Limits: limits}).
func WithDefault(limits ...Limit) Option {
	return WithRules(Rule{Name: "default", Limits: limits})
}

// WithBackend sets where state is kept. The default is a new in-memory
// backend (package memory) that the Limiter owns and closes. A backend passed
// here stays the caller's: Close does not close it, so one backend can serve
// several Limiters. A backend that implements [backend.Remote] gets the
// failure handling of [WithFailure].
func WithBackend(b backend.Backend) Option {
	return optionFunc(func(c *config) { c.backend = b })
}

// WithClock sets the clock decisions read and Wait sleeps on. The default is
// [clock.Real]; tests pass a [clock.Fake].
func WithClock(clk clock.Clock) Option {
	return optionFunc(func(c *config) { c.clock = clk })
}

// WithIdentifier sets how the client of a request is found. The default is
// the IP address of the connection's peer (Request.RemoteAddr), trusting no
// header, with IPv6 clients keyed by their /64: behind a proxy or a load
// balancer, use package identify, which also offers API keys, verified users
// and exemptions, or its one-option form identify.Use.
//
// An identifier that also has a method Err() error reports with it a
// problem in how it was built: New fails with that error when it is not
// nil, so that a bad setting stops the service at startup rather than
// failing its requests.
func WithIdentifier(id Identifier) Option {
	return optionFunc(func(c *config) { c.identifier = id })
}

// WithTiers declares service tiers beyond the built-in "anonymous",
// "standard" and "premium", and sets the default tier: the tier an
// identified client gets when its identity carries no tier or a tier that is
// not declared (a token claiming "platinum" when there is no such tier). The
// default tier must be declared (or built in); "" keeps "standard". A rule
// naming an undeclared tier is a configuration error, so a typo cannot
// silently create a tier no client is ever in.
//
// Clients identified by IP address, and clients keyed by an unverified
// identifier, are always in the "anonymous" tier, whatever their identity
// says.
func WithTiers(defaultTier string, tiers ...string) Option {
	return optionFunc(func(c *config) {
		c.tiers = append(c.tiers, tiers...)
		if defaultTier != "" {
			c.defaultTier = defaultTier
		}
	})
}
