package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// Rule says which requests are limited, how, and how much.
//
// A request is matched to exactly one rule: the most specific rule whose
// Path pattern, Methods and Tiers match it (see [Limiter] for the order), or
// a default rule (a rule with an empty Path) when none does. Each rule has
// its own counters per client unless rules share a Group.
type Rule struct {
	// Name identifies the rule in decisions, headers, metrics and logs.
	// Names are unique within a Limiter. Empty means "default" for the
	// default rule and the Path otherwise.
	Name string

	// Path is the pattern of the paths or route templates the rule
	// applies to, segment by segment: a literal segment matches itself,
	// "*" and "{name}" match any one segment, and a final "**" (or
	// "{name...}") matches any number of segments, none included. So
	// "/login" is exact, "/users/{id}" and "/users/*" match "/users/42",
	// and "/api/**" matches "/api" and everything below it. Patterns are
	// cleaned like request paths ("/login/" is "/login"). Empty makes the
	// rule a default rule, which matches every request that no other rule
	// matches.
	Path string

	// Methods restricts the rule to these HTTP methods. Empty matches any
	// method. A rule with methods takes precedence over a rule with the same
	// Path and no methods.
	Methods []string

	// Tiers restricts the rule to clients of these tiers (see WithTiers);
	// each must be a declared tier. Empty matches every tier. A rule with
	// tiers takes precedence over a rule with the same Path and Methods and
	// no tiers, so per-tier limits are rules that name a tier, and a
	// per-endpoint override for a tier is a rule with both a Path and
	// Tiers.
	Tiers []string

	// Algorithm selects how the rule counts: backend.TokenBucket (the
	// default), backend.SlidingLog, backend.SlidingWindow,
	// backend.FixedWindow or backend.Concurrency; see docs/algorithms.md
	// for which to pick. A rule of Concurrent limits needs none.
	Algorithm backend.Algorithm

	// Limits are the rule's windows, 1 to 4 of them. A request is admitted
	// only if every window admits it, and then every window is charged.
	Limits []Limit

	// Cost is the number of units a request charges; the default is 1. A
	// Request may override it.
	Cost int64

	// MaxDelay turns a TokenBucket rule into a throttle: a request that
	// would conform within MaxDelay is admitted with a Delay instead of
	// denied. 0 disables throttling.
	MaxDelay time.Duration

	// Lease is how long a Concurrency slot is held if it is never released
	// (say, the process crashed). The default is 30s.
	Lease time.Duration

	// Prefetch turns on token leasing, for a key so hot that one backend
	// call per decision is too many (one key beyond one Redis shard): each
	// Limiter takes a batch of units for the key from the backend in one
	// call, about Prefetch's worth of the key's recent rate, and spends it
	// locally, so the key costs the backend a call per batch. No limit is
	// ever exceeded: every unit is charged before it is spent, and spent
	// only while a charge made then would count it the same way (within
	// the fixed window it was charged in; for a token bucket, before the
	// bucket would have refilled past it). A batch lives at most Prefetch;
	// what is left of it goes back to the backend when it expires, on
	// SetRules and on Close. A key slower than one unit per Prefetch takes
	// no batch.
	//
	// What a Limiter holds unspent is at most one batch per key, and a
	// batch is at most 1/16 of the smallest window's capacity: n instances
	// hold back at most n/16 of a key's limit, and an instance that
	// crashes loses at most that (under-admission, never over-admission).
	// Decisions from a batch are Allowed; their Remaining is what the
	// backend reported when the batch was leased plus the batch's unspent
	// units.
	//
	// Fixed and sliding windows lease at any rate. A token bucket can
	// lend only units the bucket would not have refilled before they are
	// spent, which is many only while the key is at its limit (the bucket
	// has a backlog): below it, its decisions are mostly ordinary calls.
	// Its unspent units are not refunded (a refund would move the units
	// other instances hold) but count until the bucket is next full, and
	// Settle on a token-bucket rule that prefetches charges extra cost but
	// refunds nothing. 0, the default, turns leasing off. It needs the
	// TokenBucket, FixedWindow or SlidingWindow algorithm, and no MaxDelay
	// or Penalty. See docs/redis.md.
	Prefetch time.Duration

	// Group makes rules with the same Group share one set of counters per
	// client. Rules in a group must have identical Algorithm and Limits.
	Group string

	// Failure overrides the Limiter's failure mode (see Failure.Mode) for
	// this rule when the backend fails: "open", "closed" or "local"; ""
	// keeps the Limiter's.
	Failure string

	// Shadow makes the rule decide and report without denying: a request
	// over the limit gets the ShadowDenied outcome and proceeds.
	Shadow bool

	// Exempt makes every request the rule matches exempt from limiting.
	Exempt bool

	// Penalty, when set, blocks clients the rule keeps denying, for
	// longer each time (see [Penalty]). nil, the default, disables it.
	Penalty *Penalty

	// NameOnly makes the rule one that only a call naming it uses
	// ([Limiter.Take], [Limiter.Wait], Request.Rule): it matches no
	// request by path, method or tier, and is never a default rule. Rules
	// for work other than HTTP requests (jobs, outbound calls, token
	// budgets) set it; they must set no Path, Methods or Tiers.
	NameOnly bool
}

// defaultLease is the lease of a concurrency rule that sets none.
const defaultLease = 30 * time.Second

// maxPeriod bounds window periods and token-bucket tolerances so that the
// arithmetic on Unix nanoseconds cannot overflow.
const maxPeriod = 366 * 24 * time.Hour

// ConfigError reports one invalid setting, with its path, such as
// "rules[2].limits[0].n".
type ConfigError struct {
	// Path locates the setting.
	Path string
	// Value is the offending value.
	Value any
	// Err says what is wrong with it.
	Err error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sluice: %s: %v: %v", e.Path, e.Value, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// compiledRule is a validated rule with everything a decision needs
// precomputed.
type compiledRule struct {
	Rule
	windows []backend.Window
	// ns is the backend namespace per identity kind (kindIndex).
	ns       [len(kinds)]string
	failMode failMode
	methods  []string // upper-cased
	tiers    []string
	pattern  []patSeg         // the parsed Path
	index    int              // declaration order
	rank     int              // precedence in its rule set; lower wins (see match.go)
	penalty  *backend.Penalty // nil when the rule has none (penalty.go)
}

// compileRules validates rules and returns them compiled, with every problem
// found joined into one error of *ConfigError values. pol says which tiers
// exist.
func compileRules(rules []Rule, pol *policy) ([]*compiledRule, error) {
	var errs []error
	bad := func(path string, value any, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Value: value, Err: fmt.Errorf(format, args...)})
	}
	if len(rules) == 0 {
		bad("rules", "[]", "at least one rule is required")
	}
	out := make([]*compiledRule, 0, len(rules))
	names := map[string]int{}
	groups := map[string]*compiledRule{}
	for i, r := range rules {
		at := fmt.Sprintf("rules[%d]", i)
		c := &compiledRule{Rule: r, index: i}
		c.Methods = slices.Clone(r.Methods)
		c.Limits = slices.Clone(r.Limits)
		c.Tiers = slices.Clone(r.Tiers)
		if c.Name == "" {
			c.Name = r.Path
			if r.Path == "" {
				c.Name = "default"
			}
			if r.NameOnly {
				bad(at+".name", "", "a name-only rule needs a name")
			}
		}
		if r.NameOnly && (r.Path != "" || len(r.Methods) > 0 || len(r.Tiers) > 0) {
			bad(at+".name_only", true, "rule %q is selected by name only, so it cannot also match by path, methods or tiers", c.Name)
		}
		if j, dup := names[c.Name]; dup {
			bad(at+".name", c.Name, "duplicate of rules[%d]", j)
		}
		names[c.Name] = i
		if c.Cost == 0 {
			c.Cost = 1
		}
		if c.Lease == 0 {
			c.Lease = defaultLease
		}
		if r.Path != "" {
			pat, err := parsePattern(r.Path)
			if err != nil {
				bad(at+".path", r.Path, "%v", err)
			}
			c.pattern = pat
		}
		for j, t := range r.Tiers {
			if !pol.knownTier(t) {
				bad(fmt.Sprintf("%s.tiers[%d]", at, j), t, "undeclared tier (declared: %s)", strings.Join(pol.tiers, ", "))
			}
			if !slices.Contains(c.tiers, t) {
				c.tiers = append(c.tiers, t)
			}
		}
		for j, m := range r.Methods {
			if m == "" || strings.ContainsAny(m, " \t/") {
				bad(fmt.Sprintf("%s.methods[%d]", at, j), m, "not an HTTP method")
			}
			c.methods = append(c.methods, strings.ToUpper(m))
		}
		if r.Algorithm > backend.Concurrency {
			bad(at+".algorithm", r.Algorithm, "unknown algorithm")
		} else if !r.Exempt {
			inferAlgorithm(c, at, bad)
		}
		if c.Cost < 0 {
			bad(at+".cost", c.Cost, "must not be negative")
		}
		if r.MaxDelay < 0 {
			bad(at+".max_delay", r.MaxDelay, "must not be negative")
		}
		if m, ok := parseFailMode(r.Failure); ok {
			c.failMode = m
		} else {
			bad(at+".failure", r.Failure, `want "open", "closed" or "local"`)
		}
		if r.MaxDelay > 0 && c.Algorithm != backend.TokenBucket {
			bad(at+".max_delay", r.MaxDelay, "throttling needs the token_bucket algorithm, got %v", c.Algorithm)
		}
		if c.Lease < 0 || c.Lease > maxPeriod {
			bad(at+".lease", r.Lease, "must be between 0 and %v", maxPeriod)
		}
		compilePrefetch(c, at, bad) // lease.go
		if !r.Exempt {
			compileLimits(c, at, bad)
		}
		if c.penalty = compilePenalty(&r, at, bad); r.Penalty != nil { // penalty.go
			pc := *r.Penalty
			if p := c.penalty; p != nil { // with defaults filled in
				pc.Multiplier, pc.Max, pc.Decay = p.Multiplier, p.Max, p.Decay
			}
			c.Penalty = &pc
		}
		if r.Group != "" {
			if g, ok := groups[r.Group]; ok {
				if g.Algorithm != c.Algorithm || !slices.Equal(g.windows, c.windows) {
					bad(at+".group", r.Group, "rules of a group must have the same algorithm and limits as %q", g.Name)
				}
			} else {
				groups[r.Group] = c
			}
		}
		for k := range c.ns {
			c.ns[k] = namespace(c, kinds[k])
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// inferAlgorithm gives a rule of Concurrent limits the Concurrency
// algorithm, and reports a rule that mixes them with rate limits or gives
// the Concurrency algorithm a rate.
func inferAlgorithm(c *compiledRule, at string, bad func(string, any, string, ...any)) {
	n := 0
	for _, l := range c.Limits {
		if l.concurrent {
			n++
		}
	}
	switch {
	case n > 0 && n < len(c.Limits):
		bad(at+".limits", limitList(c.Limits), "rule %q mixes Concurrent limits with rate limits; limit concurrency with a rule of its own", c.Name)
	case n > 0 && c.Algorithm == backend.TokenBucket: // the zero Algorithm: unset
		c.Algorithm = backend.Concurrency
	case n > 0 && c.Algorithm != backend.Concurrency:
		bad(at+".algorithm", c.Algorithm, "rule %q has Concurrent limits, which take the concurrency algorithm", c.Name)
	case c.Algorithm == backend.Concurrency:
		for j, l := range c.Limits {
			if l.Per != 0 {
				bad(fmt.Sprintf("%s.limits[%d]", at, j), l, "rule %q uses the concurrency algorithm, whose limits are Concurrent(n), not a rate", c.Name)
			}
		}
	}
}

func limitList(ls []Limit) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func compileLimits(c *compiledRule, at string, bad func(string, any, string, ...any)) {
	switch n := len(c.Limits); {
	case n == 0:
		bad(at+".limits", "[]", "at least one limit is required (or set exempt)")
	case n > backend.MaxWindows:
		bad(at+".limits", n, "at most %d limits per rule", backend.MaxWindows)
	case n > 1 && c.Algorithm == backend.Concurrency:
		bad(at+".limits", n, "a concurrency rule takes exactly one limit")
	}
	for j, l := range c.Limits {
		lat := fmt.Sprintf("%s.limits[%d]", at, j)
		per := l.Per
		if c.Algorithm == backend.Concurrency {
			per = c.Lease
		}
		if l.N < 0 {
			bad(lat+".n", l.N, "must not be negative")
		}
		if (per <= 0 || per > maxPeriod) && !l.concurrent { // a misplaced Concurrent is reported once (inferAlgorithm)
			bad(lat+".per", per, "must be positive and at most %v", maxPeriod)
		}
		if l.Burst < 0 {
			bad(lat+".burst", l.Burst, "must not be negative")
		}
		if l.Burst > 0 && c.Algorithm != backend.TokenBucket {
			bad(lat+".burst", l.Burst, "only token_bucket rules have a burst")
		}
		w := backend.Window{Limit: l.N, Period: per, Burst: l.Burst}
		if l.N > 0 && per > 0 && l.Burst >= 0 {
			t := (int64(per) + l.N - 1) / l.N
			if capa := algo.Capacity(w, c.Algorithm); capa > int64(maxPeriod)/t {
				bad(lat+".burst", capa, "refilling a burst this large takes longer than %v", maxPeriod)
			}
			if c.Cost > algo.Capacity(w, c.Algorithm) {
				bad(at+".cost", c.Cost, "exceeds the capacity %d of limits[%d]: no request could ever be admitted", algo.Capacity(w, c.Algorithm), j)
			}
		}
		if l.Name == "" {
			l.Name = c.Name
			if len(c.Limits) > 1 {
				l.Name = c.Name + "-" + formatPeriod(per)
			}
		}
		if c.Algorithm == backend.Concurrency {
			l.Per = per
		}
		c.Limits[j] = l
		c.windows = append(c.windows, w)
	}
}

// namespace is the backend namespace of the rule's counters for clients of
// one identity kind: rules in one group share it, and no two identity kinds
// share one, so a user named "10.0.0.1" never shares the IP 10.0.0.1's
// counter. Names are escaped (see key.go).
func namespace(c *compiledRule, k IdentityKind) string {
	scope := "r:" + escapeName(c.Name)
	if c.Group != "" {
		scope = "g:" + escapeName(c.Group)
	}
	return string(k) + ":" + scope
}

// matchesMethod reports whether the rule applies to method.
func (c *compiledRule) matchesMethod(method string) bool {
	if len(c.methods) == 0 {
		return true
	}
	for _, m := range c.methods {
		if m == method || (len(m) == len(method) && strings.EqualFold(m, method)) {
			return true
		}
	}
	return false
}
