package sluiceotel_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// decision is a typical denial, as core hands it to an Observer.
var decision = core.Decision{Outcome: core.Denied, Rule: "api", Client: core.Identity{Kind: core.KindIP, Value: "192.0.2.1"}, Limit: 10, RetryAfter: time.Second}

func BenchmarkObserveDecision(b *testing.B) {
	m, _ := newMetrics(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveDecision(core.Request{}, decision)
		}
	})
}

func BenchmarkObserveBackend(b *testing.B) {
	m, _ := newMetrics(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveBackend("redis", "apply", 300*time.Microsecond, nil)
		}
	})
}

// TestRecordingDoesNotAllocate: once a rule and a backend have been seen,
// recording a decision or a backend call allocates nothing.
func TestRecordingDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m, _ := newMetrics(t)
	m.ObserveDecision(core.Request{}, decision)
	m.ObserveBackend("redis", "apply", time.Millisecond, nil)
	if n := testing.AllocsPerRun(100, func() { m.ObserveDecision(core.Request{}, decision) }); n != 0 {
		t.Errorf("ObserveDecision: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveBackend("redis", "apply", time.Millisecond, nil) }); n != 0 {
		t.Errorf("ObserveBackend: %v allocations, want 0", n)
	}
}
