package core

// The built-in tiers. Every Limiter knows them; WithTiers declares more.
const (
	// TierAnonymous is the tier of a client known only by its IP address
	// (or by an unverified identifier, KindUnverified): it never has
	// another.
	TierAnonymous = "anonymous"
	// TierStandard is the default tier: the tier of an identified client
	// (a verified user, an API key, a custom identity) whose tier is empty
	// or not declared, unless WithTiers names another.
	TierStandard = "standard"
	// TierPremium is a built-in name for a higher tier.
	TierPremium = "premium"
)

// policyConfig holds the settings of tiers and exemptions until New
// compiles them into a policy.
type policyConfig struct {
	tiers           []string
	defaultTier     string
	exemptIPs       []string
	exemptUsers     []string
	exemptKeys      []string
	exemptEndpoints []string
	health          []string
	healthSet       bool
}

// WithTiers declares service tiers in addition to the built-in anonymous,
// standard and premium, and sets the default tier: the tier an identified
// client gets when its identity carries no tier or a tier that is not
// declared (a token claiming "platinum" when there is no such tier). The
// default tier must be declared (or built in); "" keeps the default,
// TierStandard. A rule naming an undeclared tier is a configuration error,
// so a typo cannot silently create a tier no client is ever in.
//
// Clients identified by IP address, and clients keyed by an unverified
// identifier, are always in TierAnonymous, whatever their identity says.
func WithTiers(defaultTier string, tiers ...string) Option {
	return optionFunc(func(c *config) {
		c.policy.tiers = append(c.policy.tiers, tiers...)
		if defaultTier != "" {
			c.policy.defaultTier = defaultTier
		}
	})
}

// WithTierDefault adds a default rule for one tier, named "default-" and
// the tier: it applies to that tier's requests that no other rule matches,
// and beats the tier-less default rule (WithDefault) for them. It is
// shorthand for WithRules(Rule{Name: "default-" + tier, Tiers:
// []string{tier}, Limits: limits}).
func WithTierDefault(tier string, limits ...Limit) Option {
	return WithRules(Rule{Name: "default-" + tier, Tiers: []string{tier}, Limits: limits})
}

// WithExemptIPs exempts clients whose IP address is one of addrs, each an
// address ("192.0.2.7") or a CIDR prefix ("10.0.0.0/8"). The address is
// the client's as the identifier found it (see IPResolver): behind trusted
// proxies, the forwarded client address; otherwise the connection's peer.
// It applies whatever identity the request is counted by. An invalid
// address is a configuration error.
func WithExemptIPs(addrs ...string) Option {
	return optionFunc(func(c *config) { c.policy.exemptIPs = append(c.policy.exemptIPs, addrs...) })
}

// WithExemptUsers exempts verified users (KindUser identities) with these
// IDs. It never applies to an unverified identifier (KindUnverified), so a
// forged token cannot claim an exempt user's ID.
func WithExemptUsers(ids ...string) Option {
	return optionFunc(func(c *config) { c.policy.exemptUsers = append(c.policy.exemptUsers, ids...) })
}

// WithExemptAPIKeys exempts clients identified by one of these API keys
// (KindAPIKey identities built with APIKeyIdentity). Only the keys' digests
// are kept.
func WithExemptAPIKeys(keys ...string) Option {
	return optionFunc(func(c *config) {
		for _, k := range keys {
			c.policy.exemptKeys = append(c.policy.exemptKeys, apiKeyDigest(k))
		}
	})
}

// WithExemptEndpoints exempts every request whose path or route template
// matches one of the patterns, in the syntax of Rule.Path ("/metrics",
// "/internal/**", "/webhooks/{id}"). Exempt endpoints are checked before any
// rule and win over every rule; the client is not identified. Use a rule
// with Exempt set instead to exempt an endpoint only where no more specific
// rule applies.
func WithExemptEndpoints(patterns ...string) Option {
	return optionFunc(func(c *config) { c.policy.exemptEndpoints = append(c.policy.exemptEndpoints, patterns...) })
}

// WithHealthEndpoints replaces the health endpoints, which are exempt like
// those of WithExemptEndpoints so that probes are never limited. The
// default is "/health", "/healthz", "/livez" and "/readyz";
// WithHealthEndpoints() with no patterns exempts none, so that a rule can
// limit them.
func WithHealthEndpoints(patterns ...string) Option {
	return optionFunc(func(c *config) {
		c.policy.health = append([]string(nil), patterns...)
		c.policy.healthSet = true
	})
}

// defaultHealthEndpoints are the health endpoints unless WithHealthEndpoints
// says otherwise.
var defaultHealthEndpoints = []string{"/health", "/healthz", "/livez", "/readyz"}
