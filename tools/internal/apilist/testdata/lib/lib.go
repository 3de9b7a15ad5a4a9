// Package lib is a package whose API the apilist tests read.
package lib

import (
	"context"
	"io"

	"example.com/lib/internal/hidden"
)

// Seconds is an exported constant.
const Seconds, unexportedConst = 60, 1

// Kind is a named string type.
type Kind string

// The kinds.
const (
	KindA Kind = "a"
	KindB Kind = "b"
)

// Default is an exported variable.
var Default = New(KindA)

// Thing is a struct with exported and unexported fields.
type Thing struct {
	io.Reader
	Name  string
	Hook  func(ctx context.Context, n int) (ok bool, err error)
	inner hidden.T
}

// New makes a Thing.
func New(k Kind, opts ...Option) *Thing { return &Thing{Name: string(k)} }

// Close is a method on a pointer.
func (t *Thing) Close() error { return nil }

// String is a method on a value.
func (t Thing) String() string { return t.Name }

func (t *Thing) unexported() {}

// Option is an interface with an unexported method.
type Option interface {
	Apply(t *Thing) error
	apply()
}

// Store is an interface that embeds another.
type Store interface {
	io.Closer
	Get(ctx context.Context, key string) ([]byte, error)
}

// Alias is an alias.
type Alias = Thing

// Pair is generic.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

// Map is a generic function.
func Map[T, U any](xs []T, f func(x T) U) []U { return nil }

type unexportedType struct{}

// Method on an unexported type: not counted, not listed.
func (unexportedType) Exported() {}
