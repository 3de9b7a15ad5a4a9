package clock_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

var sinkTime time.Time

// BenchmarkNow compares the Real clock's Now with time.Now, which it
// replaces in every decision.
func BenchmarkNow(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			sinkTime = time.Now()
		}
	})
	b.Run("Real", func(b *testing.B) {
		for b.Loop() {
			sinkTime = clock.Real.Now()
		}
	})
}
