package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// TestDecideDoesNotAllocate: a decision for a client whose state exists
// allocates nothing, for every algorithm but the concurrency limit (whose
// lease is a new slot) and for a denial as for an admission. The
// benchmarks report the same; this test fails the build when it changes.
func TestDecideDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog} {
		for _, limit := range []int64{1 << 40, 1} { // admitted, then denied
			t.Run(alg.String(), func(t *testing.T) {
				lim, clk := newLimiter(t, core.WithRules(core.Rule{Name: "api", Algorithm: alg, Limits: []core.Limit{core.PerSecond(limit)}}))
				req := get("/", "203.0.113.7:51234")
				want := decide(t, lim, req).Outcome // creates the state
				if limit == 1 {
					want = core.Denied
				}
				ctx := t.Context()
				allocs := testing.AllocsPerRun(200, func() {
					clk.Advance(time.Microsecond)
					d, err := lim.Decide(ctx, req)
					if err != nil || d.Outcome != want {
						t.Fatalf("Decide = %v, %v; want %v", d.Outcome, err, want)
					}
				})
				if allocs != 0 {
					t.Errorf("Decide (%v) allocates %v times per call, want 0", want, allocs)
				}
			})
		}
	}
}

// TestTakeDoesNotAllocate: the keyed call, like Decide, allocates nothing
// for a key whose state exists, admitted or denied, with or without an
// observer.
func TestTakeDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog} {
		for _, limit := range []int64{1 << 40, 1} { // admitted, then denied
			for _, observed := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/limit=%d/observed=%v", alg, limit, observed), func(t *testing.T) {
					opts := []core.Option{core.WithRules(core.Rule{Name: "jobs", NameOnly: true, Algorithm: alg, Limits: []core.Limit{core.PerSecond(limit)}})}
					if observed {
						opts = append(opts, core.WithObserver(nopObserver{}))
					}
					lim, clk := newLimiter(t, opts...)
					want := take(t, lim, "jobs", "tenant-7", 1).Outcome // creates the state
					if limit == 1 {
						want = core.Denied
					}
					ctx := t.Context()
					allocs := testing.AllocsPerRun(200, func() {
						clk.Advance(time.Microsecond)
						d, err := lim.Take(ctx, "jobs", "tenant-7", 1)
						if err != nil || d.Outcome != want {
							t.Fatalf("Take = %v, %v; want %v", d.Outcome, err, want)
						}
					})
					if allocs != 0 {
						t.Errorf("Take (%v) allocates %v times per call, want 0", want, allocs)
					}
				})
			}
		}
	}
}

// nopObserver observes nothing: what a decision costs with an observer.
type nopObserver struct{}

func (nopObserver) ObserveDecision(core.Request, core.Decision)         {}
func (nopObserver) ObserveBackend(string, string, time.Duration, error) {}
func (nopObserver) ObserveBreaker(string, string)                       {}
