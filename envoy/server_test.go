package sluiceenvoy

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

const edgeConfig = `
domains:
  - domain: edge
    descriptors:
      - key: remote_address
        limits: 3/m
        algorithm: fixed_window
      - key: remote_address
        value: 50.0.0.5
        limits: 0/s
      - key: path
        value: /api/*
        shared: true
        limits: 4/m
        algorithm: fixed_window
      - key: path
        value: /api/v2*     # listed after /api/*, so never reached
        limits: 100/m
      - key: path
        value: /files/*
        limits: 2/m
        algorithm: fixed_window
      - key: path
        limits: 10/m
      - key: tenant
        value: acme
        descriptors:
          - key: user
            limits: [2/s, 5/m]
            algorithm: fixed_window
      - key: internal
        unlimited: true
      - key: shadowed
        limits: 1/m
        shadow: true
        algorithm: fixed_window
`

func TestMatching(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	for _, tc := range []struct {
		name     string
		domain   string
		desc     *commonv3.RateLimitDescriptor
		wantCode rlsv3.RateLimitResponse_Code
		wantN    uint32 // current_limit.requests_per_unit; 0 with wantUnit unset: no limit
		wantUnit rlsv3.RateLimitResponse_RateLimit_Unit
		wantLeft uint32
	}{
		{"key with no value counts each value", "edge", desc("remote_address", "1.2.3.4"), rlsv3.RateLimitResponse_OK, 3, rlsv3.RateLimitResponse_RateLimit_MINUTE, 2},
		{"exact value beats no value", "edge", desc("remote_address", "50.0.0.5"), rlsv3.RateLimitResponse_OVER_LIMIT, 0, rlsv3.RateLimitResponse_RateLimit_SECOND, 0},
		{"first wildcard listed wins", "edge", desc("path", "/api/v2/users"), rlsv3.RateLimitResponse_OK, 4, rlsv3.RateLimitResponse_RateLimit_MINUTE, 3},
		{"another wildcard", "edge", desc("path", "/files/a.pdf"), rlsv3.RateLimitResponse_OK, 2, rlsv3.RateLimitResponse_RateLimit_MINUTE, 1},
		{"no wildcard matches: the value-less default", "edge", desc("path", "/other"), rlsv3.RateLimitResponse_OK, 10, rlsv3.RateLimitResponse_RateLimit_MINUTE, 9},
		{"a level without limits", "edge", desc("tenant", "acme"), rlsv3.RateLimitResponse_OK, 0, 0, 0},
		{"nested, most constraining window", "edge", desc("tenant", "acme", "user", "u1"), rlsv3.RateLimitResponse_OK, 2, rlsv3.RateLimitResponse_RateLimit_SECOND, 1},
		{"nested under another value", "edge", desc("tenant", "other", "user", "u1"), rlsv3.RateLimitResponse_OK, 0, 0, 0},
		{"deeper than the configuration", "edge", desc("remote_address", "1.2.3.4", "extra", "x"), rlsv3.RateLimitResponse_OK, 0, 0, 0},
		{"unknown key", "edge", desc("nope", "x"), rlsv3.RateLimitResponse_OK, 0, 0, 0},
		{"unknown domain", "elsewhere", desc("remote_address", "1.2.3.4"), rlsv3.RateLimitResponse_OK, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, s, request(tc.domain, tc.desc))
			st := resp.GetStatuses()[0]
			if got := st.GetCode(); got != tc.wantCode {
				t.Errorf("code %v, want %v", got, tc.wantCode)
			}
			if resp.GetOverallCode() != tc.wantCode {
				t.Errorf("overall %v, want %v", resp.GetOverallCode(), tc.wantCode)
			}
			cl := st.GetCurrentLimit()
			switch {
			case tc.wantN == 0 && tc.wantUnit == 0:
				if cl != nil {
					t.Errorf("current_limit %v, want none", cl)
				}
			case cl == nil:
				t.Errorf("no current_limit, want %d per %v", tc.wantN, tc.wantUnit)
			case cl.GetRequestsPerUnit() != tc.wantN || cl.GetUnit() != tc.wantUnit:
				t.Errorf("current_limit %d per %v, want %d per %v", cl.GetRequestsPerUnit(), cl.GetUnit(), tc.wantN, tc.wantUnit)
			}
			if got := st.GetLimitRemaining(); got != tc.wantLeft {
				t.Errorf("limit_remaining %d, want %d", got, tc.wantLeft)
			}
		})
	}
}

func TestUnlimited(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	for range 5 {
		resp := call(t, s, request("edge", desc("internal", "ldap")))
		if got, want := verdict(resp), "OK: OK"; got != want {
			t.Fatalf("%s, want %s", got, want)
		}
		if got := resp.GetStatuses()[0].GetLimitRemaining(); got != math.MaxUint32 {
			t.Fatalf("limit_remaining %d, want %d", got, uint32(math.MaxUint32))
		}
	}
}

func TestCounters(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	// A shared wildcard counts every value together: 4 in all.
	for i, p := range []string{"/api/a", "/api/b", "/api/a", "/api/c"} {
		if got := verdict(call(t, s, request("edge", desc("path", p)))); got != "OK: OK" {
			t.Fatalf("request %d (%s): %s", i, p, got)
		}
	}
	if got := verdict(call(t, s, request("edge", desc("path", "/api/d")))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("fifth request on the shared wildcard: %s", got)
	}
	// An unshared wildcard and a value-less key count each value apart.
	for _, d := range []*commonv3.RateLimitDescriptor{
		desc("path", "/files/a"), desc("path", "/files/b"),
		desc("remote_address", "9.9.9.1"), desc("remote_address", "9.9.9.2"),
	} {
		for i := range 2 {
			if got := verdict(call(t, s, request("edge", d))); got != "OK: OK" {
				t.Fatalf("%v request %d: %s", d, i, got)
			}
		}
	}
	if got := verdict(call(t, s, request("edge", desc("path", "/files/a")))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("third /files/a: %s", got)
	}
}

func TestAtomic(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	both := request("edge", desc("remote_address", "7.7.7.7"), desc("path", "/files/x"))
	for i := range 2 {
		if got := verdict(call(t, s, both)); got != "OK: OK OK" {
			t.Fatalf("request %d: %s", i, got)
		}
	}
	// /files/x is spent (2/m); remote_address has 1 of 3 left. The request
	// is denied as a whole, and remote_address keeps its unit.
	resp := call(t, s, both)
	if got, want := verdict(resp), "OVER_LIMIT: OK OVER_LIMIT"; got != want {
		t.Fatalf("third request: %s, want %s", got, want)
	}
	if got := remaining(resp); got[0] != 1 || got[1] != 0 {
		t.Fatalf("limit_remaining %v, want [1 0]: the refunded unit is reported back", got)
	}
	resp = call(t, s, request("edge", desc("remote_address", "7.7.7.7")))
	if got := verdict(resp); got != "OK: OK" {
		t.Fatalf("remote_address alone after the denial: %s; its unit was not given back", got)
	}
	if got := remaining(resp)[0]; got != 0 {
		t.Fatalf("remote_address remaining %d, want 0", got)
	}
	if got := verdict(call(t, s, request("edge", desc("remote_address", "7.7.7.7")))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("remote_address over 3: %s", got)
	}
}

func TestAtomicSameCounterTwice(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	// Two descriptors on one counter, each charged: 2 units per request.
	twice := request("edge", desc("remote_address", "8.8.8.8"), desc("remote_address", "8.8.8.8"))
	if got := verdict(call(t, s, twice)); got != "OK: OK OK" {
		t.Fatalf("first: %s", got)
	}
	// 1 left: one descriptor is admitted, the other denied, so the request
	// is denied and the admitted unit given back.
	if got := verdict(call(t, s, twice)); got != "OVER_LIMIT: OK OVER_LIMIT" && got != "OVER_LIMIT: OVER_LIMIT OK" {
		t.Fatalf("second: %s", got)
	}
	if got := verdict(call(t, s, request("edge", desc("remote_address", "8.8.8.8")))); got != "OK: OK" {
		t.Fatalf("one unit should be left: %s", got)
	}
}

func TestHits(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	req := request("edge", desc("remote_address", "5.5.5.5"))
	req.HitsAddend = 2
	if got := remaining(call(t, s, req)); got[0] != 1 {
		t.Fatalf("after 2 hits: remaining %v, want 1", got)
	}
	// A descriptor's own hits_addend wins over the request's; 0 only looks.
	d := desc("remote_address", "5.5.5.5")
	d.HitsAddend = wrapperspb.UInt64(0)
	req = request("edge", d)
	req.HitsAddend = 3
	for range 3 {
		resp := call(t, s, req)
		if got := verdict(resp); got != "OK: OK" || remaining(resp)[0] != 1 {
			t.Fatalf("check only: %s, remaining %v; want OK with 1", got, remaining(resp))
		}
	}
	// More hits than are left: denied, and nothing charged.
	req = request("edge", desc("remote_address", "5.5.5.5"))
	req.HitsAddend = 2
	if got := verdict(call(t, s, req)); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("2 hits with 1 left: %s", got)
	}
	if got := verdict(call(t, s, request("edge", desc("remote_address", "5.5.5.5")))); got != "OK: OK" {
		t.Fatalf("1 hit with 1 left: %s", got)
	}
	// Nothing left: a check is over the limit.
	if got := verdict(call(t, s, request("edge", d))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("check with nothing left: %s", got)
	}
}

func TestStatusTimes(t *testing.T) {
	t.Parallel()
	s, clk := newTestServer(t, edgeConfig)
	clk.Advance(20 * time.Second) // 40s left in the minute's window
	req := request("edge", desc("remote_address", "6.6.6.6"))
	for range 3 {
		resp := call(t, s, req)
		if got := resp.GetStatuses()[0].GetDurationUntilReset().AsDuration(); got != 40*time.Second {
			t.Fatalf("duration_until_reset %v, want 40s", got)
		}
	}
	clk.Advance(10 * time.Second)
	resp := call(t, s, req)
	if got := verdict(resp); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("fourth: %s", got)
	}
	if got := resp.GetStatuses()[0].GetDurationUntilReset().AsDuration(); got != 30*time.Second {
		t.Fatalf("over the limit: duration_until_reset %v, want 30s (the window's end)", got)
	}
	clk.Advance(30 * time.Second) // the next window
	if got := verdict(call(t, s, req)); got != "OK: OK" {
		t.Fatalf("next window: %s", got)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	s, clk := newTestServer(t, edgeConfig)
	clk.Advance(20 * time.Second)
	resp := call(t, s, request("edge", desc("tenant", "acme", "user", "u1"), desc("remote_address", "1.1.1.1")))
	if got, want := header(resp, "RateLimit"), `"edge:tenant=acme:user-s";r=1;t=1, "edge:tenant=acme:user-m";r=4;t=40, "edge:remote_address";r=2;t=40`; got != want {
		t.Errorf("RateLimit\n got %s\nwant %s", got, want)
	}
	if got, want := header(resp, "RateLimit-Policy"), `"edge:tenant=acme:user-s";q=2;w=1, "edge:tenant=acme:user-m";q=5;w=60, "edge:remote_address";q=3;w=60`; got != want {
		t.Errorf("RateLimit-Policy\n got %s\nwant %s", got, want)
	}
	// Denied: only the windows that deny, with the time until they admit.
	call(t, s, request("edge", desc("tenant", "acme", "user", "u1")))
	resp = call(t, s, request("edge", desc("tenant", "acme", "user", "u1")))
	if got, want := header(resp, "RateLimit"), `"edge:tenant=acme:user-s";r=0;t=1`; got != want {
		t.Errorf("RateLimit of a denial: %s, want %s", got, want)
	}
	// Shadow limits and unlimited descriptors add no fields.
	resp = call(t, s, request("edge", desc("shadowed", "x"), desc("internal", "y")))
	if len(resp.GetResponseHeadersToAdd()) != 0 {
		t.Errorf("headers for shadow and unlimited descriptors: %v", resp.GetResponseHeadersToAdd())
	}
	off, _ := newTestServer(t, edgeConfig, WithHeaders(false))
	if resp := call(t, off, request("edge", desc("remote_address", "1.1.1.1"))); len(resp.GetResponseHeadersToAdd()) != 0 {
		t.Errorf("WithHeaders(false): %v", resp.GetResponseHeadersToAdd())
	}
}

func TestShadow(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	for i := range 3 {
		resp := call(t, s, request("edge", desc("shadowed", "x")))
		if got := verdict(resp); got != "OK: OK" {
			t.Fatalf("request %d: %s", i, got)
		}
		st := resp.GetStatuses()[0]
		if st.GetCurrentLimit().GetRequestsPerUnit() != 1 || st.GetLimitRemaining() != 0 {
			t.Fatalf("request %d: status %v, want the limit and 0 remaining", i, st)
		}
	}
}

func TestReplaces(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, `
domains:
  - domain: d
    descriptors:
      - key: k1
        value: v1
        descriptors:
          - key: user
            name: specific
            limits: 1/m
            algorithm: fixed_window
      - key: k2
        value: v2
        descriptors:
          - key: user
            limits: 3/m
            algorithm: fixed_window
            replaces: [specific]
`)
	both := request("d", desc("k1", "v1", "user", "bob"), desc("k2", "v2", "user", "bob"))
	for i := range 3 {
		resp := call(t, s, both)
		if got := verdict(resp); got != "OK: OK OK" {
			t.Fatalf("request %d: %s", i, got)
		}
		if st := resp.GetStatuses()[0]; st.GetCurrentLimit() != nil {
			t.Fatalf("the replaced limit is reported: %v", st)
		}
	}
	if got := verdict(call(t, s, both)); got != "OVER_LIMIT: OK OVER_LIMIT" {
		t.Fatalf("fourth: %s", got)
	}
	// Alone, the replaced limit applies, and was never charged.
	if got := verdict(call(t, s, request("d", desc("k1", "v1", "user", "bob")))); got != "OK: OK" {
		t.Fatalf("specific alone: %s", got)
	}
	if got := verdict(call(t, s, request("d", desc("k1", "v1", "user", "bob")))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("specific alone, twice: %s", got)
	}
}

func override(n uint32, unit typev3.RateLimitUnit, mult uint32, kv ...string) *commonv3.RateLimitDescriptor {
	d := desc(kv...)
	d.Limit = &commonv3.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: n, Unit: unit}
	if mult > 0 {
		d.Limit.UnitMultiplier = wrapperspb.UInt32(mult)
	}
	return d
}

func TestOverride(t *testing.T) {
	t.Parallel()
	s, clk := newTestServer(t, edgeConfig)
	// The request's own limit replaces the configuration's 3/m.
	d := override(5, typev3.RateLimitUnit_HOUR, 0, "remote_address", "4.4.4.4")
	for i := range 5 {
		resp := call(t, s, request("edge", d))
		if got := verdict(resp); got != "OK: OK" {
			t.Fatalf("request %d: %s", i, got)
		}
		if cl := resp.GetStatuses()[0].GetCurrentLimit(); cl.GetRequestsPerUnit() != 5 || cl.GetUnit() != rlsv3.RateLimitResponse_RateLimit_HOUR {
			t.Fatalf("current_limit %v, want 5 per hour", cl)
		}
	}
	if got := verdict(call(t, s, request("edge", d))); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("sixth: %s", got)
	}
	// A multiplier lengthens the window: 2 per 2 minutes.
	d = override(2, typev3.RateLimitUnit_MINUTE, 2, "anything", "x")
	for range 2 {
		call(t, s, request("edge", d))
	}
	clk.Advance(time.Minute)
	resp := call(t, s, request("edge", d))
	if got := verdict(resp); got != "OVER_LIMIT: OVER_LIMIT" {
		t.Fatalf("2 per 2m, third within the window: %s", got)
	}
	if m := resp.GetStatuses()[0].GetCurrentLimit().GetUnitMultiplier(); m.GetValue() != 2 {
		t.Fatalf("unit_multiplier %v, want 2", m)
	}
	// An unknown domain stays unlimited, as the reference does.
	if resp := call(t, s, request("nowhere", d)); resp.GetStatuses()[0].GetCurrentLimit() != nil {
		t.Fatalf("override in an unknown domain is limited: %v", resp)
	}
	// An override with no unit is the client's mistake.
	_, err := s.ShouldRateLimit(context.Background(), request("edge", override(1, typev3.RateLimitUnit_UNKNOWN, 0, "k", "v")))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown unit: %v, want InvalidArgument", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	for _, tc := range []struct {
		name string
		req  *rlsv3.RateLimitRequest
	}{
		{"no domain", request("", desc("k", "v"))},
		{"no descriptors", request("edge")},
		{"a descriptor without entries", request("edge", desc())},
		{"an entry without key", request("edge", desc("", "v"))},
	} {
		if _, err := s.ShouldRateLimit(context.Background(), tc.req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", tc.name, err)
		}
	}
	s.Close()
	if _, err := s.ShouldRateLimit(context.Background(), request("edge", desc("remote_address", "1"))); status.Code(err) != codes.Unavailable {
		t.Errorf("closed: %v, want Unavailable", err)
	}
}

func TestSetConfig(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, edgeConfig)
	req := request("edge", desc("remote_address", "3.3.3.3"))
	call(t, s, req)
	call(t, s, req)
	// A new limit for the same descriptor keeps its count.
	cfg, err := parseSluice("new.yaml", []byte(`
domains:
  - domain: edge
    descriptors:
      - key: remote_address
        limits: 4/m
        algorithm: fixed_window
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got := remaining(call(t, s, req)); got[0] != 1 {
		t.Fatalf("after raising 3 to 4 with 2 used: remaining %v, want 1", got)
	}
	// A rejected configuration keeps the running one.
	bad := &Config{Domains: []Domain{{Name: "edge", Descriptors: []Descriptor{{Key: "remote_address", Limits: []core.Limit{{N: -1, Per: time.Second}}}}}}}
	err = s.SetConfig(bad)
	var ce *core.ConfigError
	if !errors.As(err, &ce) || ce.Path != "domains[0].descriptors[0].limits[0].n" {
		t.Fatalf("SetConfig(bad): %v, want a ConfigError at domains[0].descriptors[0].limits[0].n", err)
	}
	if got := remaining(call(t, s, req)); got[0] != 0 {
		t.Fatalf("after the rejected configuration: remaining %v, want 0", got)
	}
}

// failing is a remote backend that fails every call, or blocks until its
// context ends.
type failing struct{ block bool }

var _ backend.Remote = failing{}

func (f failing) Apply(ctx context.Context, _ backend.Request) (backend.Result, error) {
	if f.block {
		<-ctx.Done()
		return backend.Result{}, ctx.Err()
	}
	return backend.Result{}, errors.New("connection refused")
}
func (f failing) Release(context.Context, backend.Request) error   { return errors.New("down") }
func (f failing) Settle(context.Context, backend.Settlement) error { return errors.New("down") }
func (f failing) Reset(context.Context, string, string) error      { return errors.New("down") }
func (f failing) Ping(context.Context) error                       { return errors.New("down") }
func (f failing) Name() string                                     { return "failing" }

func TestBackendDown(t *testing.T) {
	t.Parallel()
	cfg := `
domains:
  - domain: d
    descriptors:
      - key: open
        limits: 1/m
      - key: closed
        limits: 1/m
        failure: closed
      - key: local
        limits: 1/m
        failure: local
`
	for _, block := range []bool{false, true} {
		s, _ := newTestServer(t, cfg, WithLimiterOptions(core.WithBackend(failing{block: block})))
		// The Limiter's 10ms timeout answers, not the backend; after 5
		// failures the breaker opens and answers at once. The bounds leave
		// room for a loaded machine; the test's point is that nothing
		// waits for the backend.
		for i := range 8 {
			begin := time.Now()
			resp, err := s.ShouldRateLimit(context.Background(), request("d", desc("open", "a")))
			took := time.Since(begin)
			if err != nil || verdict(resp) != "OK: OK" {
				t.Fatalf("block=%v, fail open, request %d: %v, %v", block, i, verdict(resp), err)
			}
			if limit := 200 * time.Millisecond; took > limit || (block && i < 5 && took < defaultTimeout) {
				t.Errorf("block=%v, request %d: answered in %v; want the timeout (%v) to answer, within %v", block, i, took, defaultTimeout, limit)
			}
			if block && i >= 5 && took >= defaultTimeout {
				t.Errorf("request %d with the breaker open: answered in %v, want at once", i, took)
			}
			if resp.GetStatuses()[0].GetCurrentLimit() != nil {
				t.Errorf("a failed-open status claims a limit: %v", resp.GetStatuses()[0])
			}
		}
		if got := verdict(call(t, s, request("d", desc("closed", "a")))); got != "OVER_LIMIT: OVER_LIMIT" {
			t.Errorf("block=%v, fail closed: %s", block, got)
		}
		// Fail local decides in memory: 1 per minute still holds.
		if got := verdict(call(t, s, request("d", desc("local", "a")))); got != "OK: OK" {
			t.Errorf("block=%v, fail local, first: %s", block, got)
		}
		if got := verdict(call(t, s, request("d", desc("local", "a")))); got != "OVER_LIMIT: OVER_LIMIT" {
			t.Errorf("block=%v, fail local, second: %s", block, got)
		}
		// A descriptor that fails closed denies the whole request.
		if got := verdict(call(t, s, request("d", desc("open", "b"), desc("closed", "b")))); got != "OVER_LIMIT: OK OVER_LIMIT" {
			t.Errorf("block=%v, open and closed: %s", block, got)
		}
	}
}
