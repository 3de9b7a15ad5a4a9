//go:build race

package main

// raceEnabled reports that the tests run under the race detector, which
// makes rendering about thirty times slower.
const raceEnabled = true
