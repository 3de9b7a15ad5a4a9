package sluiceenvoy

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/sluicehq/sluice/core/backend"
)

// The files in testdata/ratelimit restate, with other names and values,
// the configuration examples of envoyproxy/ratelimit's documentation; each
// subtest checks the behaviour that documentation describes.
func TestImportExamples(t *testing.T) {
	t.Parallel()
	cfg, err := Import("testdata/ratelimit")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cfg.Domains); got != 11 {
		t.Fatalf("%d domains, want 11 (dotfiles and other extensions skipped)", got)
	}
	for _, d := range cfg.Domains {
		for _, desc := range d.Descriptors {
			if len(desc.Limits) > 0 && desc.Algorithm != backend.FixedWindow {
				t.Errorf("%s: imported limits are %v, want fixed windows", d.Name, desc.Algorithm)
			}
		}
	}
	s, clk := newServerFor(t, cfg)
	// admits sends a request n times and checks the overall codes: ok
	// admitted ones, then the rest denied.
	admits := func(t *testing.T, req *rlsv3.RateLimitRequest, n, ok int) {
		t.Helper()
		for i := range n {
			want := rlsv3.RateLimitResponse_OK
			if i >= ok {
				want = rlsv3.RateLimitResponse_OVER_LIMIT
			}
			if got := call(t, s, req).GetOverallCode(); got != want {
				t.Fatalf("request %d of %v: %v, want %v", i, req.GetDescriptors(), got, want)
			}
		}
	}
	limitOf := func(t *testing.T, req *rlsv3.RateLimitRequest) *rlsv3.RateLimitResponse_RateLimit {
		t.Helper()
		return call(t, s, req).GetStatuses()[0].GetCurrentLimit()
	}

	t.Run("values of one key", func(t *testing.T) {
		admits(t, request("db_ops", desc("database", "orders")), 52, 50)
		admits(t, request("db_ops", desc("database", "default")), 22, 20)
		admits(t, request("db_ops", desc("database", "other")), 100, 100) // no limit
	})
	t.Run("nested and top-level on one request", func(t *testing.T) {
		both := request("sms", desc("message_type", "promo", "to_number", "555-0100"), desc("to_number", "555-0100"))
		admits(t, both, 4, 3)
		// The top-level limit is per number, and was charged 3 times.
		resp := call(t, s, request("sms", desc("to_number", "555-0100")))
		if got := resp.GetStatuses()[0].GetLimitRemaining(); got != 46 {
			t.Fatalf("to_number remaining %d, want 46: a denied request charged it", got)
		}
		admits(t, request("sms", desc("message_type", "promo", "to_number", "555-0199")), 4, 3)
	})
	t.Run("exact value blocks one address", func(t *testing.T) {
		admits(t, request("edge_ips", desc("remote_address", "50.0.0.5")), 2, 0)
		admits(t, request("edge_ips", desc("remote_address", "50.0.0.6")), 11, 10)
		admits(t, request("edge_ips", desc("remote_address", "50.0.0.7")), 10, 10)
	})
	t.Run("depth must match", func(t *testing.T) {
		if l := limitOf(t, request("depth", desc("team", "blue", "member", "ann"))); l != nil {
			t.Fatalf("a one-entry limit applied to two entries: %v", l)
		}
		if l := limitOf(t, request("depth", desc("team", "red"))); l != nil {
			t.Fatalf("a two-entry limit applied to one entry: %v", l)
		}
		if l := limitOf(t, request("depth", desc("team", "red", "member", "ann"))); l.GetRequestsPerUnit() != 300 {
			t.Fatalf("team=red, member: %v, want 300 per second", l)
		}
		if l := limitOf(t, request("depth", desc("team", "blue"))); l.GetRequestsPerUnit() != 5 {
			t.Fatalf("team=blue: %v, want 5 per second", l)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		resp := call(t, s, request("backoffice", desc("directory", "x"), desc("billing", "y")))
		if st := resp.GetStatuses()[0]; st.GetLimitRemaining() != math.MaxUint32 || st.GetCurrentLimit() != nil {
			t.Fatalf("unlimited status %v", st)
		}
		if l := resp.GetStatuses()[1].GetCurrentLimit(); l.GetRequestsPerUnit() != 100 || l.GetUnit() != rlsv3.RateLimitResponse_RateLimit_MINUTE {
			t.Fatalf("billing %v, want 100 per minute (unit written MINUTE)", l)
		}
	})
	t.Run("shadow mode", func(t *testing.T) {
		admits(t, request("trial", desc("service", "api", "account", "acct-1")), 6, 6)
		admits(t, request("trial", desc("service", "api", "account", "acct-2")), 5, 4)
	})
	t.Run("replaces", func(t *testing.T) {
		narrow := desc("route", "checkout", "customer", "c-42")
		wide := desc("method", "POST", "customer", "c-42")
		resp := call(t, s, request("replace", narrow, wide))
		if st := resp.GetStatuses()[0]; st.GetCurrentLimit() != nil {
			t.Fatalf("the replaced limit applied: %v", st)
		}
		admits(t, request("replace", narrow, wide), 6, 5)
		admits(t, request("replace", narrow), 3, 2) // never charged above
	})
	t.Run("metric settings change nothing else", func(t *testing.T) {
		admits(t, request("metrics", desc("client", "a")), 7, 6)
		admits(t, request("metrics", desc("client", "b")), 6, 6)
		admits(t, request("metrics", desc("client", "vip")), 13, 12)
		if l := limitOf(t, request("metrics", desc("api", "v1", "verb", "GET"))); l.GetRequestsPerUnit() != 30 {
			t.Fatalf("api, verb: %v", l)
		}
	})
	t.Run("wildcards", func(t *testing.T) {
		// The first wildcard listed wins, even when a later one is longer.
		if l := limitOf(t, request("wild", desc("bucket", "logs-audit-1"))); l.GetRequestsPerUnit() != 2 {
			t.Fatalf("logs-audit-1: %v, want the first wildcard's 2", l)
		}
		admits(t, request("wild", desc("bucket", "logs-app")), 3, 2)
		admits(t, request("wild", desc("bucket", "logs-web")), 3, 2)
		// Shared: every file counts against one 4 per hour.
		for _, f := range []string{"pub/a.pdf", "pub/b.csv", "pub/a.pdf", "pub/c.txt"} {
			admits(t, request("wild", desc("download", f)), 1, 1)
		}
		admits(t, request("wild", desc("download", "pub/d.bin")), 1, 0)
		// Not shared: each file has its own 4.
		for _, f := range []string{"pub/a.pdf", "pub/b.csv"} {
			admits(t, request("wild", desc("upload", f)), 5, 4)
		}
	})
	t.Run("units", func(t *testing.T) {
		for _, tc := range []struct {
			value string
			unit  rlsv3.RateLimitResponse_RateLimit_Unit
		}{
			{"s", rlsv3.RateLimitResponse_RateLimit_SECOND},
			{"m", rlsv3.RateLimitResponse_RateLimit_MINUTE},
			{"h", rlsv3.RateLimitResponse_RateLimit_HOUR},
			{"d", rlsv3.RateLimitResponse_RateLimit_DAY},
			{"w", rlsv3.RateLimitResponse_RateLimit_WEEK},
			{"mo", rlsv3.RateLimitResponse_RateLimit_MONTH},
			{"y", rlsv3.RateLimitResponse_RateLimit_YEAR},
		} {
			resp := call(t, s, request("units", desc("u", tc.value)))
			st := resp.GetStatuses()[0]
			if st.GetCurrentLimit().GetUnit() != tc.unit || st.GetCurrentLimit().GetUnitMultiplier() != nil {
				t.Errorf("unit of %s: %v, want %v", tc.value, st.GetCurrentLimit(), tc.unit)
			}
		}
		// A week is an epoch-aligned block of 7 days: 2030-01-01 10:00 is
		// a Tuesday, and blocks start on Thursdays 00:00 UTC.
		resp := call(t, s, request("units", desc("u", "w")))
		if got, want := resp.GetStatuses()[0].GetDurationUntilReset().AsDuration(), 2*24*time.Hour-10*time.Hour; got != want {
			t.Errorf("week window ends in %v, want %v", got, want)
		}
		_ = clk
	})
	t.Run("mixed", func(t *testing.T) {
		admits(t, request("mixed", desc("app", "a")), 3, 2)
		admits(t, request("mixed", desc("app", "b", "tier", "free")), 3, 3) // shadow
		admits(t, request("mixed", desc("app", "b", "tier", "internal")), 3, 3)
		admits(t, request("mixed", desc("app", "b", "tier", "blocked")), 1, 0)
		// The override replaces "banned".
		resp := call(t, s, request("mixed", desc("app", "c", "tier", "blocked"), desc("override", "c")))
		if got := verdict(resp); got != "OK: OK OK" {
			t.Fatalf("banned replaced: %s", got)
		}
	})
}

func TestImportDuplicateDomain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("domain: same\ndescriptors:\n  - key: k\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Import(dir)
	checkErrors(t, err, []string{"domain@0: also configured in"})
}

func TestImportBad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"no domain", "descriptors: []\n", []string{"domain@1: needs a name"}},
		{"empty file", "", []string{"domain@0: empty file"}},
		{"unknown keys", `
domain: d
descriptors:
  - key: k
    ratelimit:
      unit: second
  - key: j
    rate_limit:
      unit: second
      requests_per_second: 5
`, []string{"descriptors[0].ratelimit@5: unknown key", "descriptors[1].rate_limit.requests_per_second@10: unknown key"}},
		{"units", `
domain: d
descriptors:
  - key: a
    rate_limit:
      unit: fortnight
      requests_per_unit: 1
  - key: b
    rate_limit:
      requests_per_unit: 1
  - key: c
    rate_limit:
      unlimited: true
      unit: second
`, []string{"descriptors[0].rate_limit.unit@6: unknown unit", "descriptors[1].rate_limit.unit@10: missing unit", "descriptors[2].rate_limit.unit@14: unlimited rate limit cannot have a unit"}},
		{"numbers and booleans", `
domain: d
descriptors:
  - key: a
    shadow_mode: yes please
    rate_limit:
      unit: second
      requests_per_unit: -3
  - key: b
    rate_limit:
      unit: second
      requests_per_unit: 4294967296
`, []string{"descriptors[0].shadow_mode@5: want true or false", "descriptors[0].rate_limit.requests_per_unit@8: want a whole number", "descriptors[1].rate_limit.requests_per_unit@12: want a whole number"}},
		{"duplicates and replaces", `
domain: d
descriptors:
  - key: a
    value: x
  - key: a
    value: x
    descriptors:
      - key: k
        rate_limit:
          name: me
          unit: second
          requests_per_unit: 1
          replaces:
            - name: me
            - {}
`, []string{"descriptors[1]@6: duplicate descriptor", "descriptors[1].descriptors[0].rate_limit.replaces[0]@15: cannot replace itself", "descriptors[1].descriptors[0].rate_limit.replaces[1].name@16: needs a name"}},
		{"share_threshold without a wildcard", `
domain: d
descriptors:
  - key: a
    value: exact
    share_threshold: true
`, []string{"descriptors[0].share_threshold@4: needs a value ending in *"}},
		{"the example of the brief", `
domain: d
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: b
    rate_limit:
      unit: sec
      requests_per_unit: 1
`, []string{"descriptors[1].rate_limit.unit@8: unknown unit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRatelimit("rl.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			checkErrors(t, err, tc.want)
		})
	}
}

// TestImportOverrideDomain checks that a request's own limit needs its
// domain in the configuration, as in envoyproxy/ratelimit.
func TestImportOverrideDomain(t *testing.T) {
	t.Parallel()
	cfg, err := Import("testdata/ratelimit/03_edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newServerFor(t, cfg)
	d := override(1, 1, 0, "anything", "x")
	for _, tc := range []struct {
		domain string
		want   string
	}{{"edge_ips", "OVER_LIMIT: OVER_LIMIT"}, {"unknown", "OK: OK"}} {
		call(t, s, request(tc.domain, d))
		if got := verdict(call(t, s, request(tc.domain, d))); got != tc.want {
			t.Errorf("domain %s, second request: %s, want %s", tc.domain, got, tc.want)
		}
	}
	_ = []*commonv3.RateLimitDescriptor{}
}
