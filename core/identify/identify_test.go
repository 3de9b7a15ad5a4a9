package identify_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
)

// userSource identifies the user named in X-Test-User; it stands in for a
// verified source such as sluicejwt.
type userSource struct{}

func (userSource) Identify(_ context.Context, r core.Request) (core.Identity, bool) {
	if u := r.Header.Get("X-Test-User"); u != "" {
		return core.Identity{Kind: core.KindUser, Value: u, Tier: "premium"}, true
	}
	return core.Identity{}, false
}

func TestIdentifyOrder(t *testing.T) {
	keys := identify.StaticAPIKeys(map[string]string{"k-good": "standard"})
	all := []identify.Option{identify.WithUser(userSource{}), identify.WithAPIKeys("x-api-key", keys)}
	user := core.Identity{Kind: core.KindUser, Value: "alice", Tier: "premium"}
	ip := core.Identity{Kind: core.KindIP, Value: "203.0.113.7"}
	everything := hdr("X-Test-User", "alice", "X-API-Key", "k-good")
	var apiKey core.Identity // as the Identifier finds it
	if x, err := identify.New(all...); err == nil {
		apiKey, _ = x.Identify(t.Context(), core.Request{RemoteAddr: "203.0.113.7:1", Header: hdr("X-API-Key", "k-good")})
	}
	if apiKey.Kind != core.KindAPIKey || apiKey.Tier != "standard" || apiKey.Value == "" {
		t.Fatalf("the API key's identity: %+v, want an apikey identity in standard", apiKey)
	}
	for _, tc := range []struct {
		name   string
		opts   []identify.Option
		header http.Header
		want   core.Identity
	}{
		{"user first by default", all, everything, user},
		{"then the api key", all, hdr("X-API-Key", "k-good"), apiKey},
		{"then the ip", all, http.Header{}, ip},
		{"nil header", all, nil, ip},
		{"unknown api key falls through", all, hdr("X-API-Key", "k-made-up"), ip},
		{"api key first", append(all[:2:2], identify.WithOrder(core.KindAPIKey, core.KindUser)), everything, apiKey},
		{"empty order: ip only", append(all[:2:2], identify.WithOrder()), everything, ip},
		{"order naming an unconfigured source", []identify.Option{identify.WithOrder(core.KindUser)}, everything, ip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := identify.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := core.Request{RemoteAddr: "203.0.113.7:1"}
			if tc.header != nil {
				r.Header = tc.header
			}
			got, err := x.Identify(t.Context(), r)
			if err != nil || got != tc.want {
				t.Errorf("Identify = %v (tier %q), %v; want %v (tier %q)", got, got.Tier, err, tc.want, tc.want.Tier)
			}
		})
	}
}

// TestExemptions: exemption lists mark clients exempt by verified user,
// API key or client IP (the forwarded one behind trusted proxies), never an
// unverified identifier, and a request with no address is an error.
func TestExemptions(t *testing.T) {
	unverified := sourceOf(core.Identity{Kind: core.KindUnverified, Value: "root"})
	keys := identify.StaticAPIKeys(map[string]string{"k-ops": "standard", "k-other": "standard"})
	x, err := identify.New(identify.WithTrustedProxies("10.0.0.0/8"), identify.WithUser(userSource{}), identify.WithAPIKeys("X-API-Key", keys),
		identify.WithExemptIPs("192.0.2.0/24"), identify.WithExemptUsers("root"), identify.WithExemptAPIKeys("k-ops"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := identify.New(identify.WithUser(unverified), identify.WithExemptUsers("root"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		x      *identify.Identifier
		remote string
		header http.Header
		want   bool
	}{
		{"exempt user", x, "203.0.113.7:1", hdr("X-Test-User", "root"), true},
		{"other user", x, "203.0.113.7:1", hdr("X-Test-User", "alice"), false},
		{"unverified claim of an exempt user", y, "203.0.113.7:1", nil, false},
		{"exempt API key", x, "203.0.113.7:1", hdr("X-API-Key", "k-ops"), true},
		{"other API key", x, "203.0.113.7:1", hdr("X-API-Key", "k-other"), false},
		{"exempt forwarded address", x, "10.0.0.1:1", hdr("X-Forwarded-For", "192.0.2.9"), true},
		{"exempt forwarded address, counted as a user", x, "10.0.0.1:1", hdr("X-Forwarded-For", "192.0.2.9", "X-Test-User", "alice"), true},
		{"forged leftmost exempt address", x, "10.0.0.1:1", hdr("X-Forwarded-For", "192.0.2.9, 198.51.100.1"), false},
		{"exempt address from an untrusted peer's header", x, "198.51.100.1:1", hdr("X-Forwarded-For", "192.0.2.9"), false},
	} {
		id, err := tc.x.Identify(t.Context(), core.Request{RemoteAddr: tc.remote, Header: tc.header})
		if err != nil || id.Exempt != tc.want {
			t.Errorf("%s: %v exempt %v, %v; want exempt %v", tc.name, id, id.Exempt, err, tc.want)
		}
	}
	if _, err := x.Identify(t.Context(), core.Request{}); err == nil {
		t.Error("a request with no address and no credentials: no error, want one (never a shared counter)")
	}
	if _, err := identify.New(identify.WithExemptIPs("not-an-ip")); err == nil {
		t.Error("New with an invalid exempt address: no error")
	}
}

type sourceOf core.Identity

func (s sourceOf) Identify(context.Context, core.Request) (core.Identity, bool) {
	return core.Identity(s), true
}

func TestAPIKeyNeverInClear(t *testing.T) {
	x, err := identify.New(identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{"sk_live_secret": "premium"})))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := x.Identify(t.Context(), core.Request{RemoteAddr: "203.0.113.7:1", Header: hdr("X-API-Key", "sk_live_secret")})
	if id.Kind != core.KindAPIKey || id.Tier != "premium" || id.Value == "" {
		t.Fatalf("Identify = %v tier %q, want an apikey identity in premium", id, id.Tier)
	}
	for _, s := range []string{id.Value, id.String()} {
		if contains(s, "secret") || contains(s, "sk_live") {
			t.Errorf("the identity %q holds the key in clear", s)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestLimiterUsesTrustedClientIP runs a Limiter with an Identifier behind
// a trusted proxy: forged headers cannot move a client to a fresh counter,
// and exempt IPs apply to the forwarded address.
func TestLimiterUsesTrustedClientIP(t *testing.T) {
	x, err := identify.New(identify.WithTrustedProxies("10.0.0.0/8"), identify.WithExemptIPs("192.0.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := core.New(core.WithIdentifier(x), core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	req := func(xff string) core.Request {
		return core.Request{Method: "GET", Path: "/", RemoteAddr: "10.0.0.1:443", Header: hdr("X-Forwarded-For", xff)}
	}
	for i, tc := range []struct {
		xff  string
		want core.Outcome
	}{
		{"198.51.100.9", core.Allowed},
		{"1.1.1.1, 198.51.100.9", core.Denied}, // a forged leftmost address changes nothing
		{"198.51.100.10", core.Allowed},
		{"192.0.2.5", core.Exempt},
		{"192.0.2.5", core.Exempt},
	} {
		d, err := lim.Decide(t.Context(), req(tc.xff))
		if err != nil || d.Outcome != tc.want {
			t.Errorf("request %d (XFF %q): %v, %v; want %v", i, tc.xff, d.Outcome, err, tc.want)
		}
	}
}

// TestUse checks the one-option form: the Limiter identifies with the
// options given, and invalid options fail core.New with a ConfigError that
// wraps the identifier's error, before any request is decided.
func TestUse(t *testing.T) {
	lim, err := core.New(identify.Use(identify.WithTrustedProxies("10.0.0.0/8")), core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	r := core.Request{Method: "GET", Path: "/", RemoteAddr: "10.0.0.1:443", Header: http.Header{"X-Forwarded-For": {"198.51.100.9"}}}
	if d, err := lim.Decide(t.Context(), r); err != nil || d.Client.Value != "198.51.100.9" {
		t.Fatalf("Decide = client %v, %v; want the forwarded 198.51.100.9", d.Client, err)
	}
	_, err = core.New(identify.Use(identify.WithTrustedProxies("not-a-network")), core.WithDefault(core.PerMinute(1)))
	var ce *core.ConfigError
	if !errors.As(err, &ce) || ce.Path != "identifier" || !strings.Contains(err.Error(), "not-a-network") {
		t.Fatalf("core.New with an invalid proxy = %v, want a ConfigError at identifier naming it", err)
	}
}
