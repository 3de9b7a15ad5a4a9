package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// policy is a Limiter's compiled tiers and exemptions. Unlike rules, which
// SetRules replaces, it is fixed when the Limiter is created.
type policy struct {
	tiers       []string // declared tiers, the built-in ones first
	defaultTier string
	endpoints   *ruleSet // exempt endpoints, health endpoints included; nil if none
	// firstBytes holds the first byte of every endpoint pattern's first
	// segment, when all of them start with a literal: a path starting with
	// another byte is not exempt, and is told so without a walk.
	firstBytes  *[256]bool
	exemptNets  []netip.Prefix
	exemptUsers map[string]bool // by user ID
	exemptKeys  map[string]bool // by digest
	exemptAny   bool            // some client exemption is configured
}

// compileConfig compiles the policy and the rules of cfg, joining every
// problem found into one error of *ConfigError values.
func compileConfig(cfg *config) ([]*compiledRule, *policy, error) {
	pol, perrs := newPolicy(&cfg.policy)
	rules, err := compileRules(cfg.rules, pol)
	if len(perrs) > 0 {
		return nil, nil, errors.Join(append(perrs, err)...)
	}
	if err != nil {
		return nil, nil, err
	}
	return rules, pol, nil
}

func newPolicy(pc *policyConfig) (*policy, []error) {
	var errs []error
	bad := func(path string, value any, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Value: value, Err: fmt.Errorf(format, args...)})
	}
	p := &policy{
		tiers:       []string{TierAnonymous, TierStandard, TierPremium},
		defaultTier: TierStandard,
	}
	for i, t := range pc.tiers {
		switch {
		case t == "" || strings.TrimSpace(t) != t:
			bad(fmt.Sprintf("tiers[%d]", i), t, "a tier name must be non-empty without surrounding spaces")
		case !slices.Contains(p.tiers, t):
			p.tiers = append(p.tiers, t)
		}
	}
	if pc.defaultTier != "" {
		switch {
		case !p.knownTier(pc.defaultTier):
			bad("default_tier", pc.defaultTier, "undeclared tier (declared: %s)", strings.Join(p.tiers, ", "))
		case pc.defaultTier == TierAnonymous:
			bad("default_tier", pc.defaultTier, "identified clients cannot default to the anonymous tier; declare a tier for them")
		default:
			p.defaultTier = pc.defaultTier
		}
	}
	for i, s := range pc.exemptIPs {
		pre, err := ipaddr.ParseNetwork(s)
		if err != nil {
			bad(fmt.Sprintf("exempt_ips[%d]", i), s, "%v", err)
			continue
		}
		p.exemptNets = append(p.exemptNets, pre)
	}
	if len(pc.exemptUsers) > 0 {
		p.exemptUsers = make(map[string]bool, len(pc.exemptUsers))
		for _, u := range pc.exemptUsers {
			p.exemptUsers[u] = true
		}
	}
	if len(pc.exemptKeys) > 0 {
		p.exemptKeys = make(map[string]bool, len(pc.exemptKeys))
		for _, k := range pc.exemptKeys {
			p.exemptKeys[k] = true
		}
	}
	health := defaultHealthEndpoints
	if pc.healthSet {
		health = pc.health
	}
	var eps []*compiledRule
	for i, pat := range pc.exemptEndpoints {
		segs, err := parsePattern(pat)
		if err != nil {
			bad(fmt.Sprintf("exempt_endpoints[%d]", i), pat, "%v", err)
			continue
		}
		eps = append(eps, &compiledRule{Rule: Rule{Name: pat, Path: pat, Exempt: true}, pattern: segs, index: len(eps)})
	}
	for i, pat := range health {
		segs, err := parsePattern(pat)
		if err != nil {
			bad(fmt.Sprintf("health_endpoints[%d]", i), pat, "%v", err)
			continue
		}
		eps = append(eps, &compiledRule{Rule: Rule{Name: pat, Path: pat, Exempt: true}, pattern: segs, index: len(eps)})
	}
	p.exemptAny = len(p.exemptNets) > 0 || len(p.exemptUsers) > 0 || len(p.exemptKeys) > 0
	if len(eps) > 0 {
		p.endpoints = newRuleSet(eps)
		p.firstBytes = new([256]bool)
		for _, e := range eps {
			if len(e.pattern) == 0 || e.pattern[0].kind != segLiteral {
				p.firstBytes = nil // "/", "/*", "/{x}" or "/**": no shortcut
				break
			}
			p.firstBytes[e.pattern[0].lit[0]] = true
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
		return TierAnonymous
	case id.Tier != "" && p.knownTier(id.Tier):
		return id.Tier
	}
	return p.defaultTier
}

// canonicalize makes id what Decisions report: its resolved tier. Its
// counter key is clientKey(id.Value).
func (p *policy) canonicalize(id *Identity) { id.Tier = p.tierOf(id) }

// exemptEndpoint reports whether the request's path or route is an exempt
// endpoint. path is clean.
func (p *policy) exemptEndpoint(path, route string) bool {
	if p.endpoints == nil {
		return false
	}
	if p.firstBytes != nil && route == "" && (len(path) < 2 || !p.firstBytes[path[1]]) {
		return false
	}
	q := query{}
	if p.endpoints.lookup(path, &q) != nil {
		return true
	}
	if route == "" || route == path || route[0] != '/' {
		return false
	}
	q.route = true
	return p.endpoints.lookup(cleanPath(route), &q) != nil
}

// exemptClient reports whether the client of r, identified as id, is
// exempt.
func (p *policy) exemptClient(ider Identifier, r *Request, id *Identity) bool {
	switch id.Kind {
	case KindUser:
		if p.exemptUsers[id.Value] {
			return true
		}
	case KindAPIKey:
		if p.exemptKeys[id.Value] {
			return true
		}
	}
	if len(p.exemptNets) == 0 {
		return false
	}
	res, ok := ider.(IPResolver)
	if !ok {
		res = remoteIP{}
	}
	a, ok := res.ClientIP(*r)
	if !ok {
		return false
	}
	for _, n := range p.exemptNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// resolve finds what a request is decided by: its rule and, in *id, its
// client. It reports exempt for an exempt endpoint (rule nil), a request no rule
// matches (rule nil), an exempt rule and an exempt client. The client is
// identified only when needed: after matching, unless some rule names
// tiers, in which case the tier decides the rule.
func (l *Limiter) resolve(ctx context.Context, r *Request, id *Identity) (rule *compiledRule, exempt bool, err error) {
	rs, pol := l.rules.Load(), l.policy
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
		return rule, pol.exemptAny && pol.exemptClient(l.identifier, r, id), nil
	}
	path := cleanPath(r.Path)
	if pol.exemptEndpoint(path, r.Route) {
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
	return rule, pol.exemptAny && pol.exemptClient(l.identifier, r, id), nil
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
