package sluiceenvoy

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice/core"
)

// The response header fields of the IETF draft
// draft-ietf-httpapi-ratelimit-headers-10, in lower case as Envoy keeps
// header names.
const (
	headerRateLimit = "ratelimit"
	headerPolicy    = "ratelimit-policy"
)

// policyValue formats limits as RateLimit-Policy items: "name";q=N;w=W.
func policyValue(limits []core.Limit) string {
	var b []byte
	for i, l := range limits {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendSFString(b, l.Name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, l.N, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, seconds(l.Per), 10)
	}
	return string(b)
}

// appendRateLimit appends the RateLimit items of one decision: for an
// admitted request every window with its remaining quota and the seconds
// until it has more; for a denied one, the windows that deny it, with the
// seconds until they admit it. refund is added back to every window's
// remaining quota, for a charge that was given back.
func appendRateLimit(b []byte, d *core.Decision, denied bool, refund int64) []byte {
	for _, w := range d.Windows() {
		t := w.NextAfter
		if denied {
			if w.RetryAfter <= 0 {
				continue
			}
			t = w.RetryAfter
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = appendSFString(b, w.Limit.Name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, min(w.Limit.N, max(0, w.Remaining)+refund), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, seconds(t), 10)
	}
	return b
}

// seconds rounds a duration up to whole seconds: a client told 0 when
// 300ms remain would come back too early.
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

// appendSFString appends s as a structured-field string (RFC 9651): quoted,
// with '"' and '\' escaped; bytes outside printable ASCII become '_'.
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
