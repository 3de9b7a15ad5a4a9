package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	"github.com/spf13/cobra"
)

func checkCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and print the effective policy",
		Long: `check validates a configuration file as the server does (the file, the SLUICE_
environment overrides, and the Limiter built from them, connecting to nothing)
and prints every problem with its path, exiting 1; or, for a valid file, the
backend, the failure handling, the tiers, how clients are identified, the
exemptions, and the rules in precedence order: a request gets the first rule
of the list that matches it. Suitable for CI and pre-commit hooks.`,
		Example: `  sluice check sluice.toml
  sluice check --json sluice.toml | jq .rules`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return e.check(args[0]) },
	}
}

// The JSON of check.
type (
	problemJSON struct {
		Path  string `json:"path"`
		Value string `json:"value,omitempty"`
		Error string `json:"error"`
	}
	ruleJSON struct {
		Name      string   `json:"name"`
		Match     string   `json:"match"`
		Methods   []string `json:"methods,omitempty"`
		Path      string   `json:"path,omitempty"`
		Tiers     []string `json:"tiers,omitempty"`
		Algorithm string   `json:"algorithm,omitempty"`
		Limits    []string `json:"limits,omitempty"`
		Notes     []string `json:"notes,omitempty"`
	}
	checkJSON struct {
		File     string        `json:"file"`
		Valid    bool          `json:"valid"`
		Problems []problemJSON `json:"problems,omitempty"`
		Backend  string        `json:"backend,omitempty"`
		Failure  string        `json:"failure,omitempty"`
		Tiers    string        `json:"tiers,omitempty"`
		Identify []string      `json:"identify,omitempty"`
		Exempt   []string      `json:"exempt,omitempty"`
		Rules    []ruleJSON    `json:"rules,omitempty"`
	}
)

func (e *env) check(path string) error {
	svc, err := sluiceconfig.New(path)
	if err != nil {
		return e.printProblems(path, err)
	}
	defer svc.Close()
	c := svc.Config
	out := checkJSON{
		File: path, Valid: true,
		Backend:  describeBackend(c),
		Failure:  describeFailure(c),
		Tiers:    describeTiers(c),
		Identify: describeIdentify(c),
		Exempt:   describeExempt(c),
	}
	for _, r := range svc.Limiter.Rules() {
		out.Rules = append(out.Rules, describeRule(&r))
	}
	if e.json {
		return e.printJSON(out)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s: valid\n\n", path)
	tw := newTable(w)
	fmt.Fprintf(tw, "backend\t%s\n", out.Backend)
	fmt.Fprintf(tw, "failure\t%s\n", out.Failure)
	fmt.Fprintf(tw, "tiers\t%s\n", out.Tiers)
	for i, s := range out.Identify {
		fmt.Fprintf(tw, "%s\t%s\n", label(i, "identify"), s)
	}
	for i, s := range out.Exempt {
		fmt.Fprintf(tw, "%s\t%s\n", label(i, "exempt"), s)
	}
	if len(out.Exempt) == 0 {
		fmt.Fprintf(tw, "exempt\tnone (the health endpoints /health, /healthz, /livez and /readyz always are)\n")
	}
	tw.Flush()
	fmt.Fprintf(w, "\nrules, in precedence order (a request gets the first that matches):\n")
	tw = newTable(w)
	n := 0
	for _, r := range out.Rules {
		num := "-"
		if r.Match != "name only" {
			n++
			num = fmt.Sprint(n)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", num, r.Name, r.Match, r.Algorithm, strings.Join(r.Limits, ", "), strings.Join(r.Notes, "; "))
	}
	return tw.Flush()
}

func label(i int, s string) string {
	if i == 0 {
		return s
	}
	return ""
}

// printProblems prints why a file is invalid, and fails with exit code 1.
func (e *env) printProblems(path string, err error) error {
	var probs []problemJSON
	for _, err := range flatten(err) {
		var ce *core.ConfigError
		if errors.As(err, &ce) {
			p := problemJSON{Path: ce.Path, Error: ce.Err.Error()}
			if ce.Value != nil {
				p.Value = fmt.Sprint(ce.Value)
			}
			probs = append(probs, p)
		} else {
			probs = append(probs, problemJSON{Path: "", Error: strings.TrimPrefix(err.Error(), "sluiceconfig: ")})
		}
	}
	if e.json {
		if err := e.printJSON(checkJSON{File: path, Valid: false, Problems: probs}); err != nil {
			return err
		}
		return failf(1, "")
	}
	fmt.Fprintf(e.stdout, "%s: %d problem%s\n", path, len(probs), map[bool]string{true: "", false: "s"}[len(probs) == 1])
	for _, p := range probs {
		switch {
		case p.Path == "":
			fmt.Fprintf(e.stdout, "  %s\n", p.Error)
		case p.Value == "":
			fmt.Fprintf(e.stdout, "  %s: %s\n", p.Path, p.Error)
		default:
			fmt.Fprintf(e.stdout, "  %s: %q: %s\n", p.Path, p.Value, p.Error)
		}
	}
	return failf(1, "")
}

// flatten lists the errors a joined error holds, recursively.
func flatten(err error) []error {
	var ce *core.ConfigError
	if errors.As(err, &ce) && ce == err {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func describeBackend(c *sluiceconfig.Config) string {
	b := c.Backend
	if b.Type != "redis" {
		if b.Memory.MaxKeys < 0 {
			return "memory, unbounded (one process: its limits are per instance)"
		}
		return "memory (one process: its limits are per instance)"
	}
	r := b.Redis
	where := r.URL
	if u, err := url.Parse(r.URL); err == nil && r.URL != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		where = u.String()
	} else if where == "" {
		where = strings.Join(append([]string{r.Addr}, r.Addrs...), ",")
		if r.Mode != "" {
			where = r.Mode + " " + strings.Trim(where, ",")
		}
	}
	return "redis " + where
}

func describeFailure(c *sluiceconfig.Config) string {
	f := c.Failure
	if c.Backend.Type != "redis" {
		return "none (the in-memory backend never fails)"
	}
	parts := []string{"mode " + or(f.Mode, "open"), "timeout " + or(f.Timeout, "50ms")}
	if f.Mode == "local" {
		parts = append(parts, fmt.Sprintf("local divisor %d", max(f.LocalDivisor, 1)))
	}
	if f.Breaker.Enabled != nil && !*f.Breaker.Enabled {
		parts = append(parts, "circuit breaker off")
	} else {
		parts = append(parts, "circuit breaker on")
	}
	if f.DenyCache != nil && !*f.DenyCache {
		parts = append(parts, "deny cache off")
	} else {
		parts = append(parts, "deny cache on")
	}
	return strings.Join(parts, ", ")
}

func describeTiers(c *sluiceconfig.Config) string {
	names := append([]string{"anonymous", "standard", "premium"}, c.Tiers.Names...)
	def := or(c.Tiers.Default, "standard")
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if n == def {
			n += " (default)"
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

func describeIdentify(c *sluiceconfig.Config) []string {
	id := c.Identify
	var out []string
	if jwt := id.JWT; jwt.HMACSecret != "" || jwt.PublicKeyFile != "" || jwt.JWKSFile != "" || jwt.JWKSURL != "" {
		s := "verified users from JWTs in " + or(jwt.Header, "Authorization")
		if jwt.Cookie != "" {
			s += " or the cookie " + jwt.Cookie
		}
		if jwt.Issuer != "" {
			s += ", issuer " + jwt.Issuer
		}
		out = append(out, s)
	} else if jwt.UnverifiedSubject {
		out = append(out, "unverified token subjects (anonymous tier) from "+or(jwt.Header, "Authorization"))
	}
	if k := id.APIKeys; k.Header != "" {
		out = append(out, fmt.Sprintf("API keys in %s (%d key%s)", k.Header, len(k.Keys), map[bool]string{true: "", false: "s"}[len(k.Keys) == 1]))
	}
	if len(id.Order) > 0 {
		out = append(out, "order: "+strings.Join(id.Order, ", ")+", then the client IP")
	}
	ip := "client IP: the connection's peer, no header trusted"
	switch {
	case len(id.TrustedProxies) > 0:
		ip = fmt.Sprintf("client IP: behind the trusted proxies %s, read from %s", strings.Join(id.TrustedProxies, ", "), or(id.ForwardedHeader, "X-Forwarded-For"))
		if id.ClientIPHeader != "" {
			ip += " (after " + id.ClientIPHeader + ")"
		}
	case id.TrustedHops > 0:
		ip = fmt.Sprintf("client IP: %d trusted hops, read from %s", id.TrustedHops, or(id.ForwardedHeader, "X-Forwarded-For"))
	}
	ip += fmt.Sprintf("; IPv4 keyed by /%d, IPv6 by /%d", orInt(id.IPv4Prefix, 32), orInt(id.IPv6Prefix, 64))
	return append(out, ip)
}

func describeExempt(c *sluiceconfig.Config) []string {
	x := c.Exempt
	var out []string
	if len(x.IPs) > 0 {
		out = append(out, "IPs "+strings.Join(x.IPs, ", "))
	}
	if len(x.Users) > 0 {
		out = append(out, "users "+strings.Join(x.Users, ", "))
	}
	if len(x.APIKeys) > 0 {
		out = append(out, fmt.Sprintf("%d API keys", len(x.APIKeys)))
	}
	if len(x.Endpoints) > 0 {
		out = append(out, "endpoints "+strings.Join(x.Endpoints, ", "))
	}
	return out
}

func describeRule(r *core.Rule) ruleJSON {
	j := ruleJSON{Name: r.Name, Methods: r.Methods, Path: r.Path, Tiers: r.Tiers}
	switch {
	case r.NameOnly:
		j.Match = "name only"
	case r.Path == "":
		j.Match = "every other request"
	default:
		j.Match = r.Path
	}
	if len(r.Methods) > 0 && !r.NameOnly {
		j.Match = strings.Join(r.Methods, ",") + " " + j.Match
	}
	if len(r.Tiers) > 0 {
		j.Match += " [" + strings.Join(r.Tiers, ",") + "]"
	}
	if r.Exempt {
		j.Notes = append(j.Notes, "exempt")
		return j
	}
	j.Algorithm = r.Algorithm.String()
	for _, l := range r.Limits {
		j.Limits = append(j.Limits, l.String())
	}
	if r.Cost > 1 {
		j.Notes = append(j.Notes, fmt.Sprintf("cost %d", r.Cost))
	}
	if r.MaxDelay > 0 {
		j.Notes = append(j.Notes, "throttles up to "+dur(r.MaxDelay))
	}
	if r.Group != "" {
		j.Notes = append(j.Notes, "group "+r.Group)
	}
	if r.Failure != "" {
		j.Notes = append(j.Notes, "fails "+r.Failure)
	}
	if r.Shadow {
		j.Notes = append(j.Notes, "shadow")
	}
	if p := r.Penalty; p != nil {
		j.Notes = append(j.Notes, fmt.Sprintf("penalty: %d denials in %s block for %s, x%g each time, up to %s", p.Threshold, dur(p.Window), dur(p.Base), p.Multiplier, dur(p.Max)))
	}
	return j
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
