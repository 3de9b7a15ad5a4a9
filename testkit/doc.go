// Package testkit holds Sluice's conformance suites: one function call runs
// every behaviour a backend (or, later, an HTTP adapter) must have, against
// your implementation as much as ours.
//
//	func TestMyBackend(t *testing.T) {
//		testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
//			b := mybackend.New(...)
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// The suites use only the standard library's testing package. They run their
// subtests in parallel; run them under -race.
package testkit
