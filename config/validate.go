package sluiceconfig

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// problems collects field errors.
type problems struct{ errs Errors }

func (p *problems) add(path string, value any, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Value: value, Err: fmt.Errorf(format, args...)})
}

func (p *problems) wrap(path string, value any, err error) {
	p.errs = append(p.errs, &FieldError{Path: path, Value: value, Err: err})
}

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
	}
	return d
}

func (p *problems) oneOf(path, s string, allowed ...string) {
	if s == "" {
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	p.add(path, s, "want one of %s", strings.Join(allowed, ", "))
}

// validate checks c and returns every problem. It builds nothing that
// connects anywhere.
func (c *Config) validate() Errors {
	var p problems
	rules := c.coreRules(&p)
	c.Backend.validate(&p)
	c.Headers.validate(&p)
	c.Failure.validate(&p)
	p.oneOf("logging.level", c.Logging.Level, "off", "debug", "info", "warn", "error")
	p.oneOf("logging.format", c.Logging.Format, "text", "json")
	for i, o := range c.Identify.Order {
		p.oneOf(fmt.Sprintf("identify.order[%d]", i), o, "user", "api_key")
	}
	p.duration("identify.jwt.leeway", c.Identify.JWT.Leeway)
	for i, k := range c.Identify.APIKeys.Keys {
		if k.Key == "" {
			p.add(fmt.Sprintf("identify.api_keys.keys[%d].key", i), k.Key, "must not be empty")
		}
	}
	if len(c.Identify.APIKeys.Keys) > 0 && c.Identify.APIKeys.Header == "" {
		p.add("identify.api_keys.header", "", "required when keys are set")
	}
	// The library's own checks: identification (key files, proxies) and
	// the rules against tiers, groups and exemptions. Where the schema
	// already faulted a rule's windows, the library's complaints about
	// its windows, cost and group are left out: they would only repeat
	// the fault in other words.
	if _, err := c.identifier(); err != nil {
		p.wrap("identify", nil, err)
	}
	faulted := map[string]bool{}
	for _, e := range p.errs {
		faulted[e.Path] = true
		if r := ruleOf(e.Path); r != "" && strings.HasPrefix(e.Path, r+".windows") {
			faulted[r] = true
		}
	}
	lim, err := core.New(append(c.policyOptions(), core.WithRules(rules...))...)
	if err != nil {
		for _, e := range fromCore(err) {
			r := ruleOf(e.Path)
			windowsOf := r != "" && faulted[r] && (strings.HasPrefix(e.Path, r+".windows") ||
				e.Path == r+".cost" || e.Path == r+".group")
			if !faulted[e.Path] && !windowsOf {
				p.errs = append(p.errs, e)
			}
		}
	} else {
		lim.Close()
	}
	return p.errs
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

var corePath = regexp.MustCompile(`^rules\[(\d+)\]\.limits(\[\d+\])?(\.\w+)?`)

// fromCore maps the library's *core.ConfigError paths onto the schema's.
func fromCore(err error) Errors {
	var out Errors
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
			out = append(out, &FieldError{Err: err})
			return
		}
		path := ce.Path
		switch {
		case corePath.MatchString(path):
			path = corePath.ReplaceAllString(path, "rules[$1].windows$2")
		case path == "default_tier":
			path = "tiers.default"
		case strings.HasPrefix(path, "tiers["):
			path = "tiers.names" + strings.TrimPrefix(path, "tiers")
		case strings.HasPrefix(path, "exempt_"):
			path = "exempt." + strings.TrimPrefix(path, "exempt_")
		case strings.HasPrefix(path, "health_endpoints"):
			path = "exempt." + path
		}
		out = append(out, &FieldError{Path: path, Value: ce.Value, Err: ce.Err})
	}
	walk(err)
	return out
}

// coreRules converts the rules, recording problems in p.
func (c *Config) coreRules(p *problems) []core.Rule {
	out := make([]core.Rule, 0, len(c.Rules))
	for i, r := range c.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		cr := core.Rule{
			Name: r.Name, Path: r.Path, Methods: r.Methods, Tiers: r.Tiers,
			Cost: r.Cost, Group: r.Group, Shadow: r.Shadow || c.Shadow, Exempt: r.Exempt,
		}
		if r.Algorithm != "" {
			a, err := backend.ParseAlgorithm(r.Algorithm)
			if err != nil {
				p.add(at+".algorithm", r.Algorithm, "unknown algorithm (want token_bucket, sliding_log, sliding_window, fixed_window or concurrency)")
			}
			cr.Algorithm = a
		}
		if r.Failure != "" {
			m, err := core.ParseFailureMode(r.Failure)
			if err != nil {
				p.add(at+".failure", r.Failure, "unknown failure mode (want open, closed or local)")
			}
			cr.Failure = m
		}
		cr.MaxDelay = p.duration(at+".max_delay", r.MaxDelay)
		cr.Lease = p.duration(at+".lease", r.Lease)
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
			l, ok := w.limit(p, fmt.Sprintf("%s.windows[%d]", at, j), cr.Algorithm == backend.Concurrency)
			if ok {
				cr.Limits = append(cr.Limits, l)
			}
		}
		out = append(out, cr)
	}
	if len(c.Rules) == 0 {
		p.add("rules", "[]", "at least one rule is required")
	}
	return out
}

// limit parses one window.
func (w Window) limit(p *problems, at string, concurrency bool) (core.Limit, bool) {
	if w.Text != "" {
		s := w.Text
		if concurrency && !strings.Contains(s, "/") && !strings.Contains(s, " ") {
			s += " concurrent" // "10" is 10 in flight
		}
		l, err := core.ParseLimit(s)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("%q: %v: ", s, core.ErrLimitSyntax))
			msg = strings.Replace(msg, "unknown period", "unknown unit", 1)
			p.add(at, w.Text, "%s", msg)
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
			return core.Concurrent(w.Limit).Named(w.Name), true
		}
		p.add(at+".period", "", "required (such as \"minute\", \"15m\", \"1h\")")
		return core.Limit{}, false
	}
	l, err := core.ParseLimit(fmt.Sprintf("%d/%s", w.Limit, w.Period))
	if err != nil {
		p.add(at+".period", w.Period, "unknown unit or duration")
		return core.Limit{}, false
	}
	l.Burst, l.Name = w.Burst, w.Name
	return l, true
}

func (b *Backend) validate(p *problems) {
	p.oneOf("backend.type", b.Type, "memory", "redis")
	r := &b.Redis
	p.oneOf("backend.redis.mode", r.Mode, "standalone", "sentinel", "cluster")
	p.duration("backend.redis.dial_timeout", r.DialTimeout)
	p.duration("backend.redis.read_timeout", r.ReadTimeout)
	p.duration("backend.redis.write_timeout", r.WriteTimeout)
	if b.Type != "redis" {
		return
	}
	if r.URL != "" {
		if r.Addr != "" || len(r.Addrs) > 0 || r.Mode != "" {
			p.add("backend.redis.url", redact(r.URL), "set either url or mode/addr/addrs, not both")
		}
		if rb, err := newRedisFromURL(r.URL); err != nil {
			p.add("backend.redis.url", redact(r.URL), "%v", err)
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
	}
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

func (h *Headers) validate(p *problems) {
	p.oneOf("headers.set", h.Set, "both", "legacy", "ietf", "none")
	p.oneOf("headers.reset", h.Reset, "seconds", "unix")
	p.duration("headers.unavailable_retry_after", h.UnavailableRetryAfter)
}

func (f *Failure) validate(p *problems) {
	p.oneOf("failure.mode", f.Mode, "open", "closed", "local")
	p.duration("failure.timeout", f.Timeout)
	if f.LocalDivisor < 0 {
		p.add("failure.local_divisor", f.LocalDivisor, "must not be negative")
	}
	b := &f.Breaker
	p.duration("failure.breaker.interval", b.Interval)
	p.duration("failure.breaker.cool_down", b.CoolDown)
	if b.FailureRatio < 0 || b.FailureRatio > 1 {
		p.add("failure.breaker.failure_ratio", b.FailureRatio, "must be between 0 and 1")
	}
}
