//go:build race

package sluiceotel_test

// raceEnabled reports whether the race detector is on: it makes
// allocations that the code does not.
const raceEnabled = true
