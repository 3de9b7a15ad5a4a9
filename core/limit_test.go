package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want core.Limit
	}{
		{"10/s", core.PerSecond(10)},
		{"100/minute", core.PerMinute(100)},
		{"100/minutes", core.PerMinute(100)},
		{"5/15m", core.Every(5, 15*time.Minute)},
		{"1000/h burst 50", core.PerHour(1000).WithBurst(50)},
		{"  1000/hour   burst   50 ", core.PerHour(1000).WithBurst(50)},
		{"1/d", core.PerDay(1)},
		{"3/2days", core.Every(3, 48*time.Hour)},
		{"20/1.5s", core.Every(20, 1500*time.Millisecond)},
		{"20/250ms", core.Every(20, 250*time.Millisecond)},
		{"0/s", core.PerSecond(0)},
	} {
		got, err := core.ParseLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "10", "10/", "/s", "10/x", "-1/s", "+1/s", "1.5/s", "10/s burst", "10/s burst -1",
		"10/s burst x", "10/s extra", "10/0s", "10/-1s", "10/0m", "99999999999999999999/s",
		"10/9999999999999999999d", "10/s burst 1 burst 2",
	} {
		if got, err := core.ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %v, want an error", in, got)
		} else if !errors.Is(err, core.ErrLimitSyntax) {
			t.Errorf("ParseLimit(%q) error %v does not wrap ErrLimitSyntax", in, err)
		}
	}
}

func TestLimitString(t *testing.T) {
	for l, want := range map[core.Limit]string{
		core.PerSecond(10):                     "10/s",
		core.PerMinute(100):                    "100/m",
		core.PerHour(1000).WithBurst(50):       "1000/h burst 50",
		core.PerDay(5):                         "5/d",
		core.Every(5, 15*time.Minute):          "5/15m",
		core.Every(3, 1500*time.Millisecond):   "3/1500ms",
		core.Every(3, 1500*time.Microsecond):   "3/1.5ms",
		core.Concurrent(4):                     "4 concurrent",
		core.Every(7, 36*time.Hour).Named("x"): "7/36h",
	} {
		if got := l.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", l, got, want)
		}
	}
}

// FuzzParseLimit checks that ParseLimit never panics and that whatever it
// accepts prints back to an equivalent limit.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"10/s", "100/minute", "1000/h burst 50", "5/15m", "20/1.5s", "1/d", "0/ms", "9/9999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := core.ParseLimit(s)
		if err != nil {
			return
		}
		if l.N < 0 || l.Burst < 0 || l.Per <= 0 {
			t.Fatalf("ParseLimit(%q) = %#v: negative or empty", s, l)
		}
		back, err := core.ParseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLimit(%q) = %v, which reparses as %v, %v", s, l, back, err)
		}
	})
}
