package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// policy is a Limiter's compiled tiers. Unlike rules, which SetRules
// replaces, it is fixed when the Limiter is created.
type policy struct {
	tiers       []string // declared tiers, the built-in ones first
	defaultTier string
}

// compileConfig compiles the policy and the rules of cfg, joining every
// problem found into one error of *ConfigError values.
func compileConfig(cfg *config) ([]*compiledRule, *policy, error) {
	pol, perrs := newPolicy(cfg)
	rules, err := compileRules(cfg.rules, pol)
	if len(perrs) > 0 {
		return nil, nil, errors.Join(append(perrs, err)...)
	}
	if err != nil {
		return nil, nil, err
	}
	return rules, pol, nil
}

func newPolicy(cfg *config) (*policy, []error) {
	var errs []error
	bad := func(path string, value any, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Value: value, Err: fmt.Errorf(format, args...)})
	}
	p := &policy{
		tiers:       []string{tierAnonymous, tierStandard, tierPremium},
		defaultTier: tierStandard,
	}
	for i, t := range cfg.tiers {
		switch {
		case t == "" || strings.TrimSpace(t) != t:
			bad(fmt.Sprintf("tiers[%d]", i), t, "a tier name must be non-empty without surrounding spaces")
		case !slices.Contains(p.tiers, t):
			p.tiers = append(p.tiers, t)
		}
	}
	if cfg.defaultTier != "" {
		switch {
		case !p.knownTier(cfg.defaultTier):
			bad("default_tier", cfg.defaultTier, "undeclared tier (declared: %s)", strings.Join(p.tiers, ", "))
		case cfg.defaultTier == tierAnonymous:
			bad("default_tier", cfg.defaultTier, "identified clients cannot default to the anonymous tier; declare a tier for them")
		default:
			p.defaultTier = cfg.defaultTier
		}
	}
	return p, errs
}

// knownTier reports whether t is a declared tier.
func (p *policy) knownTier(t string) bool { return slices.Contains(p.tiers, t) }

// tierOf returns the tier a client's rules are chosen for: anonymous for an
// IP address or an unverified identifier, the identity's tier when it is
// declared, and the default tier otherwise.
func (p *policy) tierOf(id *Identity) string {
	switch {
	case id.Kind == KindIP || id.Kind == KindUnverified:
		return tierAnonymous
	case id.Tier != "" && p.knownTier(id.Tier):
		return id.Tier
	}
	return p.defaultTier
}

// canonicalize makes id what Decisions report: its resolved tier. Its
// counter key is clientKey(id.Value).
func (p *policy) canonicalize(id *Identity) { id.Tier = p.tierOf(id) }

// healthEndpoints are exempt, so that probes are never limited, unless a
// rule names one of them as its exact Path: then the rules decide.
var healthEndpoints = []string{"/health", "/healthz", "/livez", "/readyz"}

// resolve finds what a request is decided by: its rule and, in *id, its
// client. It reports exempt for a health endpoint (rule nil), a request no
// rule matches (rule nil), an exempt rule and an exempt client. The client
// is identified only when needed: after matching, unless some rule names
// tiers, in which case the tier decides the rule.
func (l *Limiter) resolve(ctx context.Context, r *Request, id *Identity) (rule *compiledRule, exempt bool, err error) {
	rs := l.rules.Load()
	if r.Rule != "" {
		if rule = rs.byName[r.Rule]; rule == nil {
			return nil, false, unknownRule(r.Rule)
		}
		if rule.Exempt {
			return rule, true, nil
		}
		if *id, err = l.identify(ctx, r); err != nil {
			return nil, false, err
		}
		return rule, id.Exempt, nil
	}
	if r.Path == "" && r.Route == "" && r.Method == "" && !rs.tiered {
		// A request with only a client, as keyed callers make: its rule
		// was matched when the rule set was built.
		if rule = rs.bare; rule == nil || rule.Exempt {
			return rule, true, nil
		}
		if *id, err = l.identify(ctx, r); err != nil {
			return nil, false, err
		}
		return rule, id.Exempt, nil
	}
	path := cleanPath(r.Path)
	if rs.health(path, r.Route) {
		return nil, true, nil
	}
	identified := false
	if rs.tiered {
		if *id, err = l.identify(ctx, r); err != nil {
			return nil, false, err
		}
		identified = true
	}
	rule = rs.match(r.Method, path, r.Route, id.Tier)
	if rule == nil || rule.Exempt {
		return rule, true, nil
	}
	if !identified {
		if *id, err = l.identify(ctx, r); err != nil {
			return nil, false, err
		}
	}
	return rule, id.Exempt, nil
}

// exemptDecision is the Decision for a request resolve found exempt: the
// rule that matched, if any, and the client, if it was identified.
func exemptDecision(rule *compiledRule, id Identity, now time.Time) Decision {
	d := Decision{Outcome: Exempt, Client: id, At: now}
	if rule != nil {
		d.Rule = rule.Name
	}
	return d
}
