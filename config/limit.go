package sluiceconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
)

// maxPeriod is the longest window core accepts (366 days); a multiple of a
// unit beyond it is refused here, before it could overflow.
const maxPeriod = 366 * 24 * time.Hour

var unitNames = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// parseLimit reads a limit written as "N/period" with an optional
// " burst B": "10/s", "100/minute", "1000/h burst 50", "5/15m", "20/1.5s",
// or as "N concurrent" for core.Concurrent(N). The period is a unit (ms,
// s, sec, second, m, min, minute, h, hr, hour, d, day, and plurals)
// optionally preceded by a positive whole multiple, or any Go duration. It
// accepts no other input: no extra words, no negative or fractional counts.
// core.Limit's String writes this grammar, and parseLimit reads back what
// it writes.
func parseLimit(s string) (core.Limit, error) {
	fields := strings.Fields(s)
	var l core.Limit
	switch {
	case len(fields) == 2 && fields[1] == "concurrent":
		n, err := parseCount(fields[0])
		if err != nil {
			return core.Limit{}, fmt.Errorf("count: %w", err)
		}
		return core.Concurrent(n), nil
	case len(fields) == 3 && fields[1] == "burst":
		b, err := parseCount(fields[2])
		if err != nil {
			return core.Limit{}, fmt.Errorf("burst: %w", err)
		}
		l.Burst = b
	case len(fields) != 1:
		return core.Limit{}, errors.New(`want "N/period", "N/period burst B" or "N concurrent"`)
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

// parsePeriod reads a period: a unit with an optional whole multiple
// ("15m", "2days") or a Go duration ("1.5s").
func parsePeriod(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if d, ok := unitNames[s[i:]]; ok {
		mult := int64(1)
		if i > 0 {
			m, err := strconv.ParseInt(s[:i], 10, 64)
			switch {
			case err == nil && m == 0:
				return 0, fmt.Errorf("period %q must be positive", s)
			case err != nil || m > int64(maxPeriod/d):
				return 0, fmt.Errorf("period %q out of range", s)
			}
			mult = m
		}
		return time.Duration(mult) * d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if unit := s[i:]; unit != "" && !strings.ContainsAny(unit, "0123456789.") {
			return 0, fmt.Errorf("unknown unit %q", unit)
		}
		return 0, fmt.Errorf("period %q is neither a unit nor a Go duration", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q must be positive", s)
	}
	return d, nil
}
