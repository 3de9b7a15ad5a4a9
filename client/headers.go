package sluiceclient

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// The response header fields the transport reads, in canonical form.
const (
	fieldRetryAfter = "Retry-After"

	// draft-ietf-httpapi-ratelimit-headers-10
	fieldRateLimit = "Ratelimit"
	fieldPolicy    = "Ratelimit-Policy"

	// the earlier drafts' trio
	fieldLimit     = "Ratelimit-Limit"
	fieldRemaining = "Ratelimit-Remaining"
	fieldReset     = "Ratelimit-Reset"
)

// xFields are the X- fields, Limit, Remaining, Reset and Reset-After, in
// their two spellings: GitHub's and most APIs' X-RateLimit-Limit, and the
// X-Rate-Limit-Limit some others send.
var xFields = [...][4]string{
	{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "X-Ratelimit-Reset-After"},
	{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "X-Rate-Limit-Reset-After"},
}

// maxHeaderWait bounds every time a header gives: a reset or Retry-After
// further away counts as this far. It keeps a malformed or hostile value
// from meaning years, and from overflowing time arithmetic; how long the
// transport actually waits is bounded by WithMaxWait, which is shorter.
const maxHeaderWait = 24 * time.Hour

// window is one quota a response reports.
type window struct {
	// name is the policy's name in draft-10 fields; "" for the trio and
	// the X- fields, which describe one quota.
	name string
	// remaining is what the quota still admits.
	remaining int64
	// reset is the time until more of the quota is back, in
	// [0, maxHeaderWait].
	reset time.Duration
	// quota is the window's whole quota when the response says
	// (RateLimit-Policy's q, or a Limit field), 0 when it does not;
	// remaining is never more.
	quota int64
}

// report is what one response's header says about the limits of the
// requests that share its key.
type report struct {
	// windows are the quotas with both a remaining count and a reset time,
	// from one form of fields: draft-10 when present, else the trio, else
	// the X- fields.
	windows []window
	// retryAfter is Retry-After as a duration, in [0, maxHeaderWait], when
	// hasRetryAfter.
	retryAfter    time.Duration
	hasRetryAfter bool
	// seen reports that the response carried any well-formed rate-limit
	// field, even one too incomplete to pace by: the server speaks about
	// its limits, so its silence later is not a sign that there are none.
	seen bool
}

// exhausted returns the longest reset among the windows with nothing
// remaining, and whether there is any.
func (r *report) exhausted() (time.Duration, bool) {
	var wait time.Duration
	found := false
	for _, w := range r.windows {
		if w.remaining == 0 {
			wait, found = max(wait, w.reset), true
		}
	}
	return wait, found
}

// parseHeader reads every rate-limit field of h, taking now (the
// transport's clock) as the time the response arrived, for the fields
// that give a time of day. Malformed fields are ignored.
func parseHeader(h http.Header, now time.Time) report {
	var r report
	if v := h[fieldRetryAfter]; len(v) > 0 {
		r.retryAfter, r.hasRetryAfter = parseRetryAfter(v[0], now)
	}
	r.windows, r.seen = parseDraft10(h[fieldRateLimit], h[fieldPolicy])
	trio := func(limit, remaining, reset, resetAfter string) {
		if len(r.windows) > 0 {
			return
		}
		w, seen := parseTrio(first(h, limit), first(h, remaining), first(h, reset), first(h, resetAfter), now)
		r.seen = r.seen || seen
		if w.remaining >= 0 {
			r.windows = append(r.windows, w)
		}
	}
	trio(fieldLimit, fieldRemaining, fieldReset, "")
	for _, f := range xFields {
		trio(f[0], f[1], f[2], f[3])
	}
	return r
}

// first returns the first value of the field named by the canonical key k,
// or "". It is http.Header.Get without canonicalising k again.
func first(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseRetryAfter parses a Retry-After value: delta seconds (a fraction is
// accepted) or an HTTP-date. A date in the past is 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = trimOWS(v)
	if v == "" {
		return 0, false
	}
	if isDigit(v[0]) {
		return parseSeconds(v, now)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return clampWait(t.Sub(now)), true
}

// parseTrio parses a Limit, Remaining and Reset triple (RateLimit-* or
// X-RateLimit-*) and, for the X- fields, Reset-After (delta seconds, which
// wins over Reset). The window has remaining -1 unless both a remaining
// count and a reset time are well-formed; seen reports whether any of the
// fields is.
func parseTrio(limit, remaining, reset, resetAfter string, now time.Time) (w window, seen bool) {
	w.remaining = -1
	q, okQ := parseCount(limit)
	r, okR := parseCount(remaining)
	t, okT := parseSeconds(resetAfter, now)
	if !okT {
		t, okT = parseSeconds(reset, now)
	}
	if okQ {
		w.quota = q
	}
	if okR && okT {
		w.remaining, w.reset = r, t
		if okQ {
			w.remaining = min(r, q)
		}
	}
	return w, okQ || okR || okT
}

// parseDraft10 parses the RateLimit and RateLimit-Policy fields of
// draft-ietf-httpapi-ratelimit-headers-10: `"name";r=7;t=1` per quota,
// and `"name";q=10;w=1` per policy, whose q bounds r. (The policy's w is
// not needed: t says when more quota is back.) A field that is not a valid structured
// field list is ignored whole, as RFC 9651 says; so is a member without a
// name, or whose r or t is not a non-negative number.
func parseDraft10(rateLimit, policy []string) (ws []window, seen bool) {
	var policies httpsfv.List
	if len(policy) > 0 {
		var err error
		policies, err = httpsfv.UnmarshalList(policy) // a malformed policy only hides the quotas
		seen = err == nil && len(policies) > 0
	}
	if len(rateLimit) == 0 {
		return nil, seen
	}
	list, err := httpsfv.UnmarshalList(rateLimit)
	if err != nil {
		return nil, seen
	}
	seen = seen || len(list) > 0
	for _, m := range list {
		it, ok := m.(httpsfv.Item)
		if !ok {
			continue
		}
		name, ok := sfName(it.Value)
		if !ok {
			continue
		}
		r, okR := sfCount(it.Params, "r")
		t, okT := sfSeconds(it.Params, "t")
		if !okR || !okT {
			continue
		}
		w := window{name: name, remaining: r, reset: t}
		for _, pm := range policies {
			if p, ok := pm.(httpsfv.Item); ok {
				if pn, ok := sfName(p.Value); ok && pn == name {
					if q, ok := sfCount(p.Params, "q"); ok {
						w.quota, w.remaining = q, min(r, q)
					}
					break
				}
			}
		}
		ws = append(ws, w)
	}
	return ws, seen
}

// sfName returns a structured field item's value as a policy name: a
// string or a token.
func sfName(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case httpsfv.Token:
		return string(v), true
	}
	return "", false
}

// sfCount returns a non-negative integer parameter.
func sfCount(p *httpsfv.Params, key string) (int64, bool) {
	if p == nil {
		return 0, false
	}
	v, ok := p.Get(key)
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok || n < 0 {
		return 0, false
	}
	return n, true
}

// sfSeconds returns a non-negative integer or decimal parameter as a
// duration of that many seconds, clamped to maxHeaderWait.
func sfSeconds(p *httpsfv.Params, key string) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	v, ok := p.Get(key)
	if !ok {
		return 0, false
	}
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, false
		}
		return clampWait(time.Duration(min(v, int64(maxHeaderWait/time.Second)+1)) * time.Second), true
	case float64:
		if !(v >= 0) { // also NaN, which the syntax cannot carry anyway
			return 0, false
		}
		return clampWait(time.Duration(min(v, maxHeaderWait.Seconds()+1) * float64(time.Second))), true
	}
	return 0, false
}

// parseCount parses a non-negative integer count, such as X-RateLimit-
// Remaining's. Only the first element of a list counts, so the draft-03
// form "100, 100;w=60" reads as 100. Counts beyond 2^53 are 2^53.
func parseCount(v string) (int64, bool) {
	if i := strings.IndexAny(v, ",;"); i >= 0 {
		v = v[:i]
	}
	v = trimOWS(v)
	if v == "" || len(v) > 40 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, false
		}
		n = min(n*10+int64(v[i]-'0'), 1<<53)
	}
	return n, true
}

// The boundaries between the three readings of a number of seconds. No
// server means a delay of 31 years, so a value of 10^9 or more is a Unix
// time (GitHub's X-RateLimit-Reset), and one of 10^11 or more, which as
// seconds would be after the year 5000, is a Unix time in milliseconds.
const (
	epochSeconds = 1e9
	epochMillis  = 1e11
)

// parseSeconds parses a number of seconds, such as a reset field's, with
// an optional fraction, as the time until then from now: a delay, or a Unix
// time in seconds or milliseconds (see epochSeconds). The result is in
// [0, maxHeaderWait]: a time in the past is 0.
func parseSeconds(v string, now time.Time) (time.Duration, bool) {
	v = trimOWS(v)
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || dot && frac == "" || len(frac) > 40 {
		return 0, false // "", ".5" and "5." are not numbers
	}
	var secs int64
	for i := 0; i < len(whole); i++ {
		if !isDigit(whole[i]) {
			return 0, false
		}
		secs = min(secs*10+int64(whole[i]-'0'), math.MaxInt64/100) // saturates, never wraps
	}
	var nanos int64
	for i := 0; i < len(frac); i++ {
		if !isDigit(frac[i]) {
			return 0, false
		}
		if i < 9 {
			nanos += int64(frac[i]-'0') * pow10[8-i]
		}
	}
	switch {
	case secs >= epochMillis:
		if secs > math.MaxInt64/int64(time.Millisecond) {
			return maxHeaderWait, true
		}
		return clampWait(time.UnixMilli(secs).Sub(now)), true
	case secs >= epochSeconds:
		return clampWait(time.Unix(secs, nanos).Sub(now)), true
	}
	return clampWait(time.Duration(secs)*time.Second + time.Duration(nanos)), true
}

var pow10 = [9]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// clampWait bounds d to [0, maxHeaderWait].
func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), maxHeaderWait)
}

// trimOWS trims the optional white space (spaces and tabs) HTTP allows
// around a field value.
func trimOWS(s string) string { return strings.Trim(s, " \t") }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
