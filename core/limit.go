package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Algorithm selects how a rule counts requests. See the constants for what
// each one guarantees.
type Algorithm = backend.Algorithm

// The algorithms a [Rule] can use.
const (
	// TokenBucket refills Limit.N tokens evenly over Limit.Per and holds at
	// most Limit.Burst (N when Burst is 0). It stores one timestamp per key
	// and window, smooths traffic, and is the only algorithm that can
	// throttle (Rule.MaxDelay). It is the default.
	TokenBucket = backend.TokenBucket
	// SlidingLog admits at most N in any interval of length Per. It is
	// exact and stores one entry per admitted request, so it suits small
	// limits such as login attempts.
	SlidingLog = backend.SlidingLog
	// SlidingWindow approximates SlidingLog with two counters per key: the
	// previous fixed window is weighted by how much of it overlaps the
	// sliding window. It may admit slightly more or fewer than SlidingLog
	// when traffic within the previous window was uneven.
	SlidingWindow = backend.SlidingWindow
	// FixedWindow counts in windows aligned to multiples of Per since the
	// Unix epoch (a 24h window resets at midnight UTC). It is the cheapest
	// and the easiest for clients to reason about, but admits up to 2N
	// across a window boundary.
	FixedWindow = backend.FixedWindow
	// Concurrency limits requests in flight to N per key. The Decision's
	// Release frees the slot; an unreleased slot frees itself after the
	// rule's Lease.
	Concurrency = backend.Concurrency
)

// MaxWindows is the largest number of limits one rule may have.
const MaxWindows = backend.MaxWindows

// Limit is one window of a rule: at most N units (requests, by default) per
// Per, with an optional Burst for the token bucket. Build one with
// [PerSecond], [PerMinute], [PerHour], [PerDay], [Every] or [ParseLimit].
type Limit struct {
	// N is the number of units admitted per Per. 0 denies everything
	// (maintenance mode).
	N int64
	// Per is the window's length. For a Concurrency rule it is ignored:
	// the rule's Lease applies.
	Per time.Duration
	// Burst is the token bucket's capacity, the most units admitted at
	// once; 0 means N. Only TokenBucket rules may set it.
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

// PerDay returns a limit of n per 24 hours. With FixedWindow it resets at
// midnight UTC.
func PerDay(n int64) Limit { return Limit{N: n, Per: 24 * time.Hour} }

// Every returns a limit of n per the given period.
func Every(n int64, per time.Duration) Limit { return Limit{N: n, Per: per} }

// Concurrent returns a limit of n units in flight (requests, by default):
// a rule whose limit it is uses the Concurrency algorithm, and each
// admitted request holds its units until its Decision is released. It
// cannot share a rule with rate limits.
func Concurrent(n int64) Limit { return Limit{N: n, concurrent: true} }

// WithBurst returns a copy of l with the given token-bucket burst.
func (l Limit) WithBurst(burst int64) Limit { l.Burst = burst; return l }

// Named returns a copy of l with the given policy name.
func (l Limit) Named(name string) Limit { l.Name = name; return l }

// String formats the limit in the grammar [ParseLimit] reads, such as
// "10/s", "100/5m", "1000/h burst 50" or "5 concurrent".
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

var unitNames = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ErrLimitSyntax is wrapped by every error [ParseLimit] returns.
var ErrLimitSyntax = errors.New("sluice: invalid limit")

// ParseLimit reads a limit written as "N/period" with an optional
// " burst B": "10/s", "100/minute", "1000/h burst 50", "5/15m", "20/1.5s",
// or as "N concurrent" for [Concurrent](N). The period is a unit (ms, s,
// sec, second, m, min, minute, h, hr, hour, d, day, and plurals) optionally
// preceded by a positive whole multiple, or any Go duration. It accepts no
// other input: no extra words, no negative or fractional counts.
func ParseLimit(s string) (Limit, error) {
	fail := func(format string, args ...any) (Limit, error) {
		return Limit{}, fmt.Errorf("%q: %w: %s", s, ErrLimitSyntax, fmt.Sprintf(format, args...))
	}
	fields := strings.Fields(s)
	var l Limit
	switch {
	case len(fields) == 2 && fields[1] == "concurrent":
		n, err := parseCount(fields[0])
		if err != nil {
			return fail("count: %v", err)
		}
		return Concurrent(n), nil
	case len(fields) == 3 && fields[1] == "burst":
		b, err := parseCount(fields[2])
		if err != nil {
			return fail("burst: %v", err)
		}
		l.Burst = b
	case len(fields) != 1:
		return fail(`want "N/period", "N/period burst B" or "N concurrent"`)
	}
	count, period, ok := strings.Cut(fields[0], "/")
	if !ok {
		return fail(`missing "/period"`)
	}
	n, err := parseCount(count)
	if err != nil {
		return fail("count: %v", err)
	}
	l.N = n
	per, err := parsePeriod(period)
	if err != nil {
		return fail("%v", err)
	}
	l.Per = per
	return l, nil
}

func parseCount(s string) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

func parsePeriod(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if d, ok := unitNames[s[i:]]; ok {
		mult := int64(1)
		if i > 0 {
			m, err := strconv.ParseInt(s[:i], 10, 64)
			if err != nil || m <= 0 || m > int64(maxPeriod/d) {
				return 0, fmt.Errorf("period %q out of range", s)
			}
			mult = m
		}
		return time.Duration(mult) * d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("unknown period %q", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q must be positive", s)
	}
	return d, nil
}

// Backend is the store a Limiter keeps state in; see package backend for the
// contract and testkit.RunBackendSuite for its conformance suite.
type Backend = backend.Backend
