package core

import (
	"strconv"
	"strings"
	"time"
)

// Limit is one window of a rule: at most N units (requests, by default) per
// Per, with an optional Burst for the token bucket; or, built with
// [Concurrent], at most N units in flight. Build one with [PerSecond],
// [PerMinute], [PerHour] or [Concurrent], or as a literal for any other
// period: Limit{N: 1000, Per: 24 * time.Hour, Burst: 50}.
type Limit struct {
	// N is the number of units admitted per Per (in flight, for
	// Concurrent). 0 denies everything (maintenance mode).
	N int64
	// Per is the window's length. A Concurrent limit has none: its rule's
	// Lease bounds how long a unit is held.
	Per time.Duration
	// Burst is the token bucket's capacity, the most units admitted at
	// once; 0 means N. Only token-bucket rules may set it.
	Burst int64
	// Name names the window in the IETF RateLimit-Policy header. The
	// default is the rule's name for a rule with one window, and the rule's
	// name and the window's period (such as "api-h" or "api-15m") otherwise.
	Name string

	concurrent bool // made by Concurrent: a limit on units in flight
}

// PerSecond returns a limit of n per second.
func PerSecond(n int64) Limit { return Limit{N: n, Per: time.Second} }

// PerMinute returns a limit of n per minute.
func PerMinute(n int64) Limit { return Limit{N: n, Per: time.Minute} }

// PerHour returns a limit of n per hour.
func PerHour(n int64) Limit { return Limit{N: n, Per: time.Hour} }

// Concurrent returns a limit of n units in flight (requests, by default):
// a rule whose limit it is uses the concurrency algorithm, and each
// admitted request holds its units until its Decision is released. It
// cannot share a rule with rate limits.
func Concurrent(n int64) Limit { return Limit{N: n, concurrent: true} }

// String formats the limit as configuration files write it, such as "10/s",
// "100/5m", "1000/h burst 50" or "5 concurrent".
func (l Limit) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(l.N, 10))
	if l.concurrent {
		b.WriteString(" concurrent")
	} else if l.Per > 0 {
		b.WriteByte('/')
		b.WriteString(formatPeriod(l.Per))
	}
	if l.Burst > 0 {
		b.WriteString(" burst ")
		b.WriteString(strconv.FormatInt(l.Burst, 10))
	}
	return b.String()
}

// formatPeriod writes a period compactly: "s", "m", "h", "d" for one unit,
// "5m" or "36h" for whole multiples, Go duration syntax otherwise.
func formatPeriod(d time.Duration) string {
	for _, u := range periodUnits {
		if d%u.d == 0 {
			if d == u.d {
				return u.name
			}
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

var periodUnits = []struct {
	name string
	d    time.Duration
}{
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}
