package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	sluiceadmin "github.com/sluicehq/sluice/admin"
	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/spf13/cobra"
)

// liveFlags name a client and a rule in the backend a file configures.
type liveFlags struct {
	requestFlags
	rule, kind, key string
	yes             bool
}

func (f *liveFlags) add(cmd *cobra.Command, destructive bool) {
	f.requestFlags.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.rule, "rule", "", "the rule (default: every rule)")
	fl.StringVar(&f.kind, "kind", "ip", "the client's kind: ip, user, apikey, custom or unverified")
	fl.StringVar(&f.key, "key", "", "the client's key, as decisions and logs show it (or give the request flags instead)")
	if destructive {
		fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	}
}

const liveLong = `

The client is --kind and --key, its identity as decisions, logs and 'sluice
explain' show it (an IP address, an IPv6 client's /64 prefix, a user ID, an
API key's digest), or the client of the request the request flags describe
(--remote, --header, --token ...), found by the file's identifier. Without
--rule, every rule is concerned.

It connects to the backend the file configures (Redis: the state every
instance shares), through the same calls as the admin API (package
sluiceadmin).`

func peekCmd(e *env) *cobra.Command {
	var f liveFlags
	cmd := &cobra.Command{
		Use:   "peek FILE (--key K | --remote ADDR ...) [--rule R]",
		Short: "Show a client's live windows, without charging anything",
		Long:  "peek shows what a client has left of each window of a rule, whether it is denied or\nblocked by a penalty now, and for how long." + liveLong,
		Example: `  sluice peek sluice.toml --rule login --key 203.0.113.7
  sluice peek sluice.toml --remote 10.0.0.5:5000 --header 'X-Forwarded-For: 203.0.113.7'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return e.live(cmd, args[0], "peek", &f) },
	}
	f.add(cmd, false)
	return cmd
}

func resetCmd(e *env) *cobra.Command {
	var f liveFlags
	cmd := &cobra.Command{
		Use:   "reset FILE (--key K | --remote ADDR ...) [--rule R] [--yes]",
		Short: "Forget a client's usage (and lift its blocks), after confirmation",
		Long:  "reset forgets a client's usage of a rule, and its penalty state, so that its next\nrequest is decided afresh. Instances keep denying from their local deny caches\nuntil the denial they cached ends (its Retry-After; a block is never cached). It asks for\nconfirmation unless --yes." + liveLong,
		Example: `  sluice reset sluice.toml --rule login --key 203.0.113.7
  sluice reset sluice.toml --kind user --key alice --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return e.live(cmd, args[0], "reset", &f) },
	}
	f.add(cmd, true)
	return cmd
}

func unblockCmd(e *env) *cobra.Command {
	var f liveFlags
	cmd := &cobra.Command{
		Use:   "unblock FILE (--key K | --remote ADDR ...) [--rule R] [--yes]",
		Short: "Lift a client's penalty blocks, after confirmation",
		Long:  "unblock lifts the progressive-penalty block of a client in each rule (with a\npenalty) where it is blocked now, by resetting the client in that rule: its\nusage and the denials counted towards the next block go too. It asks for\nconfirmation unless --yes." + liveLong,
		Example: `  sluice unblock sluice.toml --key 203.0.113.7
  sluice unblock sluice.toml --rule login --kind apikey --key '#Zm9v...' --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return e.live(cmd, args[0], "unblock", &f) },
	}
	f.add(cmd, true)
	return cmd
}

// The answers of the admin API, as the commands print them.
type (
	adminWindow struct {
		Limit struct {
			Limit string `json:"limit"`
		} `json:"limit"`
		Remaining  int64   `json:"remaining"`
		ResetAfter float64 `json:"reset_after"`
		RetryAfter float64 `json:"retry_after"`
	}
	adminState struct {
		Rule       string        `json:"rule"`
		Outcome    string        `json:"outcome"`
		Blocked    bool          `json:"blocked"`
		RetryAfter float64       `json:"retry_after"`
		Windows    []adminWindow `json:"windows"`
	}
	adminAnswer struct {
		Client struct {
			Kind, Key, Tier string
		} `json:"client"`
		Rules json.RawMessage `json:"rules"`
		Error string          `json:"error"`
	}
)

func (e *env) live(cmd *cobra.Command, path, op string, f *liveFlags) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	switch {
	case f.key != "" && f.given(cmd):
		return failf(2, "give either --key or the request flags, not both")
	case f.key == "" && !f.given(cmd):
		return failf(2, "name the client: --key (with --kind), or a request with --remote")
	}
	svc, err := sluiceconfig.New(path)
	if err != nil {
		return e.printProblems(path, err)
	}
	defer svc.Close()
	if svc.Config.Backend.Type != "redis" {
		fmt.Fprintf(e.stderr, "sluice: warning: %s keeps state in memory, in each process: this command sees its own, empty state, not a server's\n", path)
	}
	kind, key := f.kind, f.key
	if key == "" {
		req, err := f.request(or(svc.Config.Identify.JWT.Header, "Authorization"))
		if err != nil {
			return err
		}
		if req.Rule = f.rule; req.Rule == "" {
			for _, r := range svc.Limiter.Rules() {
				if !r.Exempt {
					req.Rule = r.Name // so that the client is identified
					break
				}
			}
		}
		d, err := svc.Limiter.Peek(ctx, req)
		if err != nil {
			return failf(1, op+": "+err.Error())
		}
		kind, key = string(d.Client.Kind), d.Client.Value
	}
	if op != "peek" && !f.yes {
		what := "every rule"
		if f.rule != "" {
			what = "rule " + f.rule
		}
		fmt.Fprintf(e.stderr, "%s %s:%s in %s, in %s? [y/N] ", op, kind, key, what, describeBackend(svc.Config))
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return failf(1, "not confirmed: nothing changed (--yes skips the question)")
		}
	}

	h, err := sluiceadmin.Handler(svc.Limiter, func(*http.Request, string) bool { return true })
	if err != nil {
		return failf(1, err.Error())
	}
	var req *http.Request
	if op == "peek" {
		q := url.Values{"kind": {kind}, "key": {key}}
		if f.rule != "" {
			q.Set("rule", f.rule)
		}
		req = httptest.NewRequestWithContext(ctx, http.MethodGet, "/peek?"+q.Encode(), nil)
	} else {
		body, _ := json.Marshal(map[string]string{"kind": kind, "key": key, "rule": f.rule})
		req = httptest.NewRequestWithContext(ctx, http.MethodPost, "/"+op, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var ans adminAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		return failf(1, fmt.Sprintf("%s: unreadable answer: %v", op, err))
	}
	if rec.Code != http.StatusOK {
		return failf(1, op+": "+strings.TrimPrefix(ans.Error, "sluiceadmin: "))
	}
	if e.json {
		_, err := e.stdout.Write(rec.Body.Bytes())
		return err
	}
	client := ans.Client.Kind + ":" + ans.Client.Key
	switch op {
	case "peek":
		var states []adminState
		if err := json.Unmarshal(ans.Rules, &states); err != nil {
			return failf(1, "peek: unreadable answer: "+err.Error())
		}
		fmt.Fprintf(e.stdout, "client %s, tier %s\n", client, ans.Client.Tier)
		tw := newTable(e.stdout)
		for _, s := range states {
			status := s.Outcome
			switch {
			case s.Blocked:
				status = "blocked for " + seconds(s.RetryAfter)
			case s.Outcome == "denied":
				status = "denied for " + seconds(s.RetryAfter)
			}
			var ws []string
			for _, w := range s.Windows {
				ws = append(ws, fmt.Sprintf("%s: %d left, full in %s", w.Limit.Limit, w.Remaining, seconds(w.ResetAfter)))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Rule, status, strings.Join(ws, "; "))
		}
		return tw.Flush()
	default:
		var rules []string
		if err := json.Unmarshal(ans.Rules, &rules); err != nil {
			return failf(1, op+": unreadable answer: "+err.Error())
		}
		switch {
		case len(rules) == 0 && op == "unblock":
			fmt.Fprintf(e.stdout, "%s is blocked in no rule: nothing to lift\n", client)
		case op == "unblock":
			fmt.Fprintf(e.stdout, "unblocked %s in %s\n", client, strings.Join(rules, ", "))
		default:
			fmt.Fprintf(e.stdout, "reset %s in %s\n", client, strings.Join(rules, ", "))
		}
		return nil
	}
}
