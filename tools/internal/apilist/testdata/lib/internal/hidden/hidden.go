// Package hidden is internal: not listed.
package hidden

// T is exported from an internal package.
type T struct{}

// F is exported from an internal package.
func F() {}
