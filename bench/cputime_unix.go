//go:build unix

package bench

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time this process has used, user and system, in
// all its threads, and true; or false where it cannot be read.
func CPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
