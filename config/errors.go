package sluiceconfig

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one invalid setting: its path ("rules[2].windows[0]"), the
// offending value (nil when there is none, as for an unknown key) and what
// is wrong.
type FieldError struct {
	Path  string
	Value any
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Value != nil {
		b.WriteString(": ")
		if s, ok := e.Value.(string); ok {
			fmt.Fprintf(&b, "%q", s)
		} else {
			fmt.Fprintf(&b, "%v", e.Value)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem a configuration has. Load and the Watcher return
// it so that an operator sees all of them at once.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sluiceconfig: %d invalid setting(s):", len(es))
	for _, e := range es {
		b.WriteString("\n\t")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	return es
}
