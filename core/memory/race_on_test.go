//go:build race

package memory

// raceEnabled reports whether the race detector is on: the flood test is
// too slow under it, and measures the heap, which it inflates.
const raceEnabled = true
