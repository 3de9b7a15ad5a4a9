package httpcontract

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/core"
)

// problemQuotaExceeded is the default problem type of a 429 body, from
// draft-ietf-httpapi-ratelimit-headers.
const problemQuotaExceeded = "https://iana.org/assignments/http-problem-types#quota-exceeded"

// contentTypeProblem is the media type of RFC 9457 problem details.
const contentTypeProblem = "application/problem+json"

// writeDenied writes the default response to a denial (see
// WithDenyHandler). The rate-limit headers and Retry-After are set already.
func (m *Middleware) writeDenied(w http.ResponseWriter, _ *http.Request, d *core.Decision) {
	retry := retryAfter(d)
	b := make([]byte, 0, 384)
	b = append(b, `{"type":`...)
	b = appendJSONString(b, m.cfg.problemType)
	b = append(b, `,"title":"Too Many Requests","status":429,"detail":"Request rate limit exceeded; retry after `...)
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

// writeUnavailable writes the response to a request that cannot be decided
// and must not proceed (the backend failed and the failure mode is closed):
// status 503, Retry-After in seconds, and a generic problem body.
func writeUnavailable(w http.ResponseWriter, retryAfter int64) {
	w.Header()[keyRetryAfter] = []string{strconv.FormatInt(max(1, retryAfter), 10)}
	writeProblem(w, http.StatusServiceUnavailable, []byte(
		`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"The service cannot apply its rate limits right now; retry later."}`+"\n"))
}

func writeProblem(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{contentTypeProblem}
	h[keyCacheCtl] = []string{"no-store"} // a cached 429 or 503 would turn a client away after its quota came back
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
