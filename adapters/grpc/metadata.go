package sluicegrpc

import (
	"context"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"google.golang.org/grpc/metadata"
)

// The metadata keys the interceptors write, lowercase as gRPC sends them.
const (
	// MetadataRateLimit carries the draft-10 RateLimit value: every window
	// of an admitted call with its remaining quota and the seconds until it
	// has more (`"api-s";r=7;t=1`), or, for a denial, the violated windows
	// with the seconds until they admit the call.
	MetadataRateLimit = "ratelimit"
	// MetadataRateLimitPolicy carries the draft-10 RateLimit-Policy value:
	// every window of the rule (`"api-s";q=10;w=1, "api-h";q=1000;w=3600`).
	MetadataRateLimitPolicy = "ratelimit-policy"
	// MetadataRetryAfter carries the seconds to wait before retrying a
	// denied call, rounded up and never 0, as HTTP's Retry-After does.
	MetadataRetryAfter = "retry-after"
	// MetadataRetryPushback is the trailer gRPC's built-in retry reads: the
	// whole milliseconds to wait before the next attempt, rounded up.
	MetadataRetryPushback = "grpc-retry-pushback-ms"
)

// seconds converts a duration to whole seconds, rounding up, as the HTTP
// contract does: a client told to wait "0" seconds when 300ms remain would
// retry too early.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// millis converts a duration to whole milliseconds, rounding up, and never
// less than 1: the pushback of a denial must not tell a client to retry at
// once.
func millis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return max(1, ms)
}

// limited reports whether a decision's rule is advertised in metadata:
// not for exempt or failed decisions (which have no windows), nor for a
// shadow rule, which must change nothing clients can see.
func limited(d *core.Decision) bool { return !d.Shadow && len(d.Windows()) > 0 }

// appendRateLimit appends the RateLimit value of d, as package
// httpcontract writes the RateLimit field: every window of an admitted
// call with its remaining quota and t, the seconds until the window has
// more quota (draft-10's t, not the time until all of it is back), or, for
// a denial, the violated windows with the seconds until they admit the
// call.
func appendRateLimit(b []byte, d *core.Decision, denied bool) []byte {
	first := true
	for _, w := range d.Windows() {
		t := w.NextAfter
		if denied {
			if w.RetryAfter <= 0 {
				continue
			}
			t = w.RetryAfter
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendSFString(b, w.Limit.Name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, max(0, w.Remaining), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, seconds(t), 10)
	}
	return b
}

// appendSFString appends s as a structured-field string (RFC 9651): quoted,
// with '"' and '\' escaped. Characters outside printable ASCII, which the
// syntax cannot carry, become '_'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// policies caches the RateLimit-Policy value per rule, since it only
// changes when the rule does.
type policies struct{ m sync.Map } // rule name -> *policyEntry

type policyEntry struct {
	alg    backend.Algorithm
	limits [backend.MaxWindows]core.Limit
	n      int
	value  string
}

func (p *policyEntry) matches(alg backend.Algorithm, ws []core.WindowState) bool {
	if alg != p.alg || len(ws) != p.n {
		return false
	}
	for i, w := range ws {
		if w.Limit != p.limits[i] {
			return false
		}
	}
	return true
}

// policy returns the RateLimit-Policy value of d's rule.
func (ps *policies) policy(d *core.Decision) string {
	ws := d.Windows()
	if v, ok := ps.m.Load(d.Rule); ok {
		if p := v.(*policyEntry); p.matches(d.Algorithm, ws) {
			return p.value
		}
	}
	p := &policyEntry{alg: d.Algorithm, n: len(ws)}
	var b []byte
	for i, w := range ws {
		p.limits[i] = w.Limit
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendSFString(b, w.Limit.Name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, w.Limit.N, 10)
		if d.Algorithm != backend.Concurrency { // a concurrency limit has no window
			b = append(b, ";w="...)
			b = strconv.AppendInt(b, seconds(w.Limit.Per), 10)
		}
	}
	p.value = string(b)
	ps.m.Store(d.Rule, p)
	return p.value
}

// headerMD returns the header metadata of an admitted call: its RateLimit
// and RateLimit-Policy values.
func (ps *policies) headerMD(d *core.Decision) metadata.MD {
	// The RateLimit value and the two value slices are one allocation:
	// the bytes are never written again once formatted, so the string may
	// share them (as strings.Builder does); a value too long for buf moves
	// to a slice of its own, shared the same way.
	blk := new(mdBlock)
	b := appendRateLimit(blk.buf[:0], d, false)
	blk.vals = [2]string{unsafe.String(unsafe.SliceData(b), len(b)), ps.policy(d)}
	return metadata.MD{MetadataRateLimit: blk.vals[0:1:1], MetadataRateLimitPolicy: blk.vals[1:2:2]}
}

// mdBlock is the memory behind an admitted call's header metadata: the
// value slices and the bytes of the RateLimit value, which 64 bytes hold
// for a rule whose window names are short.
type mdBlock struct {
	vals [2]string
	buf  [64]byte
}

// incomingHeader is a core.Header over a call's incoming metadata, so that
// package identify reads forwarding headers and API keys from metadata as
// it reads them from HTTP headers. gRPC keeps metadata keys in lower case;
// Get and Values take any case, such as the canonical "X-Forwarded-For".
type incomingHeader struct{ ctx context.Context }

// Get returns the first value of the named key, or "".
func (h *incomingHeader) Get(name string) string {
	if v := h.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of the named key, in order.
func (h *incomingHeader) Values(name string) []string {
	// ValueFromIncomingContext looks a lowercase key up directly and
	// compares any other case-insensitively with every key, without
	// allocating; the common canonical names skip that scan.
	return metadata.ValueFromIncomingContext(h.ctx, lowerKey(name))
}

// lowerKey returns name in lower case when that is free: when it already
// is, or is one of the header names identifiers commonly read. Any other
// name is returned as it is.
func lowerKey(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			switch name {
			case "X-Forwarded-For":
				return "x-forwarded-for"
			case "Forwarded":
				return "forwarded"
			case "Authorization":
				return "authorization"
			case "X-Api-Key", "X-API-Key":
				return "x-api-key"
			case "X-Real-Ip", "X-Real-IP":
				return "x-real-ip"
			case "Cf-Connecting-Ip", "CF-Connecting-IP":
				return "cf-connecting-ip"
			case "True-Client-Ip", "True-Client-IP":
				return "true-client-ip"
			}
			return name
		}
	}
	return name
}
