package core

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/core/backend"
)

// ErrClosed is returned by a Limiter's methods after Close.
var ErrClosed = errors.New("sluice: limiter closed")

// ErrBackendUnavailable wraps every backend failure a Decision reports in
// its Err field, so callers can test for it with errors.Is.
var ErrBackendUnavailable = errors.New("sluice: backend unavailable")

// unknownRule is the error of a call that names a rule the Limiter does
// not have.
func unknownRule(name string) error {
	return fmt.Errorf("%w: no rule named %q", backend.ErrInvalidRequest, name)
}

// errNoClient is the error of a request the Limiter cannot attribute to a
// client: counting it anyway would put every such request in one shared
// counter.
var errNoClient = fmt.Errorf("%w: the request names no client (no identity, and no remote address)", backend.ErrInvalidRequest)
