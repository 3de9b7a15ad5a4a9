package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/spf13/cobra"
)

func explainCmd(e *env) *cobra.Command {
	var rf requestFlags
	cmd := &cobra.Command{
		Use:   "explain FILE --remote ADDR [--method M] [--path P] [--header 'N: v']... [--token JWT]",
		Short: "Explain which client, tier, rule and windows a request gets",
		Long: `explain builds the Limiter a configuration file describes and asks it about one
request, through the same code a server runs: which client the request is
counted as and why (whether the peer is a trusted proxy and a forwarding header
was read, whether an API key or a token was accepted), its tier, the rule that
decides it and the rules it took precedence over, and the rule's windows.

It decides on an in-memory backend, as for a client with no usage, and never
contacts the file's backend: 'sluice peek' reads a client's live state.`,
		Example: `  sluice explain sluice.toml --method POST --path /login --remote 10.0.0.5:5000 \
      --header 'X-Forwarded-For: 203.0.113.7'
  sluice explain sluice.toml --path /api/items --remote 203.0.113.7:5000 --token "$JWT"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return e.explain(cmd.Context(), args[0], &rf) },
	}
	rf.add(cmd)
	return cmd
}

type (
	clientJSON struct {
		Kind   string `json:"kind"`
		Key    string `json:"key"`
		Tier   string `json:"tier"`
		Exempt bool   `json:"exempt,omitempty"`
	}
	windowJSON struct {
		Limit     string `json:"limit"`
		Remaining int64  `json:"remaining"`
	}
	explainJSON struct {
		Request   string       `json:"request"`
		Client    clientJSON   `json:"client"`
		Why       []string     `json:"why"`
		Rule      string       `json:"rule,omitempty"`
		Beat      []string     `json:"beat"`
		Algorithm string       `json:"algorithm,omitempty"`
		Cost      int64        `json:"cost,omitempty"`
		Windows   []windowJSON `json:"windows,omitempty"`
		Outcome   string       `json:"outcome"`
	}
)

func (e *env) explain(ctx context.Context, path string, rf *requestFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	mem := memory.New()
	defer mem.Close()
	svc, err := sluiceconfig.New(path, sluiceconfig.WithCoreOptions(core.WithBackend(mem)))
	if err != nil {
		return e.printProblems(path, err)
	}
	defer svc.Close()
	c := svc.Config
	tokenHeader := or(c.Identify.JWT.Header, "Authorization")
	req, err := rf.request(tokenHeader)
	if err != nil {
		return err
	}
	lim := svc.Limiter
	rules := lim.Rules()

	out := explainJSON{Request: describeRequest(&req, c.Identify.APIKeys.Header), Beat: []string{}}
	d, err := lim.Peek(ctx, req)
	if err != nil {
		return failf(1, "explain: "+err.Error())
	}
	out.Outcome = string(d.Outcome)

	// The client, as the configured identifier finds it: a rule that
	// limits is named so that it always identifies (a health endpoint
	// would not).
	probe := ""
	for _, r := range rules {
		if !r.Exempt {
			probe = r.Name
			break
		}
	}
	identity := func(h http.Header) (core.Identity, error) {
		r := req
		r.Header, r.Rule = h, probe
		pd, err := lim.Peek(ctx, r)
		return pd.Client, err
	}
	var id core.Identity
	if probe != "" {
		if id, err = identity(req.Header.(http.Header)); err != nil {
			return failf(1, "explain: "+err.Error())
		}
		out.Client = clientJSON{Kind: string(id.Kind), Key: id.Value, Tier: id.Tier, Exempt: id.Exempt}
		if out.Why, err = e.why(c, &req, id, tokenHeader, identity); err != nil {
			return failf(1, "explain: "+err.Error())
		}
	}

	switch {
	case d.Rule == "":
		out.Why = append(out.Why, "no rule applies: a health endpoint (/health, /healthz, /livez, /readyz), or no rule matches and there is no default rule")
	default:
		out.Rule = d.Rule
		i := slices.IndexFunc(rules, func(r core.Rule) bool { return r.Name == d.Rule })
		r := rules[i]
		if !r.Exempt {
			out.Algorithm, out.Cost = r.Algorithm.String(), max(r.Cost, 1)
			if req.Cost > 0 {
				out.Cost = req.Cost
			}
		}
		for _, w := range d.Windows() {
			out.Windows = append(out.Windows, windowJSON{Limit: w.Limit.String(), Remaining: w.Remaining})
		}
		if out.Beat, err = beaten(ctx, c, rules, d.Rule, &req, id); err != nil {
			return failf(1, "explain: "+err.Error())
		}
	}
	if e.json {
		return e.printJSON(out)
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "request\t%s\n", out.Request)
	if probe != "" {
		fmt.Fprintf(tw, "client\t%s:%s, tier %s%s\n", out.Client.Kind, out.Client.Key, out.Client.Tier, map[bool]string{true: ", exempt", false: ""}[out.Client.Exempt])
	}
	for i, s := range out.Why {
		fmt.Fprintf(tw, "%s\t%s\n", label(i, "why"), s)
	}
	if out.Rule != "" {
		fmt.Fprintf(tw, "rule\t%s\n", out.Rule)
		beat := "no other rule matches"
		if len(out.Beat) > 0 {
			beat = strings.Join(out.Beat, ", ") + " (also matching, lower in precedence)"
		}
		fmt.Fprintf(tw, "beat\t%s\n", beat)
	}
	if out.Algorithm != "" {
		fmt.Fprintf(tw, "algorithm\t%s, cost %d\n", out.Algorithm, out.Cost)
	}
	var ws []string
	for _, w := range out.Windows {
		ws = append(ws, fmt.Sprintf("%s (%d left for a client with no usage)", w.Limit, w.Remaining))
	}
	if len(ws) > 0 {
		fmt.Fprintf(tw, "windows\t%s\n", strings.Join(ws, "; "))
	}
	fmt.Fprintf(tw, "outcome\t%s\n", out.Outcome)
	return tw.Flush()
}

// describeRequest writes a request for humans, without its credentials.
func describeRequest(r *core.Request, apiKeyHeader string) string {
	s := r.Method + " " + r.Path
	if r.Route != "" {
		s += " (route " + r.Route + ")"
	}
	s += " from " + r.RemoteAddr
	h := r.Header.(http.Header)
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, v := range h[n] {
			switch {
			case n == "Authorization" || strings.HasPrefix(v, "Bearer "):
				v = "Bearer <token>"
			case apiKeyHeader != "" && n == http.CanonicalHeaderKey(apiKeyHeader):
				v = "<key>"
			}
			s += "; " + n + ": " + v
		}
	}
	return s
}

// forwarding are the headers that can carry a client address.
func forwarding(c *sluiceconfig.Config) []string {
	h := []string{"X-Forwarded-For", "Forwarded"}
	if c.Identify.ClientIPHeader != "" {
		h = append(h, http.CanonicalHeaderKey(c.Identify.ClientIPHeader))
	}
	return h
}

// why explains id by asking the identifier again with less of the request:
// a difference is what a header decided.
func (e *env) why(c *sluiceconfig.Config, r *core.Request, id core.Identity, tokenHeader string, identity func(http.Header) (core.Identity, error)) ([]string, error) {
	full := r.Header.(http.Header)
	only := func(names ...string) http.Header {
		h := http.Header{}
		for _, n := range names {
			if v := full.Values(n); len(v) > 0 {
				h[http.CanonicalHeaderKey(n)] = v
			}
		}
		return h
	}
	var why []string
	peer, err := identity(http.Header{})
	if err != nil {
		return nil, err
	}
	fwd := forwarding(c)
	var sent []string
	for _, n := range fwd {
		if full.Get(n) != "" {
			sent = append(sent, n)
		}
	}
	ip := peer
	if len(sent) > 0 {
		if ip, err = identity(only(fwd...)); err != nil {
			return nil, err
		}
		if ip != peer {
			why = append(why, fmt.Sprintf("the peer %s is a trusted proxy, so %s was read: the client address is %s", r.RemoteAddr, strings.Join(sent, " and "), ip.Value))
		} else {
			why = append(why, fmt.Sprintf("%s ignored: the peer %s is not a trusted proxy, or the header holds no address to trust; the client address is the peer's, %s", strings.Join(sent, " and "), r.RemoteAddr, peer.Value))
		}
	} else {
		why = append(why, fmt.Sprintf("no forwarding header: the client address is the peer's, %s", peer.Value))
	}
	if full.Get(tokenHeader) != "" {
		switch id.Kind {
		case core.KindUser:
			why = append(why, fmt.Sprintf("the token verified: user %s, tier %s", id.Value, id.Tier))
		case core.KindUnverified:
			why = append(why, fmt.Sprintf("the token was taken unverified (identify.jwt.unverified_subject): %s, in the anonymous tier", id.Value))
		default:
			why = append(why, "the token was not accepted (bad signature, expired, wrong issuer or audience, or identify.jwt has no key): it confers nothing")
		}
	}
	if h := c.Identify.APIKeys.Header; h != "" && full.Get(h) != "" {
		if id.Kind == core.KindAPIKey {
			why = append(why, fmt.Sprintf("the API key in %s was accepted: tier %s", h, id.Tier))
		} else if id.Kind != core.KindUser {
			why = append(why, fmt.Sprintf("the API key in %s was not accepted: it confers nothing", h))
		}
	}
	if id.Kind == core.KindIP {
		why = append(why, "counted by IP address, in the anonymous tier")
	}
	if id.Exempt {
		why = append(why, "the client is exempt (the exempt section): its requests are never limited")
	}
	return why, nil
}

// beaten returns the rules that match the request too, in precedence
// order, after the winner: each is the rule a Limiter without the rules
// before it would pick, so the order is core's own.
func beaten(ctx context.Context, c *sluiceconfig.Config, rules []core.Rule, winner string, r *core.Request, id core.Identity) ([]string, error) {
	out := []string{}
	if id.Kind == "" {
		return out, nil
	}
	id.Exempt = false
	rest := slices.DeleteFunc(slices.Clone(rules), func(x core.Rule) bool { return x.Name == winner })
	for {
		if !slices.ContainsFunc(rest, func(x core.Rule) bool { return !x.NameOnly }) {
			return out, nil
		}
		lim, err := core.New(core.WithRules(rest...), core.WithTiers(c.Tiers.Default, c.Tiers.Names...))
		if err != nil {
			return nil, err
		}
		q := *r
		q.Identity = id
		d, err := lim.Peek(ctx, q)
		lim.Close()
		if err != nil {
			return nil, err
		}
		if d.Rule == "" {
			return out, nil
		}
		out = append(out, d.Rule)
		rest = slices.DeleteFunc(rest, func(x core.Rule) bool { return x.Name == d.Rule })
	}
}
