package core

import "errors"

// ErrClosed is returned by a Limiter's methods after Close.
var ErrClosed = errors.New("sluice: limiter closed")

// ErrBackendUnavailable wraps every backend failure a Decision reports in
// its Err field, so callers can test for it with errors.Is.
var ErrBackendUnavailable = errors.New("sluice: backend unavailable")
