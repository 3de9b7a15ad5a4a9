package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newLimiter returns a Limiter on a fake clock, closed when the test ends.
func newLimiter(t *testing.T, opts ...core.Option) (*core.Limiter, clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	lim, err := core.New(append([]core.Option{core.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { lim.Close() })
	return lim, clk
}

func decide(t *testing.T, lim *core.Limiter, r core.Request) core.Decision {
	t.Helper()
	d, err := lim.Decide(t.Context(), r)
	if err != nil {
		t.Fatalf("Decide(%+v): %v", r, err)
	}
	return d
}

func get(path, addr string) core.Request {
	return core.Request{Method: "GET", Path: path, RemoteAddr: addr}
}

func TestDecideAllowThenDeny(t *testing.T) {
	lim, clk := newLimiter(t, core.WithDefault(core.PerMinute(3)))
	req := get("/", "203.0.113.7:1234")
	for i, want := range []int64{2, 1, 0} {
		d := decide(t, lim, req)
		if d.Outcome != core.Allowed || d.Remaining != want || d.Limit != 3 {
			t.Fatalf("request %d: Outcome %v, Remaining %d, Limit %d; want allowed, %d, 3", i, d.Outcome, d.Remaining, d.Limit, want)
		}
	}
	d := decide(t, lim, req)
	if got, want := d.Outcome, core.Denied; got != want {
		t.Fatalf("4th request: Outcome = %v, want %v", got, want)
	}
	if got, want := d.RetryAfter, 20*time.Second; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	if got, want := d.ResetAfter, time.Minute; got != want {
		t.Errorf("ResetAfter = %v, want %v", got, want)
	}
	if got, want := d.Client, (core.Identity{Kind: core.KindIP, Value: "203.0.113.7", Tier: "anonymous"}); got != want {
		t.Errorf("Client = %+v, want %+v", got, want)
	}
	if d.Rule != "default" || d.Outcome.Proceed() {
		t.Errorf("Rule = %q, Proceed = %v; want default, false", d.Rule, d.Outcome.Proceed())
	}
	// Another client is unaffected; the first recovers after 20s.
	if d := decide(t, lim, get("/", "203.0.113.8:1234")); d.Outcome != core.Allowed {
		t.Errorf("other client: Outcome = %v, want allowed", d.Outcome)
	}
	clk.Advance(20 * time.Second)
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Errorf("after RetryAfter: Outcome = %v, want allowed", d.Outcome)
	}
}

func TestDecisionWindows(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{
		Name:   "api",
		Limits: []core.Limit{core.PerSecond(2), core.Limit{N: 100, Per: time.Hour, Name: "hourly"}},
	}))
	req := get("/x", "192.0.2.1:1")
	decide(t, lim, req)
	d := decide(t, lim, req)
	ws := d.Windows()
	if len(ws) != 2 {
		t.Fatalf("len(Windows()) = %d, want 2", len(ws))
	}
	if got, want := ws[0].Limit.Name, "api-s"; got != want {
		t.Errorf("default policy name = %q, want %q", got, want)
	}
	if got, want := ws[1].Limit.Name, "hourly"; got != want {
		t.Errorf("explicit policy name = %q, want %q", got, want)
	}
	if ws[0].Remaining != 0 || ws[1].Remaining != 98 {
		t.Errorf("Remaining = %d, %d, want 0, 98", ws[0].Remaining, ws[1].Remaining)
	}
	// The per-second window constrains most: it has the least remaining.
	if d.Limit != 2 || d.Remaining != 0 {
		t.Errorf("primary window: Limit %d Remaining %d, want 2, 0", d.Limit, d.Remaining)
	}
	d = decide(t, lim, req)
	if d.Outcome != core.Denied || d.RetryAfter != 500*time.Millisecond {
		t.Errorf("third request: %v RetryAfter %v, want denied 500ms", d.Outcome, d.RetryAfter)
	}
	if got := d.Windows()[1].Remaining; got != 98 {
		t.Errorf("a denial charged the hourly window: Remaining = %d, want 98", got)
	}
}

func TestRuleMatching(t *testing.T) {
	one := []core.Limit{core.PerSecond(100)}
	lim, _ := newLimiter(t, core.WithRules(
		core.Rule{Name: "login-post", Path: "/login", Methods: []string{"post"}, Limits: one},
		core.Rule{Name: "login", Path: "/login", Limits: one},
		core.Rule{Name: "api", Path: "/api/**", Limits: one},
		core.Rule{Name: "api-v2", Path: "/api/v2/**", Limits: one},
		core.Rule{Name: "users", Path: "/users/{id}", Limits: one},
		core.Rule{Name: "health", Path: "/healthz", Exempt: true},
		core.Rule{Name: "status", Path: "/status", Exempt: true},
		core.Rule{Name: "everything", Path: "/**", Methods: []string{"DELETE"}, Limits: one},
		core.Rule{Limits: one},
	))
	for _, tc := range []struct {
		name, method, path, route string
		want                      string
		wantOutcome               core.Outcome
	}{
		{"method-specific beats any method", "POST", "/login", "", "login-post", core.Allowed},
		{"method is case-insensitive", "post", "/login", "", "login-post", core.Allowed},
		{"any method", "GET", "/login", "", "login", core.Allowed},
		{"longer prefix wins", "GET", "/api/v2/items", "", "api-v2", core.Allowed},
		{"prefix", "GET", "/api/v1/items", "", "api", core.Allowed},
		{"prefix matches itself", "GET", "/api", "", "api", core.Allowed},
		{"prefix is segment-wise", "GET", "/apix", "", "default", core.Allowed},
		{"route template first", "GET", "/users/42", "/users/{id}", "users", core.Allowed},
		{"parameter matches the path when the route is unknown", "GET", "/users/42", "", "users", core.Allowed},
		{"parameter matches one segment only", "GET", "/users/42/posts", "", "default", core.Allowed},
		{"exempt rule", "GET", "/status", "", "status", core.Exempt},
		{"health endpoints are exempt before any rule", "GET", "/livez", "", "", core.Exempt},
		{"a rule naming a health endpoint decides it", "GET", "/healthz", "", "health", core.Exempt},
		{"catch-all prefix with method", "DELETE", "/anything", "", "everything", core.Allowed},
		{"exact beats prefix", "DELETE", "/login", "", "login", core.Allowed},
		{"default", "GET", "/other", "", "default", core.Allowed},
		{"trailing slash", "POST", "/login/", "", "login-post", core.Allowed},
		{"doubled slashes", "POST", "//login", "", "login-post", core.Allowed},
		{"dot segments", "POST", "/x/../login", "", "login-post", core.Allowed},
		{"relative path", "POST", "login", "", "login-post", core.Allowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(t, lim, core.Request{Method: tc.method, Path: tc.path, Route: tc.route, RemoteAddr: "192.0.2.1:1"})
			if d.Rule != tc.want || d.Outcome != tc.wantOutcome {
				t.Errorf("Rule = %q, Outcome = %v; want %q, %v", d.Rule, d.Outcome, tc.want, tc.wantOutcome)
			}
		})
	}
}

func TestNoMatchingRuleIsExempt(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Path: "/login", Limits: []core.Limit{core.PerMinute(1)}}))
	for range 3 {
		if d := decide(t, lim, get("/other", "192.0.2.1:1")); d.Outcome != core.Exempt || len(d.Windows()) != 0 {
			t.Fatalf("Outcome = %v with %d windows, want exempt with none", d.Outcome, len(d.Windows()))
		}
	}
}

func TestRouteTemplatesShareACounter(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(2)}}))
	for i, path := range []string{"/users/1", "/users/2", "/users/3"} {
		d := decide(t, lim, core.Request{Method: "GET", Path: path, Route: "/users/{id}", RemoteAddr: "192.0.2.1:1"})
		if want := i < 2; d.Outcome.Proceed() != want {
			t.Errorf("%s: Outcome = %v, want proceed=%v", path, d.Outcome, want)
		}
	}
}

func TestShadowRule(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Shadow: true, Limits: []core.Limit{core.PerMinute(1)}}))
	req := get("/", "192.0.2.1:1")
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Fatalf("first: %v, want allowed", d.Outcome)
	}
	d := decide(t, lim, req)
	if d.Outcome != core.ShadowDenied || !d.Outcome.Proceed() || d.RetryAfter != time.Minute {
		t.Errorf("second: %v (proceed %v) RetryAfter %v; want shadow_denied, proceed, 1m", d.Outcome, d.Outcome.Proceed(), d.RetryAfter)
	}
}

func TestThrottle(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{
		Limits: []core.Limit{core.PerSecond(10)}, MaxDelay: 250 * time.Millisecond,
	}))
	req := get("/", "192.0.2.1:1")
	req.Cost = 10
	decide(t, lim, req)
	req.Cost = 0
	for _, want := range []struct {
		outcome core.Outcome
		delay   time.Duration
	}{{core.Delayed, 100 * time.Millisecond}, {core.Delayed, 200 * time.Millisecond}, {core.Denied, 0}} {
		d := decide(t, lim, req)
		if d.Outcome != want.outcome || d.Delay != want.delay {
			t.Errorf("Outcome %v Delay %v, want %v %v", d.Outcome, d.Delay, want.outcome, want.delay)
		}
	}
}

func TestConcurrencyRelease(t *testing.T) {
	lim, clk := newLimiter(t, core.WithRules(core.Rule{
		Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(2)}, Lease: 10 * time.Second,
	}))
	req := get("/", "192.0.2.1:1")
	a, b := decide(t, lim, req), decide(t, lim, req)
	if a.Outcome != core.Allowed || b.Outcome != core.Allowed {
		t.Fatalf("first two: %v, %v", a.Outcome, b.Outcome)
	}
	if d := decide(t, lim, req); d.Outcome != core.Denied || d.RetryAfter != time.Second {
		t.Fatalf("third: %v RetryAfter %v, want denied 1s", d.Outcome, d.RetryAfter)
	}
	a.Release()
	a.Release() // harmless
	c := decide(t, lim, req)
	if c.Outcome != core.Allowed {
		t.Fatalf("after Release: %v, want allowed", c.Outcome)
	}
	if d := decide(t, lim, req); d.Outcome != core.Denied {
		t.Fatalf("a double Release freed a second slot: %v", d.Outcome)
	}
	// A leaked slot frees itself after its lease.
	clk.Advance(10 * time.Second)
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Errorf("after the lease: %v, want allowed", d.Outcome)
	}
	// Peeking never acquires.
	p, err := lim.Peek(t.Context(), req)
	if err != nil || p.Remaining != 1 {
		t.Errorf("Peek: Remaining %d, %v; want 1", p.Remaining, err)
	}
	p.Release() // no-op on a peek
	b.Release()
	c.Release()
}

// failing is a backend that always fails.
type failing struct{ err error }

func (f failing) Apply(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, f.err
}
func (f failing) Release(context.Context, backend.Request) error   { return f.err }
func (f failing) Settle(context.Context, backend.Settlement) error { return f.err }
func (f failing) Ping(context.Context) error                       { return f.err }
func (f failing) Name() string                                     { return "failing" }
func (f failing) Reset(context.Context, string, string) error      { return f.err }

func TestFailureModes(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tc := range []struct {
		mode string
		want core.Outcome
	}{{"open", core.FailedOpen}, {"closed", core.FailedClosed}} {
		t.Run(tc.mode, func(t *testing.T) {
			lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(5)), core.WithBackend(failing{boom}), core.WithFailure(core.Failure{Mode: tc.mode}))
			d := decide(t, lim, get("/", "192.0.2.1:1"))
			if d.Outcome != tc.want {
				t.Errorf("Outcome = %v, want %v", d.Outcome, tc.want)
			}
			if !errors.Is(d.Err, core.ErrBackendUnavailable) || !errors.Is(d.Err, boom) {
				t.Errorf("Err = %v, want it to wrap ErrBackendUnavailable and the backend error", d.Err)
			}
			if d.Remaining != -1 || d.Limit != 5 || len(d.Windows()) != 0 {
				t.Errorf("Remaining %d Limit %d windows %d; want -1 (unknown), 5, 0", d.Remaining, d.Limit, len(d.Windows()))
			}
			if err := lim.Reset(t.Context(), get("/", "192.0.2.1:1")); !errors.Is(err, boom) {
				t.Errorf("Reset error = %v, want it to wrap the backend error", err)
			}
		})
	}
}

func TestCanceledContextIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(5)), core.WithBackend(failing{ctx.Err()}))
	if _, err := lim.Decide(ctx, get("/", "192.0.2.1:1")); !errors.Is(err, context.Canceled) {
		t.Errorf("Decide with a canceled context: error = %v, want context.Canceled", err)
	}
}

func TestPeekAndReset(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(3)))
	req := get("/", "192.0.2.1:1")
	decide(t, lim, req)
	decide(t, lim, req)
	for range 3 {
		d, err := lim.Peek(t.Context(), req)
		if err != nil || d.Outcome != core.Allowed || d.Remaining != 1 {
			t.Fatalf("Peek = %v remaining %d (%v), want allowed with 1", d.Outcome, d.Remaining, err)
		}
	}
	decide(t, lim, req)
	if d, _ := lim.Peek(t.Context(), req); d.Outcome != core.Denied || d.RetryAfter != 20*time.Second {
		t.Errorf("Peek of an exhausted client = %v RetryAfter %v, want denied 20s", d.Outcome, d.RetryAfter)
	}
	if err := lim.Reset(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, lim, req); d.Remaining != 2 {
		t.Errorf("after Reset: Remaining = %d, want 2", d.Remaining)
	}
}

func TestIdentityKindsDoNotShareCounters(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)))
	decide(t, lim, get("/", "10.0.0.1:1"))
	user := get("/", "10.0.0.1:1")
	user.Identity = core.Identity{Kind: core.KindUser, Value: "10.0.0.1"}
	if d := decide(t, lim, user); d.Outcome != core.Allowed || d.Client.Kind != core.KindUser {
		t.Errorf("user named like an exhausted IP: %v as %v, want allowed as user", d.Outcome, d.Client)
	}
	bogus := get("/", "10.0.0.1:1")
	bogus.Identity = core.Identity{Kind: "robot", Value: "x"}
	if d, err := lim.Decide(t.Context(), bogus); !errors.Is(err, backend.ErrInvalidRequest) {
		t.Errorf("an out-of-range kind: %v as %v, %v; want an error wrapping backend.ErrInvalidRequest", d.Outcome, d.Client, err)
	}
}

func TestGroupsShareCounters(t *testing.T) {
	l := []core.Limit{core.PerMinute(2)}
	lim, _ := newLimiter(t, core.WithRules(
		core.Rule{Name: "a", Path: "/a", Group: "g", Limits: l},
		core.Rule{Name: "b", Path: "/b", Group: "g", Limits: l},
		core.Rule{Name: "c", Path: "/c", Limits: l},
	))
	decide(t, lim, get("/a", "192.0.2.1:1"))
	decide(t, lim, get("/b", "192.0.2.1:1"))
	if d := decide(t, lim, get("/a", "192.0.2.1:1")); d.Outcome != core.Denied {
		t.Errorf("third request to the group: %v, want denied", d.Outcome)
	}
	if d := decide(t, lim, get("/c", "192.0.2.1:1")); d.Outcome != core.Allowed {
		t.Errorf("rule outside the group: %v, want allowed", d.Outcome)
	}
}

func TestSetRulesKeepsCounters(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerHour(10)}, Algorithm: backend.FixedWindow}))
	req := get("/", "192.0.2.1:1")
	for range 5 {
		decide(t, lim, req)
	}
	if err := lim.SetRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerHour(8)}, Algorithm: backend.FixedWindow}); err != nil {
		t.Fatal(err)
	}
	if d := decide(t, lim, req); d.Remaining != 2 || d.Limit != 8 {
		t.Errorf("after lowering the limit: Limit %d Remaining %d, want 8, 2 (usage kept)", d.Limit, d.Remaining)
	}
	if err := lim.SetRules(core.Rule{Name: "api"}); err == nil {
		t.Error("SetRules with an invalid rule: error = nil")
	}
	if got := lim.Rules(); len(got) != 1 || got[0].Limits[0].N != 8 {
		t.Errorf("Rules() = %+v, want the valid rule kept", got)
	}
}

// TestSetRulesChangesPeriod changes a rule's period, the reload a user
// makes when "10 an hour" proves too strict and becomes "8 a minute". No
// client may then wait longer than the new limit itself imposes.
func TestSetRulesChangesPeriod(t *testing.T) {
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog} {
		t.Run(alg.String(), func(t *testing.T) {
			lim, clk := newLimiter(t, core.WithRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerHour(10)}, Algorithm: alg}))
			req := get("/", "192.0.2.1:1")
			for range 6 {
				decide(t, lim, req)
			}
			if err := lim.SetRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(8)}, Algorithm: alg}); err != nil {
				t.Fatal(err)
			}
			d := decide(t, lim, req)
			if d.Limit != 8 || d.RetryAfter > 8*time.Second && d.Outcome == core.Denied {
				t.Fatalf("first request under 8/min: %v, Limit %d, RetryAfter %v; want no wait beyond one 7.5s token", d.Outcome, d.Limit, d.RetryAfter)
			}
			// Within one new period the client is admitted again, and a
			// minute later it has the new limit's whole quota.
			clk.Advance(8 * time.Second)
			if d := decide(t, lim, req); d.Outcome != core.Allowed {
				t.Fatalf("8s later: %v (RetryAfter %v), want allowed", d.Outcome, d.RetryAfter)
			}
			clk.Advance(2 * time.Minute)
			if d := decide(t, lim, req); d.Outcome != core.Allowed || d.Remaining != 7 {
				t.Fatalf("2m later: %v, Remaining %d; want allowed with 7 left", d.Outcome, d.Remaining)
			}
		})
	}
}

func TestRequestCostOverride(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Limits: []core.Limit{core.PerMinute(10)}, Cost: 2}))
	req := get("/", "192.0.2.1:1")
	if d := decide(t, lim, req); d.Remaining != 8 {
		t.Errorf("rule cost 2: Remaining = %d, want 8", d.Remaining)
	}
	req.Cost = 5
	if d := decide(t, lim, req); d.Remaining != 3 {
		t.Errorf("request cost 5: Remaining = %d, want 3", d.Remaining)
	}
}

func TestCustomIdentifier(t *testing.T) {
	errNoKey := errors.New("no key")
	id := identifierFunc(func(_ context.Context, r core.Request) (core.Identity, error) {
		if r.Path == "/broken" {
			return core.Identity{}, errNoKey
		}
		return core.Identity{Kind: core.KindAPIKey, Value: r.Path}, nil
	})
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)), core.WithIdentifier(id))
	if d := decide(t, lim, get("/k1", "192.0.2.1:1")); d.Client != (core.Identity{Kind: core.KindAPIKey, Value: "/k1", Tier: "standard"}) {
		t.Errorf("Client = %v", d.Client)
	}
	if _, err := lim.Decide(t.Context(), get("/broken", "192.0.2.1:1")); !errors.Is(err, errNoKey) {
		t.Errorf("identifier error: Decide error = %v, want it wrapped", err)
	}
}

func TestClose(t *testing.T) {
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := lim.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	}
	if _, err := lim.Decide(t.Context(), get("/", "192.0.2.1:1")); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Decide after Close: %v, want ErrClosed", err)
	}
	if err := lim.Reset(t.Context(), get("/", "192.0.2.1:1")); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Reset after Close: %v, want ErrClosed", err)
	}
}

func TestCloseLeavesCallersBackendOpen(t *testing.T) {
	m := memory.New()
	defer m.Close()
	lim, err := core.New(core.WithDefault(core.PerMinute(1)), core.WithBackend(m))
	if err != nil {
		t.Fatal(err)
	}
	lim.Close()
	lim2, err := core.New(core.WithDefault(core.PerMinute(1)), core.WithBackend(m))
	if err != nil {
		t.Fatal(err)
	}
	defer lim2.Close()
	if d := decide(t, lim2, get("/", "192.0.2.1:1")); d.Outcome != core.Allowed {
		t.Errorf("shared backend after the first Limiter closed: %v", d.Outcome)
	}
}

func TestNewValidation(t *testing.T) {
	ok := []core.Limit{core.PerSecond(1)}
	for _, tc := range []struct {
		name  string
		rules []core.Rule
		want  []string // substrings, one per expected error
	}{
		{"no rules", nil, []string{"rules: []: at least one rule"}},
		{"no limits", []core.Rule{{Name: "a"}}, []string{"rules[0].limits"}},
		{"duplicate names", []core.Rule{{Name: "a", Limits: ok}, {Name: "a", Path: "/x", Limits: ok}}, []string{"rules[1].name: a: duplicate of rules[0]"}},
		{"bad path", []core.Rule{{Path: "login", Limits: ok}}, []string{`rules[0].path: login: must start with "/"`}},
		{"inner rest wildcard", []core.Rule{{Path: "/a/**/b", Limits: ok}}, []string{"rules[0].path"}},
		{"partial wildcard", []core.Rule{{Path: "/a/b*", Limits: ok}}, []string{"rules[0].path"}},
		{"framework param syntax", []core.Rule{{Path: "/users/:id", Limits: ok}}, []string{`rules[0].path: /users/:id: segment ":id" is a route parameter in another syntax, which no request matches: write {id}`}},
		{"negative limit", []core.Rule{{Limits: []core.Limit{{N: -1, Per: time.Second}}}}, []string{"rules[0].limits[0].n"}},
		{"zero period", []core.Rule{{Limits: []core.Limit{{N: 1}}}}, []string{"rules[0].limits[0].per"}},
		{"too many windows", []core.Rule{{Limits: []core.Limit{core.PerSecond(1), core.PerSecond(2), core.PerSecond(3), core.PerSecond(4), core.PerSecond(5)}}}, []string{"rules[0].limits: 5: at most 4"}},
		{"burst on fixed window", []core.Rule{{Algorithm: backend.FixedWindow, Limits: []core.Limit{core.Limit{N: 1, Per: time.Second, Burst: 5}}}}, []string{"rules[0].limits[0].burst"}},
		{"throttle on sliding log", []core.Rule{{Algorithm: backend.SlidingLog, MaxDelay: time.Second, Limits: ok}}, []string{"rules[0].max_delay"}},
		{"cost above capacity", []core.Rule{{Cost: 5, Limits: []core.Limit{core.PerSecond(2)}}}, []string{"rules[0].cost: 5: exceeds the capacity 2"}},
		{"two concurrency limits", []core.Rule{{Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(1), core.Concurrent(2)}}}, []string{"rules[0].limits: 2"}},
		{"group mismatch", []core.Rule{{Name: "a", Path: "/a", Group: "g", Limits: ok}, {Name: "b", Path: "/b", Group: "g", Limits: []core.Limit{core.PerSecond(2)}}}, []string{"rules[1].group"}},
		{"unknown algorithm", []core.Rule{{Algorithm: 42, Limits: ok}}, []string{"rules[0].algorithm"}},
		{"every error at once", []core.Rule{{Path: "x", Limits: []core.Limit{{N: -1, Per: -time.Second}}}}, []string{"rules[0].path", "rules[0].limits[0].n", "rules[0].limits[0].per"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := core.New(core.WithRules(tc.rules...))
			if err == nil {
				t.Fatal("New() error = nil")
			}
			expectConfigErrors(t, err, tc.want)
		})
	}
}

func TestMaintenanceMode(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(0)))
	if d := decide(t, lim, get("/", "192.0.2.1:1")); d.Outcome != core.Denied || d.RetryAfter != time.Minute {
		t.Errorf("limit 0: %v RetryAfter %v, want denied after 1m", d.Outcome, d.RetryAfter)
	}
}

// TestOutcomeProceed: the outcomes that let a request through.
func TestOutcomeProceed(t *testing.T) {
	for o, want := range map[core.Outcome]bool{
		core.Allowed: true, core.Denied: false, core.Delayed: true, core.Exempt: true,
		core.ShadowDenied: true, core.FailedOpen: true, core.FailedClosed: false, "": false,
	} {
		if got := o.Proceed(); got != want {
			t.Errorf("%q.Proceed() = %v, want %v", o, got, want)
		}
	}
}

// expectConfigErrors checks that err joins exactly one *ConfigError per
// wanted substring, and mentions each.
func expectConfigErrors(t *testing.T, err error, want []string) {
	t.Helper()
	var ce *core.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("error %v is not a *ConfigError", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if got := strings.Count(err.Error(), "sluice: "); got != len(want) {
		t.Errorf("got %d errors, want %d: %v", got, len(want), err)
	}
}

// TestRequestWithOnlyAClient checks the rule a request gets that names
// only its client, as keyed callers send: the rule a request for "/" with
// no method gets, so "/**" beats a default rule, a rule limited to some
// methods does not match, and with tiered rules the client's tier counts.
func TestRequestWithOnlyAClient(t *testing.T) {
	client := core.Request{Identity: core.Identity{Kind: core.KindCustom, Value: "tenant-7"}}
	for _, tc := range []struct {
		name  string
		opts  []core.Option
		want  string
		exemp bool
	}{
		{"default only", []core.Option{core.WithDefault(core.PerSecond(5))}, "default", false},
		{"rest pattern beats default", []core.Option{core.WithRules(
			core.Rule{Name: "all", Path: "/**", Limits: []core.Limit{core.PerSecond(5)}},
			core.Rule{Name: "dflt", Limits: []core.Limit{core.PerSecond(5)}})}, "all", false},
		{"methods do not match", []core.Option{core.WithRules(
			core.Rule{Name: "posts", Path: "/**", Methods: []string{"POST"}, Limits: []core.Limit{core.PerSecond(5)}},
			core.Rule{Name: "dflt", Limits: []core.Limit{core.PerSecond(5)}})}, "dflt", false},
		{"exempt rule", []core.Option{core.WithRules(core.Rule{Name: "free", Path: "/", Exempt: true})}, "free", true},
		{"no rule", []core.Option{core.WithRules(core.Rule{Name: "login", Path: "/login", Limits: []core.Limit{core.PerSecond(5)}})}, "", true},
		{"tiered", []core.Option{core.WithTiers("", "gold"), core.WithRules(
			core.Rule{Name: "gold", Tiers: []string{"gold"}, Limits: []core.Limit{core.PerSecond(50)}},
			core.Rule{Name: "dflt", Limits: []core.Limit{core.PerSecond(5)}})}, "dflt", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, _ := newLimiter(t, tc.opts...)
			d := decide(t, lim, client)
			if d.Rule != tc.want || (d.Outcome == core.Exempt) != tc.exemp {
				t.Errorf("rule %q, outcome %v; want rule %q, exempt %v", d.Rule, d.Outcome, tc.want, tc.exemp)
			}
			if gold := client; tc.name == "tiered" {
				gold.Identity.Tier = "gold"
				if d := decide(t, lim, gold); d.Rule != "gold" {
					t.Errorf("a gold client got rule %q, want gold", d.Rule)
				}
			}
		})
	}
}
