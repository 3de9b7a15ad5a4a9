package httpcontract

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/core"
)

// ProblemTypeQuotaExceeded is the problem type of a 429 body, from
// draft-ietf-httpapi-ratelimit-headers.
const ProblemTypeQuotaExceeded = "https://iana.org/assignments/http-problem-types#quota-exceeded"

// ContentTypeProblem is the media type of RFC 9457 problem details.
const ContentTypeProblem = "application/problem+json"

// WriteDenied writes the default response to a denial: status 429 and an
// RFC 9457 problem body of the quota-exceeded type, with the violated
// policies, limit, remaining, retry_after (seconds) and rule members. The
// body says nothing about the limiter's internals. The rate-limit headers and
// Retry-After must already be set (WriteHeaders does it).
func WriteDenied(w http.ResponseWriter, _ *http.Request, d *core.Decision) {
	retry := RetryAfter(d)
	b := make([]byte, 0, 384)
	b = append(b, `{"type":"`+ProblemTypeQuotaExceeded+`","title":"Too Many Requests","status":429,"detail":"Request rate limit exceeded; retry after `...)
	b = strconv.AppendInt(b, retry, 10)
	if retry == 1 {
		b = append(b, ` second."`...)
	} else {
		b = append(b, ` seconds."`...)
	}
	b = append(b, `,"violated-policies":[`...)
	first := true
	for _, ws := range d.Windows() {
		if ws.RetryAfter <= 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, ws.Limit.Name)
	}
	b = append(b, `],"limit":`...)
	b = strconv.AppendInt(b, d.Limit, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, max(0, d.Remaining), 10)
	b = append(b, `,"retry_after":`...)
	b = strconv.AppendInt(b, retry, 10)
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, d.Rule)
	b = append(b, "}\n"...)
	writeProblem(w, http.StatusTooManyRequests, b)
}

// WriteUnavailable writes the response to a request that cannot be decided
// and must not proceed (the backend failed and the failure mode is closed):
// status 503, Retry-After in seconds, and a generic problem body.
func WriteUnavailable(w http.ResponseWriter, retryAfter int64) {
	w.Header()[keyRetryAfter] = []string{strconv.FormatInt(max(1, retryAfter), 10)}
	writeProblem(w, http.StatusServiceUnavailable, []byte(
		`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"The service cannot apply its rate limits right now; retry later."}`+"\n"))
}

// keyCacheControl is Cache-Control, canonical. Every denial and every 503
// carries "no-store": a cached one would turn a client away after its quota
// came back.
var keyCacheControl = http.CanonicalHeaderKey("Cache-Control")

func writeProblem(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{ContentTypeProblem}
	h[keyCacheControl] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// appendJSONString appends s as a JSON string, escaping quotes, backslashes,
// control characters, DEL, <, >, & (so a body is safe to embed in HTML) and
// U+2028, U+2029 (so it is safe in JavaScript). Valid UTF-8 is kept as is;
// each byte of invalid UTF-8 becomes \ufffd, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
