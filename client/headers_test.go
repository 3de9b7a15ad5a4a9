package sluiceclient

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// now is the time the parser tests receive their responses.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", "3", 3 * time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 7\t", 7 * time.Second, true},
		{"fraction", "1.5", 1500 * time.Millisecond, true},
		{"HTTP-date", "Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"RFC 850 date", "Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},
		{"asctime date", "Sun Mar  1 12:00:05 2026", 5 * time.Second, true},
		{"date in the past", "Sun, 01 Mar 2026 11:00:00 GMT", 0, true},
		{"date far ahead", "Fri, 01 Mar 2030 12:00:00 GMT", maxHeaderWait, true},
		{"huge seconds", "99999999", maxHeaderWait, true},
		{"overflowing seconds", "999999999999999999999999999999", maxHeaderWait, true},
		{"Unix time", "1772366410", 10 * time.Second, true},
		{"negative", "-5", 0, false},
		{"empty", "", 0, false},
		{"junk", "soon", 0, false},
		{"trailing junk", "5s", 0, false},
		{"dot only", "5.", 0, false},
		{"leading dot", ".5", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	epoch := now.Unix()
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"delta", "30", 30 * time.Second, true},
		{"delta with fraction", "0.250", 250 * time.Millisecond, true},
		{"long fraction", "1.1234567891234", 1123456789 * time.Nanosecond, true},
		{"largest delta", "999999999", maxHeaderWait, true},
		{"GitHub's Unix time", itoa(epoch + 1800), 30 * time.Minute, true},
		{"Unix time with fraction", itoa(epoch+1) + ".5", 1500 * time.Millisecond, true},
		{"Unix time in the past", itoa(epoch - 5), 0, true},
		{"Unix time in milliseconds", itoa(epoch*1000 + 2500), 2500 * time.Millisecond, true},
		{"far Unix time", itoa(epoch + 10*86400), maxHeaderWait, true},
		{"milliseconds in the past", "100000000000", 0, true},
		{"enormous", "9223372036854775807999", maxHeaderWait, true},
		{"negative", "-1", 0, false},
		{"hex", "0x10", 0, false},
		{"empty", " ", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseSeconds(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseSeconds(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		value  string
		want   int64
		wantOK bool
	}{
		{"5000", 5000, true},
		{" 0 ", 0, true},
		{"100, 100;w=60", 100, true},
		{"100;w=60", 100, true},
		{"99999999999999999999999", 1 << 53, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"ten", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCount(tt.value)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseCount(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseHeader(t *testing.T) {
	epoch := now.Unix()
	tests := []struct {
		name   string
		header http.Header
		want   []window
		seen   bool
	}{
		{
			name: "draft-10 with policy",
			header: http.Header{
				"Ratelimit":        {`"api-s";r=7;t=1, "api-h";r=900;t=3000`},
				"Ratelimit-Policy": {`"api-s";q=10;w=1, "api-h";q=1000;w=3600`},
			},
			want: []window{
				{name: "api-s", remaining: 7, reset: time.Second, quota: 10},
				{name: "api-h", remaining: 900, reset: 3000 * time.Second, quota: 1000},
			},
			seen: true,
		},
		{
			name:   "draft-10 in two fields, token names, no policy",
			header: http.Header{"Ratelimit": {`default;r=0;t=2`, `other;r=3;t=1.5`}},
			want: []window{
				{name: "default", remaining: 0, reset: 2 * time.Second},
				{name: "other", remaining: 3, reset: 1500 * time.Millisecond},
			},
			seen: true,
		},
		{
			name:   "draft-10 member without t is skipped",
			header: http.Header{"Ratelimit": {`"a";r=1, "b";r=2;t=3`}},
			want:   []window{{name: "b", remaining: 2, reset: 3 * time.Second}},
			seen:   true,
		},
		{
			name:   "draft-10 negative r is skipped",
			header: http.Header{"Ratelimit": {`"a";r=-1;t=1`}},
			seen:   true,
		},
		{
			name: "r above the policy's q is q",
			header: http.Header{
				"Ratelimit":        {`"a";r=50;t=1`},
				"Ratelimit-Policy": {`"a";q=10;w=1`},
			},
			want: []window{{name: "a", remaining: 10, reset: time.Second, quota: 10}},
			seen: true,
		},
		{
			name:   "draft-10 malformed is ignored",
			header: http.Header{"Ratelimit": {`"a;r=1;t=1`}},
		},
		{
			name:   "policy only",
			header: http.Header{"Ratelimit-Policy": {`"a";q=10;w=1`}},
			seen:   true,
		},
		{
			name: "the earlier trio",
			header: http.Header{
				"Ratelimit-Limit":     {"100"},
				"Ratelimit-Remaining": {"42"},
				"Ratelimit-Reset":     {"17"},
			},
			want: []window{{remaining: 42, reset: 17 * time.Second, quota: 100}},
			seen: true,
		},
		{
			name: "GitHub",
			header: http.Header{
				"X-Ratelimit-Limit":     {"5000"},
				"X-Ratelimit-Remaining": {"0"},
				"X-Ratelimit-Reset":     {itoa(epoch + 600)},
				"X-Ratelimit-Used":      {"5000"},
				"X-Ratelimit-Resource":  {"core"},
			},
			want: []window{{remaining: 0, reset: 10 * time.Minute, quota: 5000}},
			seen: true,
		},
		{
			name: "X- with delta reset",
			header: http.Header{
				"X-Ratelimit-Limit":     {"10"},
				"X-Ratelimit-Remaining": {"3"},
				"X-Ratelimit-Reset":     {"1"},
			},
			want: []window{{remaining: 3, reset: time.Second, quota: 10}},
			seen: true,
		},
		{
			name: "Reset-After wins over Reset",
			header: http.Header{
				"X-Ratelimit-Remaining":   {"0"},
				"X-Ratelimit-Reset":       {itoa(epoch + 60)},
				"X-Ratelimit-Reset-After": {"2.5"},
			},
			want: []window{{remaining: 0, reset: 2500 * time.Millisecond}},
			seen: true,
		},
		{
			name: "X-Rate-Limit spelling",
			header: http.Header{
				"X-Rate-Limit-Remaining": {"4"},
				"X-Rate-Limit-Reset":     {itoa(epoch + 900)},
			},
			want: []window{{remaining: 4, reset: 15 * time.Minute}},
			seen: true,
		},
		{
			name:   "remaining without reset is seen, not paced",
			header: http.Header{"X-Ratelimit-Remaining": {"4"}},
			seen:   true,
		},
		{
			name: "draft-10 wins over X-",
			header: http.Header{
				"Ratelimit":             {`"a";r=5;t=1`},
				"X-Ratelimit-Remaining": {"4"},
				"X-Ratelimit-Reset":     {"1"},
			},
			want: []window{{name: "a", remaining: 5, reset: time.Second}},
			seen: true,
		},
		{
			name:   "nothing",
			header: http.Header{"Content-Type": {"text/plain"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseHeader(tt.header, now)
			if r.seen != tt.seen {
				t.Errorf("seen = %v, want %v", r.seen, tt.seen)
			}
			if len(r.windows) != len(tt.want) {
				t.Fatalf("windows = %+v, want %+v", r.windows, tt.want)
			}
			for i := range tt.want {
				if r.windows[i] != tt.want[i] {
					t.Errorf("window %d = %+v, want %+v", i, r.windows[i], tt.want[i])
				}
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
