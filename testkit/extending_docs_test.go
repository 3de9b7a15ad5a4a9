package testkit_test

import (
	"testing"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit"

	// mybackend stands for the reader's package in the snippet of
	// docs/extending.md; here it is the in-memory backend, so that the
	// snippet compiles and the suite runs (see docs/gen/snippets.go).
	mybackend "github.com/sluicehq/sluice/core/memory"
)

// snippet:backend-suite
func TestConformance(t *testing.T) {
	testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
		b := mybackend.New()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// end snippet:backend-suite
