//go:build !unix

package bench

import "time"

// CPUTime returns false: this system's CPU time is not read here.
func CPUTime() (time.Duration, bool) { return 0, false }
