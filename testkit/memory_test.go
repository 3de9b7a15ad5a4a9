package testkit_test

import (
	"testing"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit"
)

// The in-memory backend's conformance runs live here, beside the suite,
// so that module core needs no module of its own tests' (testkit imports
// core: requiring it back would make a cycle).

func TestMemoryConformance(t *testing.T) {
	testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
		b := memory.New()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestMemoryConformanceSharedTinyShards runs the suite on one backend shared
// by every subtest, with two shards, so that keys collide in shards and
// tables.
func TestMemoryConformanceSharedTinyShards(t *testing.T) {
	b := memory.New(memory.WithShards(2))
	t.Cleanup(func() { b.Close() })
	testkit.RunBackendSuite(t, func(*testing.T) backend.Backend { return b })
}
