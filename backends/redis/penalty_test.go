package sluiceredis

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// TestPenaltyExpiry checks on the server's clock that a penalty key lives
// until its denial window closes, then, once a block starts, until the
// block and its decay have passed; that a check stores nothing; and that
// Reset deletes it.
func TestPenaltyExpiry(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client)
	pol := backend.Penalty{Threshold: 2, Window: 10 * time.Second, Base: 3 * time.Second, Multiplier: 2, Max: time.Minute, Decay: 20 * time.Second}
	req := backend.PenaltyRequest{Namespace: "expiry", Key: "k", Policy: pol}
	key := string(append(b.keyBase(req.Namespace, req.Key, 1), 'p'))
	pttl := func(what string, want time.Duration) {
		t.Helper()
		got, err := client.PTTL(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got > want || got < want-time.Second {
			t.Errorf("%s: PTTL = %v, want about %v", what, got, want)
		}
	}
	if res, err := b.Penalize(t.Context(), req); err != nil || res.Blocked {
		t.Fatalf("check = %+v, %v", res, err)
	}
	if n := client.Exists(t.Context(), key).Val(); n != 0 {
		t.Errorf("a check created the key")
	}
	req.Record = true
	if res, err := b.Penalize(t.Context(), req); err != nil || res.Blocked || res.Denials != 1 {
		t.Fatalf("first denial = %+v, %v", res, err)
	}
	pttl("after a denial", 10*time.Second)
	res, err := b.Penalize(t.Context(), req)
	if err != nil || !res.Blocked || res.BlockedFor != 3*time.Second {
		t.Fatalf("second denial = %+v, %v, want a 3s block", res, err)
	}
	pttl("after a block", 3*time.Second+20*time.Second)
	req.Record = false
	if res, err := b.Penalize(t.Context(), req); err != nil || !res.Blocked || res.BlockedFor > 3*time.Second || res.BlockedFor < 2*time.Second {
		t.Errorf("check during the block = %+v, %v, want blocked with under 3s left", res, err)
	}
	if err := b.Reset(t.Context(), req.Namespace, req.Key); err != nil {
		t.Fatal(err)
	}
	if n := client.Exists(t.Context(), key).Val(); n != 0 {
		t.Errorf("Reset left the penalty key")
	}
}

// TestPenaltySharedByInstances runs two Limiters, as two instances of a
// service would, on one Redis: a client blocked through one is blocked
// through the other, with the same Retry-After.
func TestPenaltySharedByInstances(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rule := core.Rule{
		Limits:  []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 3, Window: time.Minute, Base: 5 * time.Minute},
	}
	var lims [2]*core.Limiter
	for i := range lims {
		lim, err := core.New(core.WithBackend(New(client, WithCallerClock(), withExpirySlack(suiteSlack))),
			core.WithClock(clk), core.WithRules(rule))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lim.Close() })
		lims[i] = lim
	}
	req := core.Request{Method: "GET", Path: "/", RemoteAddr: "192.0.2.1:1"}
	// The third request is denied by the second instance's deny cache; it
	// counts towards the block all the same.
	for i, step := range []struct {
		inst    int
		want    core.Outcome
		blocked bool
	}{{0, core.Allowed, false}, {1, core.Denied, false}, {1, core.Denied, false}, {0, core.Denied, true}} {
		d, err := lims[step.inst].Decide(t.Context(), req)
		if err != nil || d.Outcome != step.want || d.Blocked != step.blocked {
			t.Fatalf("request %d: %v, Blocked %v, err %v; want %v, %v", i, d.Outcome, d.Blocked, err, step.want, step.blocked)
		}
	}
	clk.Advance(time.Minute) // the window admits again; the block holds
	for i, lim := range lims {
		d, err := lim.Decide(t.Context(), req)
		if err != nil || d.Outcome != core.Denied || !d.Blocked || d.RetryAfter != 4*time.Minute {
			t.Errorf("instance %d: %v, Blocked %v, RetryAfter %v, err %v; want denied, blocked, 4m", i, d.Outcome, d.Blocked, d.RetryAfter, err)
		}
	}
}

// TestPenaltyMatchesMemory runs one random-ish denial schedule through
// memory and Redis and compares every answer.
func TestPenaltyMatchesMemory(t *testing.T) {
	srv := redistest.Start(t)
	rb := New(newClient(t, srv.Addr), WithCallerClock(), withExpirySlack(suiteSlack))
	mb := memory.New()
	t.Cleanup(func() { mb.Close() })
	pol := backend.Penalty{Threshold: 3, Window: 7 * time.Second, Base: 1100 * time.Millisecond, Multiplier: 1.7, Max: 40 * time.Second, Decay: 25 * time.Second}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var maxLevel int64
	for i := range 400 {
		at = at.Add(time.Duration((i*7919)%3001) * time.Millisecond)
		req := backend.PenaltyRequest{Namespace: "cmp", Key: "k", Policy: pol, Record: i%5 != 0, Now: at}
		got, err := rb.Penalize(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mb.Penalize(t.Context(), req)
		if got != want {
			t.Fatalf("step %d (record %v): redis %+v, memory %+v", i, req.Record, got, want)
		}
		maxLevel = max(maxLevel, got.Level)
	}
	if maxLevel < 4 {
		t.Errorf("the schedule reached k = %d only; make it exercise growth", maxLevel)
	}
}
