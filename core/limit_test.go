package core_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

func TestLimitString(t *testing.T) {
	for _, tc := range []struct {
		l    core.Limit
		want string
	}{
		{core.PerSecond(10), "10/s"},
		{core.PerMinute(100), "100/m"},
		{core.Limit{N: 1000, Per: time.Hour, Burst: 50}, "1000/h burst 50"},
		{core.Limit{N: 5, Per: 24 * time.Hour}, "5/d"},
		{core.Limit{N: 5, Per: 15 * time.Minute}, "5/15m"},
		{core.Limit{N: 3, Per: 1500 * time.Millisecond}, "3/1500ms"},
		{core.Limit{N: 3, Per: 1500 * time.Microsecond}, "3/1.5ms"},
		{core.Concurrent(4), "4 concurrent"},
		{core.Limit{N: 7, Per: 36 * time.Hour, Name: "x"}, "7/36h"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.l, got, tc.want)
		}
	}
}
