package httpcontract

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/core"
)

// The header field names the contract writes.
const (
	HeaderLimit      = "X-RateLimit-Limit"
	HeaderRemaining  = "X-RateLimit-Remaining"
	HeaderReset      = "X-RateLimit-Reset"
	HeaderPolicy     = "RateLimit-Policy"
	HeaderRateLimit  = "RateLimit"
	HeaderRetryAfter = "Retry-After"
)

// Canonical forms, so headers can be stored without re-canonicalising.
var (
	keyLimit      = http.CanonicalHeaderKey(HeaderLimit)
	keyRemaining  = http.CanonicalHeaderKey(HeaderRemaining)
	keyReset      = http.CanonicalHeaderKey(HeaderReset)
	keyPolicy     = http.CanonicalHeaderKey(HeaderPolicy)
	keyRateLimit  = http.CanonicalHeaderKey(HeaderRateLimit)
	keyRetryAfter = http.CanonicalHeaderKey(HeaderRetryAfter)
)

// Seconds converts a duration to whole seconds for a header, rounding up:
// a client told to wait "0" seconds when 300ms remain would retry too early.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 { // not d+time.Second-1: that overflows near the maximum
		s++
	}
	return s
}

// RetryAfter returns the Retry-After value, in seconds, for a denial: the
// decision's RetryAfter rounded up, and never less than 1.
func RetryAfter(d *core.Decision) int64 { return max(1, Seconds(d.RetryAfter)) }

// WriteHeaders sets the rate-limit header fields of d on h according to the
// configured header set, and Retry-After when d is a denial. Exempt and
// fail-closed decisions get no rate-limit fields; a fail-open decision gets
// only X-RateLimit-Limit, since the remaining quota is unknown; a shadow
// rule's decisions get none unless WithShadowHeaders is set.
func (m *Middleware) WriteHeaders(h http.Header, d *core.Decision) {
	cfg := &m.cfg
	switch {
	case d.Outcome == core.Exempt || d.Outcome == core.FailClosed:
		return
	case d.Shadow && !cfg.shadowHeaders:
		return
	case d.Outcome == core.FailOpen:
		if cfg.headers.legacy() {
			h[keyLimit] = []string{strconv.FormatInt(d.Limit, 10)}
		}
		return
	}
	denied := d.Outcome == core.Denied || d.Outcome == core.ShadowDenied
	// Every value is formatted into one buffer, and the buffer and the
	// value slices the header map keeps are one allocation for all fields.
	var (
		blk  = new(headerBlock)
		b    = blk.buf[:0]
		ends [len(blk.vals) - 1]int
		keys [len(blk.vals)]string
		n    int
	)
	field := func(k string) { keys[n], ends[n] = k, len(b); n++ }
	if cfg.headers.legacy() {
		b = strconv.AppendInt(b, d.Limit, 10)
		field(keyLimit)
		b = strconv.AppendInt(b, d.Remaining, 10)
		field(keyRemaining)
		reset := Seconds(d.ResetAfter)
		if cfg.reset == ResetUnix {
			// The first whole second at or after the reset, so that a
			// decision made at 10.5s does not announce a reset at 30s
			// that happens at 30.5s.
			at := d.At.Add(d.ResetAfter)
			reset = at.Unix()
			if at.Nanosecond() != 0 {
				reset++
			}
		}
		b = strconv.AppendInt(b, reset, 10)
		field(keyReset)
	}
	if cfg.headers.ietf() {
		b = appendRateLimit(b, d, denied)
		field(keyRateLimit)
	}
	if d.Outcome == core.Denied {
		b = strconv.AppendInt(b, RetryAfter(d), 10)
		field(keyRetryAfter)
	}
	// The bytes are never written again, so the string may share them (as
	// strings.Builder does); long window names may have moved b off blk.buf
	// to a slice of its own, which is shared the same way.
	all := unsafe.String(unsafe.SliceData(b), len(b))
	vals := blk.vals[:]
	from := 0
	for i := range n {
		vals[i] = all[from:ends[i]]
		h[keys[i]] = vals[i : i+1 : i+1]
		from = ends[i]
	}
	if cfg.headers.ietf() {
		vals[n] = m.policy(d)
		h[keyPolicy] = vals[n : n+1 : n+1]
	}
}

// headerBlock is the memory behind one response's rate-limit fields: the
// value slices the header map holds (up to five formatted fields and the
// cached policy) and the bytes the formatted values share. 160 bytes hold
// every field of a rule whose window names are short; longer names spill
// into a slice of their own.
type headerBlock struct {
	vals [6]string
	buf  [160]byte
}

// appendRateLimit appends the RateLimit field: every window of an admitted
// request with its remaining quota and the seconds until it resets, or, for
// a denial, the violated windows with the seconds until they admit the
// request, so Retry-After is never earlier than any t.
func appendRateLimit(b []byte, d *core.Decision, denied bool) []byte {
	first := true
	for _, w := range d.Windows() {
		t := w.ResetAfter
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
		b = strconv.AppendInt(b, Seconds(t), 10)
	}
	return b
}

// policy returns the RateLimit-Policy field of d's rule, cached per rule
// since it only changes when the rule does.
func (m *Middleware) policy(d *core.Decision) string {
	ws := d.Windows()
	if v, ok := m.policies.Load(d.Rule); ok {
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
		if d.Algorithm != core.Concurrency { // a concurrency limit has no window
			b = append(b, ";w="...)
			b = strconv.AppendInt(b, Seconds(w.Limit.Per), 10)
		}
	}
	p.value = string(b)
	m.policies.Store(d.Rule, p)
	return p.value
}

type policyEntry struct {
	// alg is part of the key: a concurrency limit and a window can have
	// equal Limits (N, and Per set to the lease) but different fields.
	alg    core.Algorithm
	limits [core.MaxWindows]core.Limit
	n      int
	value  string
}

func (p *policyEntry) matches(alg core.Algorithm, ws []core.WindowState) bool {
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
