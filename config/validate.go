package sluiceconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// duration parses an optional Go duration; "" is 0.
func (p *problems) duration(path, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.add(path, s, "not a duration (want Go syntax such as 50ms, 2s, 1m30s)")
		return 0
	}
	if d < 0 {
		p.add(path, s, "must not be negative")
		return 0
	}
	return d
}

func (p *problems) oneOf(path, s string, allowed ...string) {
	if s != "" && !slices.Contains(allowed, s) {
		p.add(path, s, "want one of %s", strings.Join(allowed, ", "))
	}
}

func (p *problems) notNegative(path string, n int) {
	if n < 0 {
		p.add(path, n, "must not be negative")
	}
}

// validate checks c and adds every problem to p: the schema's checks, then
// the library's own (core, identify and sluicejwt options built from c),
// reported at the schema's paths. It connects to nothing.
func (c *Config) validate(p *problems) {
	rules := c.coreRules(p)
	c.Backend.validate(p)
	c.Headers.validate(p)
	failure := c.Failure.core(p)
	p.oneOf("logging.level", c.Logging.Level, "off", "debug", "info", "warn", "error")
	p.oneOf("logging.format", c.Logging.Format, "text", "json")
	c.Identify.validate(p)
	for i, e := range c.Exempt.Endpoints {
		if e == "" {
			p.add(fmt.Sprintf("exempt.endpoints[%d]", i), e, "must not be empty")
		}
	}
	if len(c.Exempt.APIKeys) > 0 && len(c.Identify.APIKeys.Keys) == 0 {
		p.add("exempt.api_keys", nil, "only keys identify.api_keys accepts can be exempt, and it has none")
	}
	if len(c.Exempt.Users) > 0 && !c.Identify.JWT.verifies() {
		p.add("exempt.users", nil, "only verified users can be exempt, and identify.jwt has no key")
	}

	// The library's checks. Where the schema already faulted a rule's
	// windows, the library's complaints about its windows, cost and group
	// are left out: they would only repeat the fault in other words.
	faulted := map[string]bool{}
	for _, e := range p.errs {
		faulted[e.Path] = true
		if r := ruleOf(e.Path); r != "" && strings.HasPrefix(e.Path, r+".windows") {
			faulted[r] = true
		}
	}
	if _, err := c.identifier(p, slog.New(slog.DiscardHandler)); err != nil {
		p.wrap("identify", nil, err)
	}
	opts := append(c.tierOptions(), core.WithRules(rules...), core.WithFailure(failure))
	lim, err := core.New(opts...)
	if err != nil {
		for _, e := range c.fromCore(err) {
			r := ruleOf(e.Path)
			repeats := r != "" && faulted[r] && (strings.HasPrefix(e.Path, r+".windows") ||
				e.Path == r+".cost" || e.Path == r+".group")
			if !faulted[e.Path] && !repeats {
				p.errs = append(p.errs, e)
			}
		}
	} else {
		lim.Close()
	}
}

// ruleOf returns the "rules[i]" a path is under, or "".
func ruleOf(path string) string {
	if !strings.HasPrefix(path, "rules[") {
		return ""
	}
	if i := strings.IndexByte(path, ']'); i >= 0 {
		return path[:i+1]
	}
	return ""
}

var (
	corePath  = regexp.MustCompile(`^rules\[(\d+)\]\.limits(\[\d+\])?(\.\w+)?`)
	ruleIndex = regexp.MustCompile(`^rules\[(\d+)\]`)
)

// fromCore maps the *core.ConfigError paths of the library's error onto
// the schema's.
func (c *Config) fromCore(err error) []*core.ConfigError {
	var out []*core.ConfigError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *core.ConfigError
		if !errors.As(err, &ce) {
			out = append(out, &core.ConfigError{Path: "(library)", Err: err})
			return
		}
		path := ce.Path
		if m := ruleIndex.FindStringSubmatch(path); m != nil {
			// Exempt endpoints are rules after the file's.
			if i, _ := strconv.Atoi(m[1]); i >= len(c.Rules) {
				path = fmt.Sprintf("exempt.endpoints[%d]", i-len(c.Rules))
			}
		}
		switch {
		case corePath.MatchString(path):
			path = corePath.ReplaceAllString(path, "rules[$1].windows$2")
		case path == "default_tier":
			path = "tiers.default"
		case strings.HasPrefix(path, "tiers["):
			path = "tiers.names" + strings.TrimPrefix(path, "tiers")
		}
		out = append(out, &core.ConfigError{Path: path, Value: ce.Value, Err: ce.Err})
	}
	walk(err)
	return out
}

// coreRules converts the rules, with the global shadow switch applied, and
// appends an exempt rule per exempt endpoint. It records problems in p.
func (c *Config) coreRules(p *problems) []core.Rule {
	out := make([]core.Rule, 0, len(c.Rules)+len(c.Exempt.Endpoints))
	for i, r := range c.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		cr := core.Rule{
			Name: r.Name, Path: r.Path, Methods: r.Methods, Tiers: r.Tiers, NameOnly: r.NameOnly,
			Cost: r.Cost, Group: r.Group, Shadow: r.Shadow || c.Shadow, Exempt: r.Exempt,
		}
		if r.Algorithm != "" {
			a, ok := parseAlgorithm(r.Algorithm)
			if !ok {
				p.add(at+".algorithm", r.Algorithm, "unknown algorithm (want %s)", strings.Join(algorithmNames(), ", "))
			}
			cr.Algorithm = a
		}
		p.oneOf(at+".failure", r.Failure, "open", "closed", "local")
		cr.Failure = r.Failure
		cr.MaxDelay = p.duration(at+".max_delay", r.MaxDelay)
		cr.Lease = p.duration(at+".lease", r.Lease)
		cr.Prefetch = p.duration(at+".prefetch", r.Prefetch)
		if pe := r.Penalty; pe != nil {
			cr.Penalty = &core.Penalty{
				Threshold: pe.Threshold, Multiplier: pe.Multiplier,
				Window: p.duration(at+".penalty.window", pe.Window),
				Base:   p.duration(at+".penalty.base", pe.Base),
				Max:    p.duration(at+".penalty.max", pe.Max),
				Decay:  p.duration(at+".penalty.decay", pe.Decay),
			}
		}
		if len(r.Windows) == 0 && !r.Exempt {
			p.add(at+".windows", "[]", "at least one window is required (or set exempt)")
		}
		for j, w := range r.Windows {
			if l, ok := w.limit(p, fmt.Sprintf("%s.windows[%d]", at, j), cr.Algorithm == backend.Concurrency); ok {
				cr.Limits = append(cr.Limits, l)
			}
		}
		out = append(out, cr)
	}
	if len(c.Rules) == 0 {
		p.add("rules", "[]", "at least one rule is required")
	}
	for _, e := range c.Exempt.Endpoints {
		out = append(out, core.Rule{Name: "exempt " + e, Path: e, Exempt: true})
	}
	return out
}

// parseAlgorithm returns the algorithm whose configuration name is s.
func parseAlgorithm(s string) (backend.Algorithm, bool) {
	for a := backend.TokenBucket; a <= backend.Concurrency; a++ {
		if a.String() == s {
			return a, true
		}
	}
	return backend.TokenBucket, false
}

func algorithmNames() []string {
	var names []string
	for a := backend.TokenBucket; a <= backend.Concurrency; a++ {
		names = append(names, a.String())
	}
	return names
}

// limit parses one window.
func (w windowConfig) limit(p *problems, at string, concurrency bool) (core.Limit, bool) {
	if w.Text != "" {
		s := w.Text
		if concurrency && !strings.Contains(s, "/") && !strings.Contains(s, " ") {
			s += " concurrent" // "10" is 10 in flight
		}
		l, err := parseLimit(s)
		if err != nil {
			p.wrap(at, w.Text, err)
			return core.Limit{}, false
		}
		return l, true
	}
	if w.Limit < 0 {
		p.add(at+".limit", w.Limit, "must not be negative")
		return core.Limit{}, false
	}
	if w.Burst < 0 {
		p.add(at+".burst", w.Burst, "must not be negative")
		return core.Limit{}, false
	}
	if w.Period == "" {
		if concurrency {
			l := core.Concurrent(w.Limit)
			l.Name = w.Name
			return l, true
		}
		p.add(at+".period", "", `required (such as "minute", "15m", "1h")`)
		return core.Limit{}, false
	}
	per, err := parsePeriod(w.Period)
	if err != nil {
		p.wrap(at+".period", w.Period, err)
		return core.Limit{}, false
	}
	return core.Limit{N: w.Limit, Per: per, Burst: w.Burst, Name: w.Name}, true
}

func (b *backendConfig) validate(p *problems) {
	p.oneOf("backend.type", b.Type, "memory", "redis")
	r := &b.Redis
	p.oneOf("backend.redis.mode", r.Mode, "standalone", "sentinel", "cluster")
	p.duration("backend.redis.dial_timeout", r.DialTimeout)
	p.duration("backend.redis.read_timeout", r.ReadTimeout)
	p.duration("backend.redis.write_timeout", r.WriteTimeout)
	p.duration("backend.redis.pool_timeout", r.PoolTimeout)
	p.notNegative("backend.redis.pool_size", r.PoolSize)
	p.notNegative("backend.redis.db", r.DB)
	if r.Batching != nil {
		p.notNegative("backend.redis.batching", *r.Batching)
	}
	if b.Type != "redis" {
		return
	}
	if r.URL != "" {
		if set := r.connectionFields(); len(set) > 0 {
			p.add("backend.redis.url", redact(r.URL), "set either url or the connection fields (%s), not both: the URL's query parameters set the pool and timeouts",
				strings.Join(set, ", "))
		}
		if rb, err := sluiceredis.NewFromURL(r.URL); err != nil {
			p.wrap("backend.redis.url", redact(r.URL), err)
		} else {
			rb.Close()
		}
		return
	}
	switch r.Mode {
	case "", "standalone":
		if r.Addr == "" {
			p.add("backend.redis.addr", "", "required for a standalone server (or set url)")
		}
	case "sentinel":
		if len(r.Addrs) == 0 {
			p.add("backend.redis.addrs", "[]", "the Sentinel addresses are required")
		}
		if r.MasterName == "" {
			p.add("backend.redis.master_name", "", "required with sentinel")
		}
	case "cluster":
		if len(r.Addrs) == 0 {
			p.add("backend.redis.addrs", "[]", "at least one cluster node is required")
		}
		if r.DB != 0 {
			p.add("backend.redis.db", r.DB, "a Redis Cluster has database 0 only")
		}
	}
}

// connectionFields returns the keys of the connection fields that are set.
func (r *redisConfig) connectionFields() []string {
	var set []string
	for key, on := range map[string]bool{
		"mode": r.Mode != "", "addr": r.Addr != "", "addrs": len(r.Addrs) > 0, "master_name": r.MasterName != "",
		"username": r.Username != "", "password": r.Password != "", "sentinel_password": r.SentinelPassword != "",
		"db": r.DB != 0, "tls": r.TLS, "pool_size": r.PoolSize != 0, "dial_timeout": r.DialTimeout != "",
		"read_timeout": r.ReadTimeout != "", "write_timeout": r.WriteTimeout != "", "pool_timeout": r.PoolTimeout != "",
	} {
		if on {
			set = append(set, key)
		}
	}
	slices.Sort(set)
	return set
}

// redact hides a URL's user information.
func redact(url string) string {
	if at := strings.LastIndexByte(url, '@'); at >= 0 {
		if i := strings.Index(url, "://"); i >= 0 && i < at {
			return url[:i+3] + "…@" + url[at+1:]
		}
	}
	return url
}

// headerProfiles are the values of headers.send.
var headerProfiles = []string{"draft10", "triple", "x", "x_unix"}

func (h *headersConfig) validate(p *problems) {
	if h.Send != nil {
		for i, s := range *h.Send {
			p.oneOf(fmt.Sprintf("headers.send[%d]", i), s, headerProfiles...)
		}
		if slices.Contains(*h.Send, "x") && slices.Contains(*h.Send, "x_unix") {
			p.add("headers.send", strings.Join(*h.Send, ","), `"x" and "x_unix" write the same fields; pick one`)
		}
	}
	if h.ProblemType != "" {
		if u, err := url.Parse(h.ProblemType); err != nil || !u.IsAbs() {
			p.add("headers.problem_type", h.ProblemType, "want an absolute URI")
		}
	}
	p.duration("headers.unavailable_retry_after", h.UnavailableRetryAfter)
}

// core returns the core.Failure the section describes, recording problems
// in p.
func (f *failureConfig) core(p *problems) core.Failure {
	p.oneOf("failure.mode", f.Mode, "open", "closed", "local")
	out := core.Failure{
		Mode:         f.Mode,
		Timeout:      p.duration("failure.timeout", f.Timeout),
		LocalDivisor: f.LocalDivisor,
		NoDenyCache:  f.DenyCache != nil && !*f.DenyCache,
	}
	p.notNegative("failure.local_divisor", f.LocalDivisor)
	b := &f.Breaker
	p.notNegative("failure.breaker.consecutive_failures", b.ConsecutiveFailures)
	backoff := p.duration("failure.breaker.backoff", b.Backoff)
	if b.Enabled != nil && !*b.Enabled {
		if b.ConsecutiveFailures != 0 || b.Backoff != "" {
			p.add("failure.breaker.enabled", false, "the breaker is off, so consecutive_failures and backoff do nothing")
		}
		out.BreakerFailures = -1
		return out
	}
	out.BreakerFailures = max(0, b.ConsecutiveFailures)
	out.BreakerBackoff = backoff
	return out
}

func (id *identifyConfig) validate(p *problems) {
	for i, o := range id.Order {
		p.oneOf(fmt.Sprintf("identify.order[%d]", i), o, "user", "api_key")
	}
	j := &id.JWT
	p.duration("identify.jwt.leeway", j.Leeway)
	p.duration("identify.jwt.jwks_refresh", j.JWKSRefresh)
	p.duration("identify.jwt.jwks_min_refresh", j.JWKSMinRefresh)
	p.notNegative("identify.jwt.cache_size", j.CacheSize)
	for i, k := range id.APIKeys.Keys {
		if k.Key == "" {
			p.add(fmt.Sprintf("identify.api_keys.keys[%d].key", i), k.Key, "must not be empty")
		}
	}
	if len(id.APIKeys.Keys) > 0 && id.APIKeys.Header == "" {
		p.add("identify.api_keys.header", "", "required when keys are set")
	}
}
