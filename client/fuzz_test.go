package sluiceclient

import (
	"net/http"
	"testing"
	"time"
)

// The fuzz targets check what every parser promises whatever a server
// sends: no panic, no negative time, nothing beyond maxHeaderWait, and no
// negative count. Their seeds are in testdata/fuzz.

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "120", "1.5", "Sun, 01 Mar 2026 12:00:30 GMT", "1772366410", "-1", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := parseRetryAfter(v, now); ok {
			checkWait(t, d)
		}
	})
}

func FuzzSeconds(f *testing.F) {
	for _, s := range []string{"0", "30", "0.25", "1772366410", "1772366410.5", "1772366410000", "1e9", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := parseSeconds(v, now); ok {
			checkWait(t, d)
		}
		if n, ok := parseCount(v); ok && (n < 0 || n > 1<<53) {
			t.Errorf("parseCount(%q) = %d", v, n)
		}
	})
}

func FuzzDraft10(f *testing.F) {
	f.Add(`"api-s";r=7;t=1, "api-h";r=900;t=3000`, `"api-s";q=10;w=1, "api-h";q=1000;w=3600`)
	f.Add(`default;r=0;t=2.5`, ``)
	f.Add(`"a";r=-1;t=99999999999999`, `"a";q=-3;w=1.5`)
	f.Add(`("a" "b");r=1;t=1`, `"a";q=1`)
	f.Fuzz(func(t *testing.T, rateLimit, policy string) {
		ws, _ := parseDraft10([]string{rateLimit}, []string{policy})
		checkWindows(t, ws)
	})
}

func FuzzHeader(f *testing.F) {
	f.Add(`"a";r=1;t=1`, "10", "0", "1772366410", "2")
	f.Add("", "5000", "4999", "1772366410", "")
	f.Add("", "10", "0", "1", "Sun, 01 Mar 2026 12:00:30 GMT")
	f.Fuzz(func(t *testing.T, rateLimit, limit, remaining, reset, retryAfter string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Ratelimit": rateLimit, "Ratelimit-Limit": limit, "Ratelimit-Remaining": remaining,
			"Ratelimit-Reset": reset, "X-Ratelimit-Limit": limit, "X-Ratelimit-Remaining": remaining,
			"X-Ratelimit-Reset": reset, "Retry-After": retryAfter,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		r := parseHeader(h, now)
		checkWindows(t, r.windows)
		if r.hasRetryAfter {
			checkWait(t, r.retryAfter)
		}
		if d, ok := r.exhausted(); ok {
			checkWait(t, d)
		}
	})
}

func checkWait(t *testing.T, d time.Duration) {
	t.Helper()
	if d < 0 || d > maxHeaderWait {
		t.Errorf("wait %v out of [0, %v]", d, maxHeaderWait)
	}
}

func checkWindows(t *testing.T, ws []window) {
	t.Helper()
	for _, w := range ws {
		checkWait(t, w.reset)
		if w.remaining < 0 || w.quota < 0 {
			t.Errorf("window %+v has a negative count", w)
		}
	}
}
