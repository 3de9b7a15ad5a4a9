package httpcontract

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// The header fields the contract writes, in canonical form, so they are
// stored without re-canonicalising.
const (
	keyXLimit      = "X-Ratelimit-Limit"
	keyXRemaining  = "X-Ratelimit-Remaining"
	keyXReset      = "X-Ratelimit-Reset"
	keyLimit       = "Ratelimit-Limit"
	keyRemaining   = "Ratelimit-Remaining"
	keyReset       = "Ratelimit-Reset"
	keyPolicy      = "Ratelimit-Policy"
	keyRateLimit   = "Ratelimit"
	keyRetryAfter  = "Retry-After"
	keyCacheCtl    = "Cache-Control"
	maxHeaderSlots = 9 // the most fields writeHeaders sets: three pairs of trios, RateLimit, Retry-After, and the policy
)

// seconds converts a duration to whole seconds for a header, rounding up:
// a client told to wait "0" seconds when 300ms remain would retry too early.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 { // not d+time.Second-1: that overflows near the maximum
		s++
	}
	return s
}

// retryAfter returns the Retry-After value, in seconds, for a denial: the
// decision's RetryAfter rounded up, and never less than 1.
func retryAfter(d *core.Decision) int64 { return max(1, seconds(d.RetryAfter)) }

// writeHeaders sets the rate-limit header fields of d on h according to
// the configured profiles, and Retry-After when d is a denial. Exempt and
// fail-closed decisions get no rate-limit fields; a fail-open decision gets
// only the limits (the *-Limit fields and RateLimit-Policy), since the
// remaining quota is unknown; a shadow rule's decisions get none unless
// WithShadowHeaders is set.
func (m *Middleware) writeHeaders(h http.Header, d *core.Decision) {
	cfg := &m.cfg
	switch {
	case d.Outcome == core.Exempt || d.Outcome == core.FailedClosed:
		return
	case d.Shadow && !cfg.shadowHeaders:
		return
	}
	failed := d.Outcome == core.FailedOpen
	denied := d.Outcome == core.Denied || d.Outcome == core.ShadowDenied
	// Every value is formatted into one buffer on the stack, then copied,
	// with the value slices the header map keeps, into one allocation
	// sized to what this response sends (none when it sends nothing).
	var (
		stack [160]byte
		b     = stack[:0]
		ends  [maxHeaderSlots - 1]int
		keys  [maxHeaderSlots]string
		n     int
	)
	field := func(k string) { keys[n], ends[n] = k, len(b); n++ }
	trio := func(limit, remaining, reset string, unix bool) {
		b = strconv.AppendInt(b, d.Limit, 10)
		field(limit)
		if failed {
			return
		}
		b = strconv.AppendInt(b, d.Remaining, 10)
		field(remaining)
		r := seconds(d.ResetAfter)
		if unix {
			// The first whole second at or after the reset, so that a
			// decision made at 10.5s does not announce a reset at 30s
			// that happens at 30.5s.
			at := d.At.Add(d.ResetAfter)
			r = at.Unix()
			if at.Nanosecond() != 0 {
				r++
			}
		}
		b = strconv.AppendInt(b, r, 10)
		field(reset)
	}
	if cfg.headers&HeadersTriple != 0 {
		trio(keyLimit, keyRemaining, keyReset, false)
	}
	if cfg.headers&(HeadersX|HeadersXUnix) != 0 {
		trio(keyXLimit, keyXRemaining, keyXReset, cfg.headers&HeadersXUnix != 0)
	}
	if cfg.headers&HeadersDraft10 != 0 && !failed {
		b = appendRateLimit(b, d, denied)
		field(keyRateLimit)
	}
	if d.Outcome == core.Denied {
		b = strconv.AppendInt(b, retryAfter(d), 10)
		field(keyRetryAfter)
	}
	policy := cfg.headers&HeadersDraft10 != 0 && len(d.Windows()) > 0
	if n == 0 && !policy {
		return
	}
	var (
		vals []string
		buf  []byte
	)
	if n < len(smallHeaderBlock{}.vals) && len(b) <= len(smallHeaderBlock{}.buf) {
		blk := new(smallHeaderBlock)
		vals, buf = blk.vals[:], blk.buf[:len(b)]
	} else {
		blk := new(headerBlock)
		vals, buf = blk.vals[:], blk.buf[:]
		if len(b) <= len(buf) {
			buf = buf[:len(b)]
		} else {
			buf = make([]byte, len(b)) // long window names, several profiles
		}
	}
	copy(buf, b)
	// The bytes are never written again, so the strings may share them
	// (as strings.Builder does).
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	from := 0
	for i := range n {
		vals[i] = all[from:ends[i]]
		h[keys[i]] = vals[i : i+1 : i+1]
		from = ends[i]
	}
	if policy {
		vals[n] = m.policy(d)
		h[keyPolicy] = vals[n : n+1 : n+1]
	}
}

// headerBlock is the memory behind one response's rate-limit fields: the
// value slices the header map holds (the formatted fields and the cached
// policy) and the bytes the formatted values share. 160 bytes hold every
// field of a rule whose window names are short, in one profile; longer
// names and more profiles take a slice of their own.
type headerBlock struct {
	vals [maxHeaderSlots]string
	buf  [160]byte
}

// smallHeaderBlock is a headerBlock for the default profile's fields
// (RateLimit, RateLimit-Policy and, on a denial, Retry-After) of short
// names: a third of the size, so the common response allocates and its
// garbage costs less.
type smallHeaderBlock struct {
	vals [3]string
	buf  [64]byte
}

// appendRateLimit appends the RateLimit field: every window of an admitted
// request with its remaining quota and t, the seconds until the window has
// more quota (not until all of it is back: draft-10 says so, and a client
// that slows down on r=0 would otherwise wait for the whole window), or,
// for a denial, the violated windows with the seconds until they admit the
// request, so Retry-After is never earlier than any t.
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

// policy returns the RateLimit-Policy field of d's rule, cached per rule
// since it only changes when the rule does.
func (m *Middleware) policy(d *core.Decision) string {
	ws := d.Windows()
	cached := m.policies.Load()
	if cached != nil {
		// Rules are few, and a scan comparing names is quicker than a
		// hash map's lookup.
		for _, p := range *cached {
			if p.rule == d.Rule && p.matches(d.Algorithm, ws) {
				return p.value
			}
		}
	}
	p := &policyEntry{rule: d.Rule, alg: d.Algorithm, n: len(ws)}
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
	// Copy on write; the entry for a rule whose limits changed replaces
	// the old one, and a set that outgrows maxPolicies starts over, so the
	// cache stays a short scan whatever reloads do.
	var next []*policyEntry
	if cached != nil && len(*cached) < maxPolicies {
		for _, q := range *cached {
			if q.rule != p.rule {
				next = append(next, q)
			}
		}
	}
	next = append(next, p)
	m.policies.CompareAndSwap(cached, &next) // a lost race only costs a rebuild
	return p.value
}

// maxPolicies bounds the policy cache: beyond it, rules are many, and the
// fields are rebuilt as they come.
const maxPolicies = 64

type policyEntry struct {
	rule string // the rule's name
	// alg is part of the key: a concurrency limit and a window can have
	// equal Limits (N, and Per set to the lease) but different fields.
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
