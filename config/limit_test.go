package sluiceconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want core.Limit
	}{
		{"10/s", core.PerSecond(10)},
		{"100/minute", core.PerMinute(100)},
		{"100/minutes", core.PerMinute(100)},
		{"5/15m", core.Limit{N: 5, Per: 15 * time.Minute}},
		{"1000/h burst 50", core.Limit{N: 1000, Per: time.Hour, Burst: 50}},
		{"  1000/hour   burst   50 ", core.Limit{N: 1000, Per: time.Hour, Burst: 50}},
		{"1/d", core.Limit{N: 1, Per: 24 * time.Hour}},
		{"3/2days", core.Limit{N: 3, Per: 48 * time.Hour}},
		{"20/1.5s", core.Limit{N: 20, Per: 1500 * time.Millisecond}},
		{"20/250ms", core.Limit{N: 20, Per: 250 * time.Millisecond}},
		{"0/s", core.PerSecond(0)},
		{"5 concurrent", core.Concurrent(5)},
	} {
		got, err := parseLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseLimit(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", `want "N/period"`},
		{"10", `missing "/period"`},
		{"10/", `period "" is neither`},
		{"/s", `count: "" is not a whole number`},
		{"10/x", `unknown unit "x"`},
		{"10/1.5x", `period "1.5x" is neither`},
		{"-1/s", `count: "-1"`},
		{"+1/s", `count: "+1"`},
		{"1.5/s", `count: "1.5"`},
		{"10/s burst", `want "N/period"`},
		{"10/s burst -1", `burst: "-1"`},
		{"10/s burst x", `burst: "x"`},
		{"10/s extra", `want "N/period"`},
		{"10/0s", `period "0s" must be positive`},
		{"10/-1s", `period "-1s" must be positive`},
		{"10/0m", `period "0m" must be positive`},
		{"99999999999999999999/s", `count: "99999999999999999999"`},
		{"10/9999999999999999999d", `out of range`},
		{"10/367d", `out of range`},
		{"10/s burst 1 burst 2", `want "N/period"`},
		{"x concurrent", `count: "x"`},
	} {
		got, err := parseLimit(tc.in)
		if err == nil {
			t.Errorf("parseLimit(%q) = %v, want an error", tc.in, got)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseLimit(%q) error %q, want one with %q", tc.in, err, tc.want)
		}
	}
}

// TestLimitRoundTrip: what core.Limit's String writes, parseLimit reads
// back.
func TestLimitRoundTrip(t *testing.T) {
	t.Parallel()
	for _, l := range []core.Limit{
		core.PerSecond(10), core.PerMinute(100), {N: 1000, Per: time.Hour, Burst: 50},
		{N: 5, Per: 24 * time.Hour}, {N: 5, Per: 15 * time.Minute}, {N: 3, Per: 1500 * time.Millisecond},
		{N: 3, Per: 1500 * time.Microsecond}, core.Concurrent(4), {N: 7, Per: 36 * time.Hour},
	} {
		if got, err := parseLimit(l.String()); err != nil || got != l {
			t.Errorf("parseLimit(%q) = %v, %v; want %#v", l.String(), got, err, l)
		}
	}
}

// FuzzParseLimit checks that parseLimit never panics and that whatever it
// accepts prints back to an equivalent limit.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"10/s", "100/minute", "1000/h burst 50", "5/15m", "20/1.5s", "1/d", "0/ms", "9/9999999d", "5 concurrent"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseLimit(s)
		if err != nil {
			return
		}
		if l.N < 0 || l.Burst < 0 || (l.Per <= 0 && l != core.Concurrent(l.N)) {
			t.Fatalf("parseLimit(%q) = %#v: negative or empty", s, l)
		}
		back, err := parseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("parseLimit(%q) = %v, which reparses as %v, %v", s, l, back, err)
		}
	})
}
