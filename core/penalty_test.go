package core_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
)

// penaltyRule allows 2 requests per second; 3 denials within a minute block
// the client for 10s, then 30s, then 60s (the cap); 5 minutes after a block
// ends without another, blocks start at 10s again.
func penaltyRule() core.Rule {
	return core.Rule{
		Limits: []core.Limit{core.PerSecond(2)},
		Penalty: &core.Penalty{
			Threshold: 3, Window: time.Minute, Base: 10 * time.Second,
			Multiplier: 3, Max: time.Minute, Decay: 5 * time.Minute,
		},
	}
}

// flood sends requests until the client is blocked, checking that it gets
// exactly 2 admissions and 3 denials, the last starting a block of want.
func flood(t *testing.T, lim *core.Limiter, req core.Request, want time.Duration) {
	t.Helper()
	for i, o := range []core.Outcome{core.Allowed, core.Allowed, core.Denied, core.Denied, core.Denied} {
		d := decide(t, lim, req)
		if d.Outcome != o {
			t.Fatalf("flood request %d: Outcome = %v, want %v", i, d.Outcome, o)
		}
		if blocked := i == 4; d.Blocked != blocked {
			t.Fatalf("flood request %d: Blocked = %v, want %v", i, d.Blocked, blocked)
		}
		if i == 4 && d.RetryAfter != want {
			t.Fatalf("blocking request: RetryAfter = %v, want the block %v", d.RetryAfter, want)
		}
	}
}

// expectBlocked checks that req is Denied as blocked with RetryAfter left.
func expectBlocked(t *testing.T, lim *core.Limiter, req core.Request, left time.Duration) {
	t.Helper()
	d := decide(t, lim, req)
	if d.Outcome != core.Denied || !d.Blocked || d.RetryAfter != left || d.Remaining != 0 {
		t.Errorf("during a block: Outcome %v, Blocked %v, RetryAfter %v, Remaining %d; want denied, true, %v, 0",
			d.Outcome, d.Blocked, d.RetryAfter, d.Remaining, left)
	}
}

func TestPenaltyBlocksGrowCapAndDecay(t *testing.T) {
	lim, clk := newLimiter(t, core.WithRules(penaltyRule()))
	req := get("/", "192.0.2.1:1")

	flood(t, lim, req, 10*time.Second)
	expectBlocked(t, lim, req, 10*time.Second)
	clk.Advance(4 * time.Second)
	expectBlocked(t, lim, req, 6*time.Second) // Retry-After is the time left

	// Another client is unaffected.
	if d := decide(t, lim, get("/", "192.0.2.2:1")); d.Outcome != core.Allowed || d.Blocked {
		t.Errorf("other client: Outcome %v, Blocked %v; want allowed, false", d.Outcome, d.Blocked)
	}

	clk.Advance(6 * time.Second) // the block ends; the bucket is full again
	flood(t, lim, req, 30*time.Second)
	clk.Advance(30 * time.Second)
	flood(t, lim, req, time.Minute) // 90s, capped
	clk.Advance(time.Minute)
	flood(t, lim, req, time.Minute)

	// Five minutes of good behaviour after the block: back to the base.
	clk.Advance(time.Minute + 5*time.Minute)
	flood(t, lim, req, 10*time.Second)
}

func TestPenaltyPeekReportsBlockWithoutChangingIt(t *testing.T) {
	lim, clk := newLimiter(t, core.WithRules(penaltyRule()))
	req := get("/", "192.0.2.1:1")
	flood(t, lim, req, 10*time.Second)
	clk.Advance(3 * time.Second)
	for range 3 {
		d, err := lim.Peek(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Outcome != core.Denied || !d.Blocked || d.RetryAfter != 7*time.Second {
			t.Errorf("Peek: Outcome %v, Blocked %v, RetryAfter %v; want denied, true, 7s", d.Outcome, d.Blocked, d.RetryAfter)
		}
	}
	expectBlocked(t, lim, req, 7*time.Second)

	// Peeks at a denied client count nothing towards a block.
	other := get("/", "192.0.2.2:1")
	decide(t, lim, other)
	decide(t, lim, other)
	for range 10 {
		if d, err := lim.Peek(t.Context(), other); err != nil || d.Blocked || d.Outcome != core.Denied {
			t.Fatalf("Peek of an exhausted client: %v, Blocked %v, err %v; want denied, not blocked", d.Outcome, d.Blocked, err)
		}
	}
	if d := decide(t, lim, other); d.Blocked {
		t.Error("a denial after peeks blocked: peeks were counted")
	}
}

func TestPenaltyShadowRuleNeverBlocks(t *testing.T) {
	rule := penaltyRule()
	rule.Shadow = true
	lim, _ := newLimiter(t, core.WithRules(rule))
	req := get("/", "192.0.2.1:1")
	for i := range 20 {
		d := decide(t, lim, req)
		if d.Blocked || !d.Outcome.Proceed() {
			t.Fatalf("request %d: Outcome %v, Blocked %v; a shadow rule must never block", i, d.Outcome, d.Blocked)
		}
	}
}

func TestPenaltyResetUnblocks(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(penaltyRule()))
	req := get("/", "192.0.2.1:1")
	flood(t, lim, req, 10*time.Second)
	if err := lim.Reset(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	flood(t, lim, req, 10*time.Second) // k was forgotten too
}

func TestPenaltyRulesReturnsACopy(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(penaltyRule()))
	rules := lim.Rules()
	rules[0].Penalty.Threshold = 99
	if got := lim.Rules()[0].Penalty.Threshold; got != 3 {
		t.Errorf("Threshold after changing a copy = %d, want 3", got)
	}
	rule := core.Rule{Limits: []core.Limit{core.PerSecond(1)}, Penalty: &core.Penalty{Threshold: 1, Window: time.Minute, Base: time.Second}}
	if err := lim.SetRules(rule); err != nil {
		t.Fatal(err)
	}
	want := core.Penalty{Threshold: 1, Window: time.Minute, Base: time.Second, Multiplier: 2, Max: time.Hour, Decay: time.Hour}
	if got := *lim.Rules()[0].Penalty; got != want {
		t.Errorf("Rules()[0].Penalty = %+v, want the defaults filled in: %+v", got, want)
	}
	if rule.Penalty.Multiplier != 0 {
		t.Error("SetRules changed the caller's Penalty")
	}
}

// notPenalizer is a working backend that keeps no penalty state.
type notPenalizer struct{ backend.Backend }

func TestPenaltyNeedsAPenalizer(t *testing.T) {
	b := notPenalizer{failing{errors.New("unused")}}
	_, err := core.New(core.WithBackend(b), core.WithRules(core.Rule{Limits: []core.Limit{core.PerSecond(1)}}, penaltyRuleNamed("p")))
	var ce *core.ConfigError
	if !errors.As(err, &ce) || ce.Path != "rules[1].penalty" {
		t.Fatalf("New with a penalty on a backend without Penalizer: %v, want a *ConfigError at rules[1].penalty", err)
	}
	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.PerSecond(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	if err := lim.SetRules(penaltyRuleNamed("p")); !errors.As(err, &ce) {
		t.Errorf("SetRules with a penalty on a backend without Penalizer: %v, want a *ConfigError", err)
	}
}

func penaltyRuleNamed(name string) core.Rule {
	r := penaltyRule()
	r.Name, r.Path = name, "/"+name
	return r
}

func TestPenaltyValidation(t *testing.T) {
	ok := []core.Limit{core.PerSecond(1)}
	good := core.Penalty{Threshold: 1, Window: time.Minute, Base: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*core.Penalty)
		want []string
	}{
		{"defaults are valid", func(*core.Penalty) {}, nil},
		{"zero threshold", func(p *core.Penalty) { p.Threshold = 0 }, []string{"rules[0].penalty.threshold"}},
		{"zero window", func(p *core.Penalty) { p.Window = 0 }, []string{"rules[0].penalty.window"}},
		{"zero base", func(p *core.Penalty) { p.Base = 0 }, []string{"rules[0].penalty.base"}},
		{"multiplier below 1", func(p *core.Penalty) { p.Multiplier = 0.5 }, []string{"rules[0].penalty.multiplier"}},
		{"max below base", func(p *core.Penalty) { p.Max = time.Millisecond }, []string{"rules[0].penalty.max"}},
		{"negative decay", func(p *core.Penalty) { p.Decay = -time.Second }, []string{"rules[0].penalty.decay"}},
		{"every error at once", func(p *core.Penalty) { *p = core.Penalty{Multiplier: -1} }, []string{
			"rules[0].penalty.threshold", "rules[0].penalty.window", "rules[0].penalty.base", "rules[0].penalty.multiplier",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.edit(&p)
			lim, err := core.New(core.WithRules(core.Rule{Limits: ok, Penalty: &p}))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				lim.Close()
				return
			}
			if err == nil {
				t.Fatal("New() error = nil")
			}
			expectConfigErrors(t, err, tc.want)
		})
	}
}

// penaltyFailing is a backend whose every call fails, Penalize included.
type penaltyFailing struct {
	backend.Backend
	err error
}

func (p penaltyFailing) Penalize(context.Context, backend.PenaltyRequest) (backend.PenaltyResult, error) {
	return backend.PenaltyResult{}, p.err
}

func TestPenaltyBackendFailureUsesTheFailureMode(t *testing.T) {
	boom := errors.New("connection refused")
	b := penaltyFailing{failing{boom}, boom}
	lim, _ := newLimiter(t, core.WithBackend(b), core.WithRules(penaltyRule()), core.WithFailure(core.Failure{Mode: "closed"}))
	d := decide(t, lim, get("/", "192.0.2.1:1"))
	if d.Outcome != core.FailedClosed || !errors.Is(d.Err, boom) {
		t.Errorf("Outcome %v, Err %v; want fail_closed wrapping the backend error", d.Outcome, d.Err)
	}
}

// remoteMemory is a memory backend that says it is remote, so that a
// Limiter keeps a deny cache for it.
type remoteMemory struct{ *memory.Backend }

func (remoteMemory) Name() string               { return "shared" }
func (remoteMemory) Ping(context.Context) error { return nil }

// TestUnblockElsewhereLiftsTheBlock: a block lifted through another
// Limiter (Reset, as sluiceadmin's unblock does) ends the block here too,
// once the limit's own denial has passed: the deny cache never holds the
// block itself.
func TestUnblockElsewhereLiftsTheBlock(t *testing.T) {
	shared := remoteMemory{memory.New(memory.WithSweepInterval(0))}
	t.Cleanup(func() { shared.Close() })
	rule := core.Rule{Name: "login", Limits: []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 1, Window: time.Minute, Base: time.Hour}}
	server, clk := newLimiter(t, core.WithBackend(shared), core.WithRules(rule))
	admin, err := core.New(core.WithClock(clk), core.WithBackend(shared), core.WithRules(rule))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := get("/login", "192.0.2.1:1")
	decide(t, server, req)
	if d := decide(t, server, req); !d.Blocked || d.RetryAfter != time.Hour {
		t.Fatalf("second request: %+v, want blocked for an hour", d)
	}
	if err := admin.Reset(t.Context(), core.Request{Rule: "login", Identity: core.Identity{Kind: core.KindIP, Value: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // the limit's denial has passed; the block would have 59 minutes left
	if d := decide(t, server, req); d.Outcome != core.Allowed {
		t.Errorf("a minute after an unblock elsewhere: %v (blocked %v, cached %v), want allowed", d.Outcome, d.Blocked, d.Cached)
	}
}
