package sluiceenvoy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
)

// maxPeriod is the longest window core accepts (366 days).
const maxPeriod = 366 * 24 * time.Hour

// The periods of envoyproxy/ratelimit's units: fixed blocks of time since
// the Unix epoch, a month being 30 days and a year 365.
const (
	day   = 24 * time.Hour
	week  = 7 * day
	month = 30 * day
	year  = 365 * day
)

var periodUnits = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": day, "day": day, "days": day,
	"w": week, "week": week, "weeks": week,
}

// parseLimit reads a limit written "N/period" with an optional " burst B"
// (token bucket only): "10/s", "100/minute", "1000/h burst 50", "5/15m",
// "20/1.5s". The period is a unit (ms, s, sec, second, m, min, minute, h,
// hr, hour, d, day, w, week, and plurals), optionally preceded by a whole
// multiple, or a Go duration. core.Limit's String writes this grammar.
func parseLimit(s string) (core.Limit, error) {
	fields := strings.Fields(s)
	var l core.Limit
	switch {
	case len(fields) == 3 && fields[1] == "burst":
		b, err := parseCount(fields[2])
		if err != nil {
			return core.Limit{}, fmt.Errorf("burst: %w", err)
		}
		l.Burst = b
	case len(fields) != 1:
		return core.Limit{}, errors.New(`want "N/period" or "N/period burst B"`)
	}
	count, period, ok := strings.Cut(fields[0], "/")
	if !ok {
		return core.Limit{}, errors.New(`missing "/period"`)
	}
	n, err := parseCount(count)
	if err != nil {
		return core.Limit{}, fmt.Errorf("count: %w", err)
	}
	l.N = n
	if l.Per, err = parsePeriod(period); err != nil {
		return core.Limit{}, err
	}
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

// parsePeriod reads a unit with an optional whole multiple ("15m",
// "2days") or a Go duration ("1.5s"), positive and at most maxPeriod.
func parsePeriod(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	var d time.Duration
	if u, ok := periodUnits[s[i:]]; ok {
		mult := int64(1)
		if i > 0 {
			var err error
			if mult, err = strconv.ParseInt(s[:i], 10, 64); err != nil || mult > int64(maxPeriod/u) {
				return 0, fmt.Errorf("period %q is longer than %v", s, maxPeriod)
			}
		}
		d = time.Duration(mult) * u
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("period %q: want a unit (s, m, h, d, w), a multiple of one (15m) or a Go duration", s)
		}
	}
	if d <= 0 || d > maxPeriod {
		return 0, fmt.Errorf("period %q must be positive and at most %v", s, maxPeriod)
	}
	return d, nil
}
