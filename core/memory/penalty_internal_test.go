package memory

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// TestPenaltyStateFreesItself checks that penalty state is swept once the
// denial window, or the block and its decay, have ended, and not before.
func TestPenaltyStateFreesItself(t *testing.T) {
	b := New(WithSweepInterval(0))
	defer b.Close()
	epoch := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pol := backend.Penalty{Threshold: 2, Window: 10 * time.Second, Base: time.Second, Multiplier: 2, Max: time.Minute, Decay: 30 * time.Second}
	req := backend.PenaltyRequest{Namespace: "ns", Key: "denied-once", Policy: pol, Record: true, Now: epoch}
	if _, err := b.Penalize(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	req.Key = "blocked"
	b.Penalize(t.Context(), req)
	if res, _ := b.Penalize(t.Context(), req); !res.Blocked {
		t.Fatalf("second denial: %+v, want a block", res)
	}
	req.Record, req.Key = false, "checked-only"
	b.Penalize(t.Context(), req)
	for _, step := range []struct {
		at   time.Duration
		want int
	}{
		{0, 2}, // a check stores nothing
		{10*time.Second - 1, 2},
		{10 * time.Second, 1}, // the single denial's window closed
		{31*time.Second - 1, 1},
		{31 * time.Second, 0}, // the block ended at 1s, and 30s of decay
	} {
		b.sweep(epoch.Add(step.at).UnixNano())
		if got := b.len(); got != step.want {
			t.Errorf("after a sweep at %v: Len = %d, want %d", step.at, got, step.want)
		}
	}
}

func TestPenaltyInvalidPolicy(t *testing.T) {
	b := New(WithSweepInterval(0))
	defer b.Close()
	for _, p := range []backend.Penalty{
		{},
		{Threshold: 1, Window: time.Second, Base: time.Second, Multiplier: 0.5, Max: time.Second},
		{Threshold: 1, Window: time.Second, Base: time.Second, Multiplier: 2, Max: time.Millisecond},
	} {
		if _, err := b.Penalize(t.Context(), backend.PenaltyRequest{Policy: p}); err == nil {
			t.Errorf("Penalize with %+v: nil error, want ErrInvalidRequest", p)
		}
	}
}
