package testkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// runPenaltySuite runs the progressive-penalty subtests, "penalty/...",
// for a backend that implements backend.Penalizer; each subtest skips when
// the backend does not.
func runPenaltySuite(t *testing.T, cfg *backendConfig, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		f    func(*penaltyHarness)
	}{
		{"sequence/threshold-growth-cap", testPenaltySequence},
		{"sequence/fractional-multiplier", testPenaltyFractional},
		{"sequence/decay", testPenaltyDecay},
		{"check-changes-nothing", testPenaltyCheck},
		{"key-isolation", testPenaltyIsolation},
		{"reset", testPenaltyReset},
		{"concurrent-exactness", testPenaltyConcurrent},
	}
	for _, tc := range tests {
		t.Run("penalty/"+tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), cfg.timeout)
			defer cancel()
			b := newBackend(t)
			p, ok := b.(backend.Penalizer)
			if !ok {
				t.Skip("the backend does not implement backend.Penalizer")
			}
			h := &penaltyHarness{t: t, ctx: ctx, b: b, p: p, ns: "testkit:" + t.Name()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				tc.f(h)
			}()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatalf("subtest did not finish within %v: is the backend deadlocked?", cfg.timeout)
			}
		})
	}
}

type penaltyHarness struct {
	t   *testing.T
	ctx context.Context
	b   backend.Backend
	p   backend.Penalizer
	ns  string
}

// pstep is one Penalize call of an exact sequence and the answer it must
// get.
type pstep struct {
	at     time.Duration // since Epoch
	record bool

	blocked    bool
	blockedFor time.Duration
	denials    int64
	level      int64
}

// rec and chk build steps: a recorded denial, and a check.
func rec(at time.Duration, blocked bool, blockedFor time.Duration, denials, level int64) pstep {
	return pstep{at, true, blocked, blockedFor, denials, level}
}

func chk(at time.Duration, blocked bool, blockedFor time.Duration, denials, level int64) pstep {
	return pstep{at, false, blocked, blockedFor, denials, level}
}

func (h *penaltyHarness) penalize(key string, pol backend.Penalty, at time.Duration, record bool) (backend.PenaltyResult, bool) {
	h.t.Helper()
	res, err := h.p.Penalize(h.ctx, backend.PenaltyRequest{Namespace: h.ns, Key: key, Policy: pol, Record: record, Now: Epoch.Add(at)})
	if err != nil {
		h.t.Errorf("Penalize(key=%q, record=%v, at=%v): unexpected error: %v", key, record, at, err)
		return res, false
	}
	return res, true
}

func (h *penaltyHarness) steps(key string, pol backend.Penalty, steps []pstep) {
	h.t.Helper()
	for i, s := range steps {
		res, ok := h.penalize(key, pol, s.at, s.record)
		if !ok {
			continue
		}
		var problems []string
		if res.Blocked != s.blocked {
			problems = append(problems, fmt.Sprintf("Blocked = %v, want %v", res.Blocked, s.blocked))
		}
		problems = append(problems, durationProblem("BlockedFor", res.BlockedFor, s.blockedFor)...)
		if res.Denials != s.denials {
			problems = append(problems, fmt.Sprintf("Denials = %d, want %d", res.Denials, s.denials))
		}
		if res.Level != s.level {
			problems = append(problems, fmt.Sprintf("Level = %d, want %d", res.Level, s.level))
		}
		if len(problems) > 0 {
			h.t.Errorf("step %d (at %v, record %v): %s", i, s.at, s.record, strings.Join(problems, "; "))
		}
	}
}

// basePolicy: 3 denials within 10s block for 1s, 2s, 4s, then 5s (the cap);
// 30s after a block ends without another, blocks start at 1s again.
var basePolicy = backend.Penalty{
	Threshold: 3, Window: 10 * time.Second, Base: time.Second,
	Multiplier: 2, Max: 5 * time.Second, Decay: 30 * time.Second,
}

func testPenaltySequence(h *penaltyHarness) {
	s := time.Second
	h.steps("client", basePolicy, []pstep{
		chk(0, false, 0, 0, 0), // unknown client
		rec(0, false, 0, 1, 0),
		rec(1*s, false, 0, 2, 0),
		chk(2*s, false, 0, 2, 0),
		rec(2*s, true, 1*s, 0, 1), // the third denial: a Base block
		chk(2500*ms, true, 500*ms, 0, 1),
		rec(2500*ms, true, 500*ms, 0, 1), // a denial during a block is not counted
		chk(3*s, false, 0, 0, 1),         // the block ends at 3s exactly
		rec(3*s, false, 0, 1, 1),
		rec(3*s, false, 0, 2, 1),
		rec(3*s, true, 2*s, 0, 2), // Base × 2
		rec(5*s, false, 0, 1, 2),
		rec(5*s, false, 0, 2, 2),
		rec(5*s, true, 4*s, 0, 3), // Base × 2²
		rec(9*s, false, 0, 1, 3),
		rec(9*s, false, 0, 2, 3),
		rec(9*s, true, 5*s, 0, 4), // 8s, capped at Max
		chk(13*s, true, 1*s, 0, 4),
		rec(14*s, false, 0, 1, 4),
		rec(14*s, false, 0, 2, 4),
		rec(14*s, true, 5*s, 0, 5), // stays at Max
		// Denials spread wider than Window never block.
		rec(19*s, false, 0, 1, 5),
		rec(28*s, false, 0, 2, 5),
		rec(29*s, false, 0, 1, 5), // the window opened at 19s closed at 29s
		rec(38*s, false, 0, 2, 5),
		chk(39*s, false, 0, 0, 5), // and the window of 29s closed too
	})
}

func testPenaltyFractional(h *penaltyHarness) {
	pol := backend.Penalty{Threshold: 1, Window: time.Second, Base: time.Second, Multiplier: 1.5, Max: 4 * time.Second, Decay: time.Hour}
	h.steps("client", pol, []pstep{
		rec(0, true, 1000*ms, 0, 1), // a Threshold of 1 blocks at the first denial
		rec(1000*ms, true, 1500*ms, 0, 2),
		rec(2500*ms, true, 2250*ms, 0, 3),
		rec(4750*ms, true, 3375*ms, 0, 4),
		rec(8125*ms, true, 4000*ms, 0, 5), // 5.0625s, capped
	})
}

func testPenaltyDecay(h *penaltyHarness) {
	s := time.Second
	pol := basePolicy
	pol.Threshold = 1
	h.steps("client", pol, []pstep{
		rec(0, true, 1*s, 0, 1),
		rec(1*s, true, 2*s, 0, 2),
		rec(3*s, true, 4*s, 0, 3), // the last block ends at 7s
		chk(36*s, false, 0, 0, 3), // 29s of good behaviour: k stays
		chk(37*s, false, 0, 0, 0), // 30s: k has decayed
		rec(37*s, true, 1*s, 0, 1),
		rec(40*s, true, 2*s, 0, 2), // 2s after the last block: k still counts
	})
	// A denial after the decay, short of the threshold, also starts again.
	h.steps("other", basePolicy, []pstep{
		rec(0, false, 0, 1, 0),
		rec(0, false, 0, 2, 0),
		rec(0, true, 1*s, 0, 1),
		rec(31*s, false, 0, 1, 0),
		rec(31*s, false, 0, 2, 0),
		rec(31*s, true, 1*s, 0, 1),
	})
}

func testPenaltyCheck(h *penaltyHarness) {
	for i := range 10 {
		if r, ok := h.penalize("client", basePolicy, time.Duration(i)*ms, false); ok && (r.Blocked || r.Denials != 0) {
			h.t.Fatalf("check %d of a fresh client: Blocked = %v, Denials = %d, want false, 0 (a check must record nothing)", i, r.Blocked, r.Denials)
		}
	}
	h.penalize("client", basePolicy, 0, true)
	for i := range 10 {
		if r, ok := h.penalize("client", basePolicy, 0, false); ok && r.Denials != 1 {
			h.t.Fatalf("check %d: Denials = %d, want 1 (a check must record nothing)", i, r.Denials)
		}
	}
}

func testPenaltyIsolation(h *penaltyHarness) {
	pol := basePolicy
	pol.Threshold = 100
	keys := isolationKeys()
	for i, k := range keys {
		for range i + 1 {
			h.penalize(k, pol, 0, true)
		}
	}
	for i, k := range keys {
		if r, ok := h.penalize(k, pol, 0, false); ok && r.Denials != int64(i+1) {
			h.t.Errorf("key %q: Denials = %d, want %d: it shares penalty state with another key", k, r.Denials, i+1)
		}
	}
	// Blocking one client leaves its neighbour, and the same key's
	// rate-limit state, alone.
	pol.Threshold = 1
	h.penalize("blocked", pol, 0, true)
	if r, ok := h.penalize("blocked-not", pol, 0, false); ok && r.Blocked {
		h.t.Error("blocking one key blocked another")
	}
	w := []backend.Window{{Limit: 1, Period: time.Hour}}
	if r, err := h.b.Apply(h.ctx, backend.Request{Namespace: h.ns, Key: "blocked", Windows: w, Now: Epoch}); err != nil || !r.Allowed || r.Windows[0].Remaining != 1 {
		h.t.Errorf("peek of a blocked key's window: %+v, %v; want its own untouched state", r, err)
	}
	pairs := [][2]string{{h.ns + "a", "b"}, {h.ns, "ab"}, {h.ns + ":a", "b"}, {h.ns, ":ab"}}
	req := backend.PenaltyRequest{Namespace: pairs[0][0], Key: pairs[0][1], Policy: pol, Record: true, Now: Epoch}
	if _, err := h.p.Penalize(h.ctx, req); err != nil {
		h.t.Fatalf("Penalize: %v", err)
	}
	for _, p := range pairs[1:] {
		req := backend.PenaltyRequest{Namespace: p[0], Key: p[1], Policy: pol, Now: Epoch}
		if r, err := h.p.Penalize(h.ctx, req); err == nil && r.Blocked {
			h.t.Errorf("namespace %q key %q is blocked by namespace %q key %q: namespace and key run together", p[0], p[1], pairs[0][0], pairs[0][1])
		}
	}
}

func testPenaltyReset(h *penaltyHarness) {
	pol := basePolicy
	pol.Threshold = 1
	h.penalize("client", pol, 0, true)
	h.penalize("neighbour", pol, 0, true)
	if err := h.b.Reset(h.ctx, h.ns, "client"); err != nil {
		h.t.Fatalf("Reset: %v", err)
	}
	if r, ok := h.penalize("client", pol, 0, false); ok && (r.Blocked || r.Level != 0) {
		h.t.Errorf("after Reset: Blocked = %v, Level = %d, want false, 0 (Reset forgets penalty state)", r.Blocked, r.Level)
	}
	if r, ok := h.penalize("neighbour", pol, 0, false); ok && !r.Blocked {
		h.t.Error("Reset of one key unblocked another")
	}
}

// testPenaltyConcurrent records threshold denials at once: exactly one of
// them starts the block.
func testPenaltyConcurrent(h *penaltyHarness) {
	const workers, attempts = 16, 10
	pol := basePolicy
	pol.Threshold = workers * attempts
	var blocks atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for range attempts {
				res, err := h.p.Penalize(h.ctx, backend.PenaltyRequest{Namespace: h.ns, Key: "hot", Policy: pol, Record: true, Now: Epoch})
				if err != nil {
					h.t.Errorf("Penalize: %v", err)
					return
				}
				if res.Blocked && res.BlockedFor == pol.Base {
					blocks.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if got := blocks.Load(); got != 1 {
		h.t.Errorf("%d concurrent denials with a threshold of %d: %d started a block, want exactly 1", pol.Threshold, pol.Threshold, got)
	}
	if r, ok := h.penalize("hot", pol, 0, false); ok && (!r.Blocked || r.Level != 1) {
		h.t.Errorf("after the race: Blocked = %v, Level = %d, want true, 1", r.Blocked, r.Level)
	}
}
