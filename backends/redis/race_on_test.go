//go:build race

package sluiceredis

const raceEnabled = true
