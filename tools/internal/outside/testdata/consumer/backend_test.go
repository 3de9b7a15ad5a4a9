package main

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit"
)

// countingBackend is the user's own backend: it keeps its state in the
// in-memory backend and counts the decisions it makes.
type countingBackend struct {
	backend.Backend
	applied atomic.Int64
}

var _ backend.Backend = (*countingBackend)(nil)

func (b *countingBackend) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	b.applied.Add(1)
	return b.Backend.Apply(ctx, req)
}

// TestBackend runs Sluice's backend conformance suite against it, as the
// README promises a user can.
func TestBackend(t *testing.T) {
	var all atomic.Int64
	testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
		mem := memory.New()
		b := &countingBackend{Backend: mem}
		t.Cleanup(func() {
			all.Add(b.applied.Load())
			mem.Close()
		})
		return b
	})
	t.Cleanup(func() {
		if all.Load() == 0 {
			t.Error("the suite never called the user's backend")
		}
	})
}
