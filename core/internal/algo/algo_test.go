package algo

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// The exact step-by-step behaviour of every algorithm is specified by the
// sequences in module testkit. These tests cover what those cannot reach:
// long runs, extreme values, clocks that disagree, and the data structures.

const (
	ms        = int64(time.Millisecond)
	sec       = int64(time.Second)
	maxPeriod = 366 * 24 * time.Hour // the largest period a rule accepts
	base      = 1_700_000_000 * sec  // a Unix time in nanoseconds, on a whole second
)

func TestCeilFloorDiv(t *testing.T) {
	for _, tc := range []struct {
		a, b, ceil, floor int64
	}{
		{7, 2, 4, 3},
		{-7, 2, -3, -4},
		{7, -2, -3, -4},
		{-7, -2, 4, 3},
		{6, 2, 3, 3},
		{-6, 2, -3, -3},
		{0, 5, 0, 0},
		{math.MaxInt64, 1, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64 - 1, 2, 1},
	} {
		if got, want := ceilDiv(tc.a, tc.b), tc.ceil; got != want {
			t.Errorf("ceilDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, want)
		}
		if got, want := floorDiv(tc.a, tc.b), tc.floor; got != want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, want)
		}
	}
}

// admission is one admitted request of a simulated run.
type admission struct{ at, cost int64 }

// maxInWindow returns the most units admitted in any half-open interval of
// length p. admissions must be in time order.
func maxInWindow(admissions []admission, p int64) int64 {
	var best, sum int64
	j := 0
	for i := range admissions { // windows that start at an admission suffice
		for j < len(admissions) && admissions[j].at < admissions[i].at+p {
			sum += admissions[j].cost
			j++
		}
		best = max(best, sum)
		sum -= admissions[i].cost
	}
	return best
}

// TestGCRAIndivisiblePeriodGreedy runs a client that asks for one unit again
// as soon as RetryAfter says, over a long simulated run, for periods that the
// limit does not divide. It checks that RetryAfter is exact, that no interval
// of length Period ever admits more than the bucket plus what refills within
// it, and that the total stays within 1 of the ideal Limit per Period (the
// emission interval is rounded up by under a nanosecond, so this holds while
// the run is shorter than T*T nanoseconds).
func TestGCRAIndivisiblePeriodGreedy(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    backend.Window
		run  time.Duration
	}{
		{name: "3/s", w: backend.Window{Limit: 3, Period: time.Second}, run: 2 * time.Hour},
		{name: "3/s burst 5", w: backend.Window{Limit: 3, Period: time.Second, Burst: 5}, run: time.Hour},
		{name: "3/s burst 1", w: backend.Window{Limit: 3, Period: time.Second, Burst: 1}, run: time.Hour},
		{name: "7/min", w: backend.Window{Limit: 7, Period: time.Minute}, run: 30 * 24 * time.Hour},
		{name: "7/min burst 2", w: backend.Window{Limit: 7, Period: time.Minute, Burst: 2}, run: 7 * 24 * time.Hour},
		{name: "999/s", w: backend.Window{Limit: 999, Period: time.Second}, run: 10 * time.Minute},
		// A divisible control case: no rounding at all.
		{name: "1000/7s", w: backend.Window{Limit: 1000, Period: 7 * time.Second}, run: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.w
			p, capacity := int64(w.Period), Capacity(w, backend.TokenBucket)
			emission := ceilDiv(p, w.Limit)
			if float64(emission)*float64(emission) <= float64(tc.run) && p%w.Limit != 0 {
				t.Fatalf("bad case: run %v is not shorter than T*T = %v", tc.run, time.Duration(emission*emission))
			}
			var (
				tat        int64
				now        = base
				end        = base + int64(tc.run)
				admissions []admission
				retried    bool // now is the instant a denial said to retry at
			)
			for now <= end {
				next, before, after, _, ok := GCRA(tat, now, w, 1, 0)
				if ok {
					tat, retried = next, false
					admissions = append(admissions, admission{now, 1})
					if after.RetryAfter != 0 {
						t.Fatalf("at %d: admitted with RetryAfter %v", now-base, after.RetryAfter)
					}
					continue
				}
				if retried {
					t.Fatalf("at %d: denied at the instant RetryAfter promised", now-base)
				}
				ra := int64(before.RetryAfter)
				if ra <= 0 || ra > emission {
					t.Fatalf("at %d: denied with RetryAfter %d, want in (0, %d]", now-base, ra, emission)
				}
				if _, _, _, _, ok := GCRA(tat, now+ra-1, w, 1, 0); ok {
					t.Fatalf("at %d: admitted at now+RetryAfter-1 (RetryAfter %d too long)", now-base, ra)
				}
				now, retried = now+ra, true
			}

			got := int64(len(admissions))
			ideal := capacity + int64(tc.run)*w.Limit/p
			if got > ideal || ideal-got > 1 {
				t.Errorf("admitted %d in %v, want %d or %d (ideal %d/%v plus a full bucket of %d)", got, tc.run, ideal-1, ideal, w.Limit, w.Period, capacity)
			}
			if got, want := got, capacity+int64(tc.run)/emission; got != want {
				t.Errorf("admitted %d, want capacity + run/T = %d", got, want)
			}
			// A full bucket, then one unit every T: the bound is reached.
			peak := maxInWindow(admissions, p)
			if limit := capacity + w.Limit - 1; peak > limit {
				t.Errorf("admitted %d in one period, want at most %d (capacity %d + limit %d - 1)", peak, limit, capacity, w.Limit)
			}
			if got, want := peak, capacity+(p-1)/emission; got != want {
				t.Errorf("peak in one period = %d, want %d", got, want)
			}
		})
	}
}

// TestGCRAIndivisiblePeriodEveryNanosecond asks for units at every
// nanosecond, as many as are admitted, for tiny periods that the limit does
// not divide, so that rounding to whole nanoseconds matters most.
func TestGCRAIndivisiblePeriodEveryNanosecond(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    backend.Window
		run  int64
	}{
		{name: "3 per 10ns", w: backend.Window{Limit: 3, Period: 10}, run: 100_000},
		{name: "7 per 60ns burst 2", w: backend.Window{Limit: 7, Period: 60, Burst: 2}, run: 100_000},
		{name: "3 per 1000ns burst 5", w: backend.Window{Limit: 3, Period: 1000, Burst: 5}, run: 1_000_000},
		{name: "11 per 1001ns burst 20", w: backend.Window{Limit: 11, Period: 1001, Burst: 20}, run: 1_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.w
			p, capacity := int64(w.Period), Capacity(w, backend.TokenBucket)
			emission := ceilDiv(p, w.Limit)
			var (
				tat        int64
				admissions []admission
				promised   int64 = -1 // when the denials since the last admission said to retry
			)
			for now := base; now <= base+tc.run; now++ {
				for {
					next, before, _, _, ok := GCRA(tat, now, w, 1, 0)
					if !ok {
						at := now + int64(before.RetryAfter)
						if promised >= 0 && at != promised {
							t.Fatalf("at %d: denied until %d, earlier denials said %d", now-base, at-base, promised-base)
						}
						promised = at
						break
					}
					if promised >= 0 && now != promised {
						t.Fatalf("at %d: admitted, but the denials before promised %d", now-base, promised-base)
					}
					tat, promised = next, -1
					admissions = append(admissions, admission{now, 1})
				}
			}
			if got, want := int64(len(admissions)), capacity+tc.run/emission; got != want {
				t.Errorf("admitted %d in %dns, want %d (capacity + run/T)", got, tc.run, want)
			}
			if got, limit := maxInWindow(admissions, p), capacity+w.Limit-1; got > limit {
				t.Errorf("admitted %d in one period, want at most %d", got, limit)
			}
		})
	}
}

// TestGCRARandomSchedule sends random costs at random gaps and checks the
// bound on any interval of length Period, and that RetryAfter is exact.
func TestGCRARandomSchedule(t *testing.T) {
	for _, w := range []backend.Window{
		{Limit: 3, Period: time.Second},
		{Limit: 7, Period: time.Minute, Burst: 10},
		{Limit: 999, Period: time.Second, Burst: 50},
	} {
		t.Run(fmt.Sprint(w.Limit, "/", w.Period, " burst ", w.Burst), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(w.Limit), uint64(w.Period)))
			p, capacity := int64(w.Period), Capacity(w, backend.TokenBucket)
			emission := ceilDiv(p, w.Limit)
			var (
				tat        int64
				now        = base
				admissions []admission
			)
			for range 200_000 {
				now += r.Int64N(2 * emission / max(1, capacity/2))
				cost := 1 + r.Int64N(min(capacity, 4))
				next, before, _, _, ok := GCRA(tat, now, w, cost, 0)
				if ok {
					tat = next
					admissions = append(admissions, admission{now, cost})
					continue
				}
				ra := int64(before.RetryAfter)
				if _, _, _, _, ok := GCRA(tat, now+ra, w, cost, 0); !ok {
					t.Fatalf("at %d: cost %d denied at now+RetryAfter (%d)", now-base, cost, ra)
				}
				if _, _, _, _, ok := GCRA(tat, now+ra-1, w, cost, 0); ok {
					t.Fatalf("at %d: cost %d admitted at now+RetryAfter-1 (%d)", now-base, cost, ra)
				}
			}
			if len(admissions) < 1000 {
				t.Fatalf("only %d admissions: the schedule is too sparse to test anything", len(admissions))
			}
			if got, limit := maxInWindow(admissions, p), capacity+w.Limit-1; got > limit {
				t.Errorf("admitted %d units in one period, want at most %d", got, limit)
			}
		})
	}
}

// TestGCRAHugeValues drains and refills buckets at the largest sizes a rule
// accepts (Capacity*T at most 366 days), at instants up to where Unix
// nanoseconds leave room for two such periods, and checks every result
// against the closed form.
func TestGCRAHugeValues(t *testing.T) {
	windows := []backend.Window{
		{Limit: 1e9, Period: maxPeriod},
		{Limit: 1e9, Period: maxPeriod, Burst: 5e8},
		{Limit: 1, Period: maxPeriod},
		{Limit: 7, Period: maxPeriod, Burst: 6}, // 7*T exceeds 366 days
		{Limit: 3, Period: maxPeriod},
		{Limit: 1e9, Period: time.Second, Burst: int64(maxPeriod)}, // T = 1ns
		{Limit: 1e18, Period: maxPeriod / 4, Burst: int64(maxPeriod)},
	}
	nows := []int64{0, 1, base, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), math.MaxInt64 - 2*int64(maxPeriod)}
	for _, w := range windows {
		for _, now := range nows {
			t.Run(fmt.Sprintf("%d per %v burst %d at %d", w.Limit, w.Period, w.Burst, now), func(t *testing.T) {
				capacity := Capacity(w, backend.TokenBucket)
				emission := ceilDiv(int64(w.Period), w.Limit)
				if capacity > int64(maxPeriod)/emission {
					t.Fatalf("bad case: capacity*T exceeds %v", maxPeriod)
				}
				drained := capacity * emission

				_, before, _, _, ok := GCRA(0, now, w, 0, 0)
				if !ok || before.Remaining != capacity || before.ResetAfter != 0 || before.RetryAfter != 0 {
					t.Fatalf("fresh peek = %+v, %v; want Remaining %d and nothing to wait", before, ok, capacity)
				}
				tat, _, after, delay, ok := GCRA(0, now, w, capacity, 0)
				if !ok || delay != 0 || tat != now+drained || after.Remaining != 0 || int64(after.ResetAfter) != drained {
					t.Fatalf("draining: tat %d, %+v, delay %d, %v; want tat now+%d, Remaining 0, ResetAfter %d", tat-now, after, delay, ok, drained, drained)
				}
				if _, before, _, _, ok := GCRA(tat, now, w, 1, 0); ok || int64(before.RetryAfter) != emission {
					t.Errorf("one more unit: %+v, %v; want denied with RetryAfter %d", before, ok, emission)
				}
				if _, before, _, _, ok := GCRA(tat, now, w, capacity+1, 0); ok || before.RetryAfter != w.Period {
					t.Errorf("cost above capacity: %+v, %v; want denied with RetryAfter %v", before, ok, w.Period)
				}
				// Throttled: the whole bucket again, one refill later.
				if next, _, _, delay, ok := GCRA(tat, now, w, capacity, int64(maxPeriod)); !ok || delay != drained || next != now+2*drained {
					t.Errorf("throttled: next %d, delay %d, %v; want admitted after %d", next-now, delay, ok, drained)
				}
				// Refilling: Remaining grows by one every T and is full at the
				// end; ResetAfter shrinks to zero.
				lastRemaining, lastReset := int64(-1), time.Duration(math.MaxInt64)
				for i := int64(0); i <= 64; i++ {
					at := now + drained/64*i
					if i == 64 {
						at = now + drained
					}
					_, st, _, _, _ := GCRA(tat, at, w, 0, 0)
					if got, want := st.Remaining, (at-now)/emission; got != want {
						t.Fatalf("Remaining at now+%d = %d, want %d", at-now, got, want)
					}
					if got, want := int64(st.ResetAfter), now+drained-at; got != want {
						t.Fatalf("ResetAfter at now+%d = %d, want %d", at-now, got, want)
					}
					if st.Remaining < lastRemaining || st.ResetAfter > lastReset {
						t.Fatalf("at now+%d: Remaining %d after %d, ResetAfter %v after %v: not monotone", at-now, st.Remaining, lastRemaining, st.ResetAfter, lastReset)
					}
					lastRemaining, lastReset = st.Remaining, st.ResetAfter
				}
				if lastRemaining != capacity {
					t.Errorf("Remaining after a full refill = %d, want %d", lastRemaining, capacity)
				}
			})
		}
	}
}

func TestU128Helpers(t *testing.T) {
	const max64 = math.MaxUint64
	if got, want := mul(1<<62, 8), (u128{2, 0}); got != want {
		t.Errorf("mul(2^62, 8) = %v, want %v", got, want)
	}
	if got, want := mul(math.MaxInt64, math.MaxInt64), (u128{1<<62 - 1, 1}); got != want {
		t.Errorf("mul(MaxInt64, MaxInt64) = %v, want %v", got, want)
	}
	if got, want := add128(u128{0, max64}, u128{0, 1}), (u128{1, 0}); got != want {
		t.Errorf("add128 carry = %v, want %v", got, want)
	}
	if got, want := add128(u128{3, max64}, u128{4, max64}), (u128{8, max64 - 1}); got != want {
		t.Errorf("add128 = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		a, b u128
		want bool
	}{
		{u128{0, 5}, u128{0, 5}, true},
		{u128{0, 6}, u128{0, 5}, false},
		{u128{0, max64}, u128{1, 0}, true},
		{u128{1, 0}, u128{0, max64}, false},
		{u128{2, 1}, u128{2, 2}, true},
	} {
		if got := le128(tc.a, tc.b); got != tc.want {
			t.Errorf("le128(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestDiv128(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a       u128
		d       int64
		want    int64
		wantBig bool
	}{
		{name: "small", a: u128{0, 100}, d: 7, want: 14},
		{name: "128-bit dividend", a: u128{1, 0}, d: 4, want: 1 << 62},
		{name: "largest fitting", a: u128{0, 1<<63 - 1}, d: 1, want: 1<<63 - 1},
		{name: "quotient of 2^63", a: u128{0, 1 << 63}, d: 1, wantBig: true},
		{name: "quotient above 64 bits", a: u128{5, 0}, d: 5, wantBig: true},
		{name: "quotient just below 64 bits", a: u128{4, math.MaxUint64}, d: 5, wantBig: true},
		{name: "huge over huge", a: mul(1<<31-1, int64(maxPeriod)), d: int64(maxPeriod), want: 1<<31 - 1},
	} {
		q, big := div128(tc.a, tc.d)
		if big != tc.wantBig || !big && q != tc.want {
			t.Errorf("%s: div128(%v, %d) = %d, %v; want %d, %v", tc.name, tc.a, tc.d, q, big, tc.want, tc.wantBig)
		}
	}
}

func TestCeilDiv128(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    u128
		d    int64
		want int64
	}{
		{name: "exact", a: u128{0, 12}, d: 4, want: 3},
		{name: "rounds up", a: u128{0, 13}, d: 4, want: 4},
		{name: "zero", a: u128{0, 0}, d: 9, want: 0},
		{name: "128-bit dividend", a: u128{1, 0}, d: 5, want: 3689348814741910324}, // ceil(2^64/5)
		{name: "exactly 2^62", a: u128{0, 1 << 62}, d: 1, want: 1 << 62},
		{name: "just above 2^62 saturates", a: u128{0, 1<<62 + 1}, d: 1, want: 1 << 62},
		{name: "rounding up to 2^62", a: u128{0, 1<<63 - 1}, d: 2, want: 1 << 62},
		{name: "rounding up past 2^62 saturates", a: u128{0, 1<<63 + 3}, d: 2, want: 1 << 62},
		{name: "quotient above 64 bits saturates", a: u128{7, 0}, d: 7, want: 1 << 62},
		{name: "huge over huge", a: add128(mul(1<<31-1, int64(maxPeriod)), u128{0, 1}), d: int64(maxPeriod), want: 1 << 31},
	} {
		if got := ceilDiv128(tc.a, tc.d); got != tc.want {
			t.Errorf("%s: ceilDiv128(%v, %d) = %d, want %d", tc.name, tc.a, tc.d, got, tc.want)
		}
	}
}

// slidingOracle is the sliding window counter computed with math/big from
// its definition, for a state whose Start is now's window or the one
// before (or is older, or empty).
func slidingOracle(s SlidingState, now int64, w backend.Window, c int64) (remaining int64, ok bool) {
	p := int64(w.Period)
	start := floorDiv(now, p) * p
	var prev, curr int64
	switch s.Start {
	case start:
		prev, curr = s.Prev, s.Curr
	case start - p:
		prev = s.Curr
	}
	bi := big.NewInt
	weighted := new(big.Int).Mul(bi(prev), bi(p-(now-start))) // prev * overlap, in units*ns
	// usage + c <= limit  <=>  prev*overlap + (curr+c)*p <= limit*p
	lhs := new(big.Int).Add(weighted, new(big.Int).Mul(bi(curr+c), bi(p)))
	ok = c <= w.Limit && lhs.Cmp(new(big.Int).Mul(bi(w.Limit), bi(p))) <= 0
	prevUnits := new(big.Int).Div(new(big.Int).Add(weighted, bi(p-1)), bi(p)) // ceil
	remaining = max(0, w.Limit-curr-prevUnits.Int64())
	return remaining, ok
}

// TestSlidingHugeValues checks the sliding window counter against a math/big
// oracle with limits near 2^31 and a 366-day period, where every product
// needs 128 bits, and checks that RetryAfter is exact.
func TestSlidingHugeValues(t *testing.T) {
	p := int64(maxPeriod)
	start := floorDiv(base, p) * p
	for _, limit := range []int64{1<<31 - 1, 1 << 31, 1<<31 + 12345, 1 << 40} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			t.Parallel()
			w := backend.Window{Limit: limit, Period: maxPeriod}
			r := rand.New(rand.NewPCG(uint64(limit), 1))
			count := func() int64 {
				switch r.IntN(5) {
				case 0:
					return 0
				case 1:
					return limit
				case 2:
					return 1 + r.Int64N(3)
				case 3:
					return limit - r.Int64N(3)
				}
				return r.Int64N(limit + 1)
			}
			denials := 0
			for i := range 20_000 {
				s := SlidingState{Start: start, Prev: count(), Curr: count()}
				if r.IntN(4) == 0 {
					s.Start -= p // now is in the next window
				}
				now := start + r.Int64N(p)
				c := count()
				if r.IntN(20) == 0 {
					c = limit + 1
				}
				next, before, after, ok := Sliding(s, now, w, c)
				unitCost := max(1, c)
				wantRemaining, wantOK := slidingOracle(s, now, w, unitCost)
				if ok != wantOK || before.Remaining != wantRemaining {
					t.Fatalf("case %d: Sliding(%+v, start+%d, cost %d) = Remaining %d, ok %v; want %d, %v", i, s, now-start, c, before.Remaining, ok, wantRemaining, wantOK)
				}
				if before.Remaining < 0 || before.Remaining > limit || after.Remaining < 0 || after.Remaining > before.Remaining {
					t.Fatalf("case %d: Remaining before %d, after %d: out of range", i, before.Remaining, after.Remaining)
				}
				if ok && c > 0 {
					// The stored state is the current window, charged.
					want := SlidingState{Start: start, Prev: s.Prev, Curr: s.Curr + c}
					if s.Start != start {
						want = SlidingState{Start: start, Prev: s.Curr, Curr: c}
					}
					if next != want {
						t.Fatalf("case %d: next = %+v after charging %d to %+v, want %+v", i, next, c, s, want)
					}
					if got, want := after.Remaining, before.Remaining-c; got != want {
						t.Fatalf("case %d: Remaining %d before, %d after charging %d", i, before.Remaining, got, c)
					}
					continue
				}
				if ok || c > limit {
					if c > limit && before.RetryAfter != w.Period {
						t.Fatalf("case %d: cost above the limit: RetryAfter %v, want %v", i, before.RetryAfter, w.Period)
					}
					continue
				}
				denials++
				ra := int64(before.RetryAfter)
				if ra <= 0 || ra > 2*p {
					t.Fatalf("case %d: RetryAfter %d, want in (0, 2*period]", i, ra)
				}
				if _, ok := slidingOracle(s, now+ra, w, unitCost); !ok {
					t.Fatalf("case %d: %+v cost %d at start+%d: denied at now+RetryAfter (%d)", i, s, c, now-start, ra)
				}
				if _, ok := slidingOracle(s, now+ra-1, w, unitCost); ok {
					t.Fatalf("case %d: %+v cost %d at start+%d: admitted at now+RetryAfter-1 (%d)", i, s, c, now-start, ra)
				}
				if _, _, _, ok := Sliding(s, now+ra, w, c); !ok {
					t.Fatalf("case %d: Sliding denies at now+RetryAfter (%d)", i, ra)
				}
			}
			if denials < 1000 {
				t.Errorf("only %d denials checked", denials)
			}
		})
	}
}

// TestSlidingHugeValuesMonotone fills a huge window, then peeks through the
// next two periods: Remaining never decreases, ResetAfter never increases,
// and while a request is denied, now+RetryAfter stays the same instant.
func TestSlidingHugeValuesMonotone(t *testing.T) {
	p := int64(maxPeriod)
	start := floorDiv(base, p) * p
	for _, tc := range []struct {
		name  string
		limit int64
		cost  int64
		prev  int64
	}{
		{name: "full window, one unit", limit: 1<<31 - 1, cost: 1},
		{name: "full window, half", limit: 1<<31 - 1, cost: 1 << 30},
		{name: "full window, all", limit: 1 << 31, cost: 1 << 31},
		{name: "full window and previous", limit: 1<<31 - 1, cost: 7, prev: 1<<31 - 1},
		{name: "one unit in window", limit: 1<<31 - 1, cost: 1<<31 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := backend.Window{Limit: tc.limit, Period: maxPeriod}
			s := SlidingState{Start: start, Curr: tc.limit, Prev: tc.prev}
			if tc.name == "one unit in window" {
				s.Curr = 1
			}
			r := rand.New(rand.NewPCG(1, 2))
			var (
				lastRemaining = int64(-1)
				lastReset     = time.Duration(math.MaxInt64)
				admitAt       = int64(-1)
				sawAdmit      bool
			)
			for i := range 2001 {
				now := start + int64(i)*(2*p/2000)
				if i > 0 && i < 2000 {
					now += r.Int64N(2*p/2000 - 1)
				}
				_, st, _, _ := Sliding(s, now, w, 0)
				if st.Remaining < lastRemaining || st.ResetAfter > lastReset {
					t.Fatalf("at start+%d: Remaining %d after %d, ResetAfter %v after %v: not monotone", now-start, st.Remaining, lastRemaining, st.ResetAfter, lastReset)
				}
				lastRemaining, lastReset = st.Remaining, st.ResetAfter
				_, before, _, ok := Sliding(s, now, w, tc.cost)
				switch {
				case ok:
					if admitAt >= 0 && now < admitAt {
						t.Fatalf("at start+%d: admitted before the promised start+%d", now-start, admitAt-start)
					}
					sawAdmit = true
				case sawAdmit:
					t.Fatalf("at start+%d: denied after being admitted earlier", now-start)
				case admitAt < 0:
					admitAt = now + int64(before.RetryAfter)
				case now+int64(before.RetryAfter) != admitAt:
					t.Fatalf("at start+%d: now+RetryAfter = start+%d, earlier start+%d", now-start, now+int64(before.RetryAfter)-start, admitAt-start)
				}
			}
			if !sawAdmit {
				t.Error("never admitted in two periods")
			}
			if got, want := lastRemaining, tc.limit; got != want {
				t.Errorf("Remaining two periods later = %d, want %d", got, want)
			}
		})
	}
}

// The windows of fixed, sliding and log states never move backwards: when
// a caller's clock is behind the one that wrote the state, the state is
// used as it is, never reset.
func TestFixedNowBackwards(t *testing.T) {
	w := backend.Window{Limit: 3, Period: time.Second}
	later := FixedState{End: base + 3*sec, Count: 2, Period: sec}
	for _, tc := range []struct {
		name       string
		s          FixedState
		now, cost  int64
		wantNext   FixedState
		wantBefore backend.WindowResult
		wantAfter  backend.WindowResult
		wantOK     bool
	}{
		{
			name: "one window behind", s: later, now: base + 1500*ms, cost: 1,
			wantNext:   FixedState{End: base + 3*sec, Count: 3, Period: sec},
			wantBefore: backend.WindowResult{Remaining: 1, ResetAfter: 1500 * time.Millisecond, NextAfter: 1500 * time.Millisecond},
			wantAfter:  backend.WindowResult{Remaining: 0, ResetAfter: 1500 * time.Millisecond, NextAfter: 1500 * time.Millisecond},
			wantOK:     true,
		},
		{
			name: "far behind", s: later, now: base - 3600*sec, cost: 0,
			wantNext:   later,
			wantBefore: backend.WindowResult{Remaining: 1, ResetAfter: 3603 * time.Second, NextAfter: 3603 * time.Second},
			wantAfter:  backend.WindowResult{Remaining: 1, ResetAfter: 3603 * time.Second, NextAfter: 3603 * time.Second},
			wantOK:     true,
		},
		{
			name: "behind and over", s: later, now: base + 1200*ms, cost: 2,
			wantNext:   later,
			wantBefore: backend.WindowResult{Remaining: 1, ResetAfter: 1800 * time.Millisecond, RetryAfter: 1800 * time.Millisecond, NextAfter: 1800 * time.Millisecond},
			wantAfter:  backend.WindowResult{Remaining: 1, ResetAfter: 1800 * time.Millisecond, RetryAfter: 1800 * time.Millisecond, NextAfter: 1800 * time.Millisecond},
		},
		{
			name: "same window", s: later, now: base + 2999*ms, cost: 1,
			wantNext:   FixedState{End: base + 3*sec, Count: 3, Period: sec},
			wantBefore: backend.WindowResult{Remaining: 1, ResetAfter: time.Millisecond, NextAfter: time.Millisecond},
			wantAfter:  backend.WindowResult{Remaining: 0, ResetAfter: time.Millisecond, NextAfter: time.Millisecond},
			wantOK:     true,
		},
		{
			// Contrast: a state from an earlier window is forgotten.
			name: "state behind now", s: later, now: base + 3*sec, cost: 1,
			wantNext:   FixedState{End: base + 4*sec, Count: 1, Period: sec},
			wantBefore: backend.WindowResult{Remaining: 3},
			wantAfter:  backend.WindowResult{Remaining: 2, ResetAfter: time.Second, NextAfter: time.Second},
			wantOK:     true,
		},
	} {
		next, before, after, ok := Fixed(tc.s, tc.now, w, tc.cost)
		if next != tc.wantNext || before != tc.wantBefore || after != tc.wantAfter || ok != tc.wantOK {
			t.Errorf("%s: Fixed() = %+v, %+v, %+v, %v; want %+v, %+v, %+v, %v", tc.name, next, before, after, ok, tc.wantNext, tc.wantBefore, tc.wantAfter, tc.wantOK)
		}
	}
}

func TestSlidingNowBackwards(t *testing.T) {
	w := backend.Window{Limit: 10, Period: time.Second}
	later := SlidingState{Start: base + 10*sec, Curr: 5, Prev: 3}
	for _, tc := range []struct {
		name          string
		now, cost     int64
		wantNext      SlidingState
		wantRemaining int64
		wantOK        bool
	}{
		// Evaluated at the start of the later window: 3 + 5 used.
		{name: "half a window behind", now: base + 9500*ms, cost: 2, wantNext: SlidingState{Start: base + 10*sec, Curr: 7, Prev: 3}, wantRemaining: 2, wantOK: true},
		{name: "far behind", now: base - 100*sec, cost: 2, wantNext: SlidingState{Start: base + 10*sec, Curr: 7, Prev: 3}, wantRemaining: 2, wantOK: true},
		{name: "behind and over", now: base + 9999*ms, cost: 3, wantNext: later, wantRemaining: 2},
		{name: "behind, peek", now: base + 9*sec, cost: 0, wantNext: later, wantRemaining: 2, wantOK: true},
		// Contrast: at now, 1.5 of the previous 3 still count.
		{name: "in the window", now: base + 10500*ms, cost: 3, wantNext: SlidingState{Start: base + 10*sec, Curr: 8, Prev: 3}, wantRemaining: 3, wantOK: true},
	} {
		next, before, _, ok := Sliding(later, tc.now, w, tc.cost)
		if next != tc.wantNext || before.Remaining != tc.wantRemaining || ok != tc.wantOK {
			t.Errorf("%s: Sliding() = %+v, Remaining %d, %v; want %+v, %d, %v", tc.name, next, before.Remaining, ok, tc.wantNext, tc.wantRemaining, tc.wantOK)
		}
		if before.ResetAfter <= 0 {
			t.Errorf("%s: ResetAfter = %v, want positive: the window is not empty", tc.name, before.ResetAfter)
		}
		if !ok && tc.cost > 0 && before.RetryAfter <= 0 {
			t.Errorf("%s: denied with RetryAfter %v", tc.name, before.RetryAfter)
		}
	}
}

// logEntries returns the log's entries, oldest first.
func logEntries(l *Log) []logEntry {
	out := make([]logEntry, l.n)
	for i := range l.n {
		out[i] = *l.at(i)
	}
	return out
}

// checkLog verifies that the log holds want, in order, that its sum is
// right and that the ring is large enough.
func checkLog(t *testing.T, l *Log, want []logEntry) {
	t.Helper()
	got := logEntries(l)
	if len(got) != len(want) {
		t.Fatalf("log holds %v, want %v", got, want)
	}
	var sum int64
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("log holds %v, want %v", got, want)
		}
		sum += want[i].cost
	}
	if l.sum != sum {
		t.Fatalf("log sum = %d, want %d", l.sum, sum)
	}
	if l.n > len(l.ring) || l.n > 0 && (l.head < 0 || l.head >= len(l.ring)) {
		t.Fatalf("n %d, head %d in a ring of %d", l.n, l.head, len(l.ring))
	}
}

func TestLogRingGrowth(t *testing.T) {
	var (
		l    Log
		want []logEntry
	)
	w := backend.Window{Limit: 1 << 40, Period: time.Hour}
	for i := range int64(40) {
		at, _, _, ok := l.Eval(base+i*ms, w, i+1)
		if !ok || at != base+i*ms {
			t.Fatalf("entry %d: Eval = %d, %v; want admitted at %d", i, at-base, ok, i*ms)
		}
		l.Add(at, i+1)
		want = append(want, logEntry{at, i + 1})
		checkLog(t, &l, want)
		wantRing := 4
		for wantRing < len(want) {
			wantRing *= 2
		}
		if got := len(l.ring); got != wantRing {
			t.Fatalf("after %d entries: ring of %d, want %d", len(want), got, wantRing)
		}
	}
	_, before, _, _ := l.Eval(base+40*ms, w, 0)
	if got, want := before.Remaining, w.Limit-40*41/2; got != want {
		t.Errorf("Remaining = %d, want %d", got, want)
	}
	// The same instant again merges into the newest entry.
	l.Add(base+39*ms, 5)
	want[39].cost += 5
	checkLog(t, &l, want)
}

// TestLogRingGrowthWrapped grows a ring whose entries wrap around its end.
func TestLogRingGrowthWrapped(t *testing.T) {
	var l Log
	w := backend.Window{Limit: 100, Period: 10 * time.Millisecond}
	add := func(atMs, cost int64) {
		t.Helper()
		at, _, _, ok := l.Eval(base+atMs*ms, w, cost)
		if !ok {
			t.Fatalf("cost %d at %dms denied", cost, atMs)
		}
		l.Add(at, cost)
	}
	for i, at := range []int64{0, 1, 5, 6} {
		add(at, int64(i)+1) // costs 1..4, filling the ring of 4
	}
	add(11, 10) // the entries at 0 and 1ms leave; 11ms goes to slot 0
	if got, want := l.head, 2; got != want {
		t.Fatalf("head = %d, want %d", got, want)
	}
	checkLog(t, &l, []logEntry{{base + 5*ms, 3}, {base + 6*ms, 4}, {base + 11*ms, 10}})
	add(12, 20) // slot 1: the ring is full and wrapped
	if got, want := len(l.ring), 4; got != want {
		t.Fatalf("ring of %d, want %d", got, want)
	}
	add(13, 30) // grows
	if got, want := len(l.ring), 8; got != want {
		t.Fatalf("ring of %d, want %d", got, want)
	}
	if got, want := l.head, 0; got != want {
		t.Errorf("head after growth = %d, want %d", got, want)
	}
	checkLog(t, &l, []logEntry{{base + 5*ms, 3}, {base + 6*ms, 4}, {base + 11*ms, 10}, {base + 12*ms, 20}, {base + 13*ms, 30}})
	_, before, _, _ := l.Eval(base+13*ms, w, 0)
	if got, want := before.Remaining, int64(100-67); got != want {
		t.Errorf("Remaining = %d, want %d", got, want)
	}
}

func TestLogShrink(t *testing.T) {
	w := backend.Window{Limit: 1 << 40, Period: 100 * time.Millisecond}
	// fill returns a log with entries at 0..n-1 ms, costs 1..n, from which
	// Eval at pruneAt ms has removed what left the window.
	fill := func(n, pruneAt int64) *Log {
		l := new(Log)
		for i := range n {
			l.Add(base+i*ms, i+1)
		}
		l.Eval(base+pruneAt*ms, w, 0)
		return l
	}
	entries := func(from, to int64) []logEntry { // at from..to-1 ms
		var out []logEntry
		for i := from; i < to; i++ {
			out = append(out, logEntry{base + i*ms, i + 1})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		n        int64 // entries added
		pruneAt  int64 // ms; entries before pruneAt-100 leave
		wantRing int
	}{
		{name: "quarter full shrinks", n: 40, pruneAt: 100 + 23, wantRing: 32},      // 16 in 64
		{name: "just over a quarter stays", n: 40, pruneAt: 100 + 22, wantRing: 64}, // 17 in 64
		{name: "few left", n: 40, pruneAt: 100 + 36, wantRing: 6},                   // 3 in 64
		{name: "empty", n: 40, pruneAt: 200, wantRing: 4},
		{name: "ring of 8 never shrinks", n: 8, pruneAt: 107, wantRing: 8},
		{name: "ring of 4 never shrinks", n: 3, pruneAt: 200, wantRing: 4},
		{name: "ring of 16 shrinks", n: 9, pruneAt: 100 + 7, wantRing: 4}, // 1 in 16
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fill(tc.n, tc.pruneAt)
			want := entries(max(0, tc.pruneAt-100+1), tc.n)
			checkLog(t, l, want)
			ring, head := len(l.ring), l.head
			l.Shrink()
			if got := len(l.ring); got != tc.wantRing {
				t.Errorf("ring after Shrink = %d, want %d", got, tc.wantRing)
			}
			if len(l.ring) == ring && l.head != head {
				t.Errorf("head moved from %d to %d without a shrink", head, l.head)
			}
			if len(l.ring) != ring && l.head != 0 {
				t.Errorf("head = %d after shrinking, want 0", l.head)
			}
			checkLog(t, l, want)
			// The log keeps working: add past the new capacity.
			for i := range int64(20) {
				at := base + (tc.n+50+i)*ms
				l.Add(at, 1)
				want = append(want, logEntry{at, 1})
			}
			checkLog(t, l, want)
		})
	}
}

// TestLogShrinkWrapped shrinks a ring whose entries wrap around its end.
func TestLogShrinkWrapped(t *testing.T) {
	var l Log
	w := backend.Window{Limit: 1 << 40, Period: 100 * time.Millisecond}
	for i := range int64(64) { // a full ring of 64
		l.Add(base+i*ms, 1)
	}
	l.Eval(base+(100+62)*ms, w, 0) // 1 entry left at slot 63
	for i := range int64(3) {      // 3 more wrap to slots 0..2
		l.Add(base+(200+i)*ms, 2)
	}
	want := []logEntry{{base + 63*ms, 1}, {base + 200*ms, 2}, {base + 201*ms, 2}, {base + 202*ms, 2}}
	checkLog(t, &l, want)
	if l.head+l.n <= len(l.ring) {
		t.Fatalf("setup: head %d, n %d in %d slots does not wrap", l.head, l.n, len(l.ring))
	}
	l.Shrink()
	if got, want := len(l.ring), 8; got != want {
		t.Errorf("ring after Shrink = %d, want %d", got, want)
	}
	checkLog(t, &l, want)
}

func TestLogNowBackwards(t *testing.T) {
	var l Log
	w := backend.Window{Limit: 5, Period: time.Second}
	l.Add(base+10*sec, 2)
	l.Add(base+10500*ms, 1)
	for _, tc := range []struct {
		name          string
		now, cost     int64
		wantAt        int64
		wantRemaining int64
		wantOK        bool
	}{
		{name: "behind the newest", now: base + 9*sec, cost: 0, wantAt: base + 10500*ms, wantRemaining: 2, wantOK: true},
		// At 11.2s the entry at 10s would have left; at the newest
		// entry's time it has not.
		{name: "far behind", now: base - 100*sec, cost: 3, wantAt: base + 10500*ms, wantRemaining: 2},
	} {
		at, before, _, ok := l.Eval(tc.now, w, tc.cost)
		if at != tc.wantAt || before.Remaining != tc.wantRemaining || ok != tc.wantOK {
			t.Errorf("%s: Eval() = %d, Remaining %d, %v; want %d, %d, %v", tc.name, at-base, before.Remaining, ok, tc.wantAt-base, tc.wantRemaining, tc.wantOK)
		}
		checkLog(t, &l, []logEntry{{base + 10*sec, 2}, {base + 10500*ms, 1}})
	}
	// An admitted request from a slow clock is recorded at the newest
	// entry's time, so the log stays in order.
	at, _, _, ok := l.Eval(base+5*sec, w, 2)
	if !ok {
		t.Fatal("cost 2 denied with 2 remaining")
	}
	l.Add(at, 2)
	checkLog(t, &l, []logEntry{{base + 10*sec, 2}, {base + 10500*ms, 3}})
	_, before, _, _ := l.Eval(base+11200*ms, w, 0)
	if got, want := before.Remaining, int64(2); got != want {
		t.Errorf("Remaining at 11.2s = %d, want %d", got, want)
	}
}

func TestLeases(t *testing.T) {
	w := backend.Window{Limit: 10, Period: 10 * time.Second}
	var l Leases
	if l.Remove(1) {
		t.Error("Remove on empty leases = true, want false")
	}
	if got := l.Expiry(); got != 0 {
		t.Errorf("Expiry() of empty leases = %d, want 0", got)
	}
	l.Add(1, base+5*sec, 2)
	l.Add(2, base+7*sec, 3)
	l.Add(3, base+6*sec, 1)
	if got, want := l.Expiry(), base+7*sec; got != want {
		t.Errorf("Expiry() = %d, want %d", got-base, want-base)
	}
	for _, id := range []uint64{0, 4, 99} {
		if l.Remove(id) {
			t.Errorf("Remove(%d) of an unknown lease = true, want false", id)
		}
	}
	if got, want := l.Len(), 3; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if got, want := l.sum, int64(6); got != want {
		t.Errorf("sum = %d, want %d", got, want)
	}
	for _, step := range []struct {
		name          string
		now           int64
		wantLen       int
		wantRemaining int64
		wantReset     time.Duration
	}{
		{name: "none expired", now: base + 4*sec, wantLen: 3, wantRemaining: 4, wantReset: 3 * time.Second},
		{name: "expiring exactly now", now: base + 5*sec, wantLen: 2, wantRemaining: 6, wantReset: 2 * time.Second},
		{name: "one more", now: base + 6500*ms, wantLen: 1, wantRemaining: 7, wantReset: 500 * time.Millisecond},
		{name: "all", now: base + 7*sec, wantLen: 0, wantRemaining: 10},
	} {
		r, ok := l.Eval(step.now, w, 0)
		if !ok || l.Len() != step.wantLen || r.Remaining != step.wantRemaining || r.ResetAfter != step.wantReset {
			t.Errorf("%s: Eval() = %+v, %v with %d leases; want Remaining %d, ResetAfter %v, %d leases", step.name, r, ok, l.Len(), step.wantRemaining, step.wantReset, step.wantLen)
		}
	}
	if got := l.Expiry(); got != 0 {
		t.Errorf("Expiry() after every lease expired = %d, want 0", got)
	}
	if l.Remove(2) {
		t.Error("Remove(2) after it expired and was dropped = true, want false")
	}
}

func TestLeasesRemove(t *testing.T) {
	w := backend.Window{Limit: 10, Period: 10 * time.Second}
	var l Leases
	for id := uint64(1); id <= 5; id++ {
		l.Add(id, base+int64(id)*sec, int64(id))
	}
	for _, step := range []struct {
		id            uint64
		want          bool
		wantRemaining int64 // at base, after the removal
	}{
		{id: 2, want: true, wantRemaining: 10 - 13},
		{id: 2, want: false, wantRemaining: 10 - 13},
		{id: 5, want: true, wantRemaining: 10 - 8},
		{id: 1, want: true, wantRemaining: 10 - 7},
		{id: 6, want: false, wantRemaining: 10 - 7},
		{id: 3, want: true, wantRemaining: 10 - 4},
		{id: 4, want: true, wantRemaining: 10},
		{id: 4, want: false, wantRemaining: 10},
	} {
		if got := l.Remove(step.id); got != step.want {
			t.Errorf("Remove(%d) = %v, want %v", step.id, got, step.want)
		}
		if got, want := l.sum, 10-step.wantRemaining; got != want {
			t.Errorf("after Remove(%d): sum = %d, want %d", step.id, got, want)
		}
		r, _ := l.Eval(base, w, 0)
		if got, want := r.Remaining, max(0, step.wantRemaining); got != want {
			t.Errorf("after Remove(%d): Remaining = %d, want %d", step.id, got, want)
		}
	}
	if got, want := l.Len(), 0; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestLeasesDenied(t *testing.T) {
	w := backend.Window{Limit: 3, Period: 10 * time.Second}
	var l Leases
	l.Add(1, base+5*sec, 2)
	l.Add(2, base+2*sec, 1)
	for _, tc := range []struct {
		name      string
		now, cost int64
		wantOK    bool
		wantRetry time.Duration
	}{
		// The first lease to expire frees a slot; RetryAfter is capped.
		{name: "soon", now: base + 1500*ms, cost: 1, wantRetry: 500 * time.Millisecond},
		{name: "capped", now: base, cost: 1, wantRetry: ConcurrencyRetryAfter},
		{name: "never", now: base, cost: 4, wantRetry: w.Period},
	} {
		r, ok := l.Eval(tc.now, w, tc.cost)
		if ok != tc.wantOK || r.RetryAfter != tc.wantRetry {
			t.Errorf("%s: Eval() = %+v, %v; want RetryAfter %v, %v", tc.name, r, ok, tc.wantRetry, tc.wantOK)
		}
	}
	if got, want := l.Len(), 2; got != want {
		t.Errorf("denials changed the leases: Len() = %d, want %d", got, want)
	}
}

// TestSlowCallerDurations checks that a caller whose clock lags the stored
// state is told to wait from its own clock, not from the state's.
func TestSlowCallerDurations(t *testing.T) {
	w := backend.Window{Limit: 1, Period: 1000}
	// Sliding: a state in window [2000, 3000) with one request; a caller at
	// 1500 must wait until the state's next window allows it: 3000 + 1000
	// (the previous window weighs fully at its start), from 1500.
	_, before, _, ok := Sliding(SlidingState{Start: 2000, Curr: 1}, 1500, w, 1)
	if ok {
		t.Fatal("Sliding admitted over the limit")
	}
	if got, want := before.RetryAfter, time.Duration(4000-1500); got != want {
		t.Errorf("Sliding RetryAfter = %v, want %v", got, want)
	}
	// Log: one entry at 2000; a caller at 1500 waits until 3000.
	var l Log
	l.Add(2000, 1)
	_, r, _, ok := l.Eval(1500, w, 1)
	if ok {
		t.Fatal("Log admitted over the limit")
	}
	if got, want := r.RetryAfter, time.Duration(3000-1500); got != want {
		t.Errorf("Log RetryAfter = %v, want %v", got, want)
	}
	if got, want := r.ResetAfter, time.Duration(3000-1500); got != want {
		t.Errorf("Log ResetAfter = %v, want %v", got, want)
	}
}

// TestLimitChange covers states written under one limit and read under
// another, as after a configuration reload.
func TestLimitChange(t *testing.T) {
	minute := backend.Window{Limit: 8, Period: time.Minute} // T = 7.5s
	t.Run("gcra: a looser limit waits at most one emission interval", func(t *testing.T) {
		// 6 of 10 per hour: tat is 36 minutes ahead.
		tat := base + 6*360*sec
		hour := backend.Window{Limit: 10, Period: time.Hour}
		if GCRATag(hour, 0) == GCRATag(minute, 0) {
			t.Fatal("10/h and 8/min have the same tag")
		}
		fixed := Reconfigured(tat, base, minute, 0)
		if fixed != base+60*sec {
			t.Fatalf("Reconfigured = now%+d, want now+60s: an empty 8/min bucket", fixed-base)
		}
		_, before, _, _, ok := GCRA(fixed, base, minute, 1, 0)
		if ok || before.RetryAfter != 7500*time.Millisecond || before.Remaining != 0 || before.ResetAfter != time.Minute {
			t.Fatalf("first request under 8/min = %+v, %v; want denied for 7.5s with an empty bucket that is full in 1m", before, ok)
		}
		next, _, after, _, ok := GCRA(fixed, base+7500*ms, minute, 1, 0)
		if !ok || next != base+7500*ms+60*sec || after.Remaining != 0 {
			t.Fatalf("7.5s later = tat %+d, %+v, %v; want admitted, tat now+60s", next-base, after, ok)
		}
		// A tat within the new bucket is read as it is: usage converted by time.
		if got := Reconfigured(base+30*sec, base, minute, 0); got != base+30*sec {
			t.Fatalf("Reconfigured(now+30s) = now%+d, want it unchanged", got-base)
		}
	})
	t.Run("gcra: throttled debt is within the bound", func(t *testing.T) {
		// An empty 8/min bucket with a request admitted 5s late: tat is
		// 65s ahead, within tau+maxDelay, and is not forgiven.
		if got := Reconfigured(base+65*sec, base, minute, int64(20*time.Second)); got != base+65*sec {
			t.Fatalf("Reconfigured = now%+d, want now+65s", got-base)
		}
		if GCRATag(minute, int64(20*time.Second)) == GCRATag(minute, 0) {
			t.Fatal("a new max delay does not change the tag")
		}
	})
	t.Run("gcra: the same limit written differently has one tag", func(t *testing.T) {
		if GCRATag(backend.Window{Limit: 10, Period: time.Second}, 0) != GCRATag(backend.Window{Limit: 10, Period: time.Second, Burst: 10}, 0) {
			t.Fatal("burst 0 and burst = limit read a tat the same way but have different tags")
		}
		if GCRATag(backend.Window{Limit: 10, Period: time.Second, Burst: 20}, 0) == GCRATag(backend.Window{Limit: 10, Period: time.Second}, 0) {
			t.Fatal("a new burst does not change the tag")
		}
	})
	t.Run("fixed: a shorter period keeps the count until its own window ends", func(t *testing.T) {
		hourStart := base - base%int64(time.Hour)
		s := FixedState{End: hourStart + int64(time.Hour), Count: 6, Period: int64(time.Hour)}
		now := hourStart + 10*60*sec + 30*sec // 10m30s into the hour
		next, before, _, ok := Fixed(s, now, minute, 1)
		if !ok || before.Remaining != 2 || next.Count != 7 || next.End != hourStart+11*60*sec || next.Period != int64(time.Minute) {
			t.Fatalf("Fixed = %+v, %+v, %v; want 2 remaining, count 7 in the minute ending at 11m", next, before, ok)
		}
		// The next minute starts from zero, not at the end of the hour.
		_, before, _, ok = Fixed(next, hourStart+11*60*sec, minute, 1)
		if !ok || before.Remaining != 8 {
			t.Fatalf("next minute: %+v, %v; want all 8 remaining", before, ok)
		}
	})
	t.Run("fixed: a longer period keeps the count of the open window", func(t *testing.T) {
		minuteStart := base - base%int64(time.Minute)
		s := FixedState{End: minuteStart + 60*sec, Count: 6, Period: int64(time.Minute)}
		day := backend.Window{Limit: 100, Period: 24 * time.Hour}
		next, before, _, ok := Fixed(s, minuteStart+30*sec, day, 1)
		dayEnd := (minuteStart/int64(24*time.Hour) + 1) * int64(24*time.Hour)
		if !ok || before.Remaining != 94 || next.Count != 7 || next.End != dayEnd {
			t.Fatalf("Fixed = %+v, %+v, %v; want 94 remaining, count 7 until midnight UTC", next, before, ok)
		}
	})
	t.Run("fixed: a window that ended is forgotten", func(t *testing.T) {
		s := FixedState{End: base, Count: 6, Period: int64(time.Hour)}
		if _, before, _, _ := Fixed(s, base, minute, 1); before.Remaining != 8 {
			t.Fatalf("Remaining = %d, want 8", before.Remaining)
		}
	})
}

// TestFixedDailyResetsAtMidnightUTC: a day window ends at 00:00 UTC
// whatever the time of the first request.
func TestFixedDailyResetsAtMidnightUTC(t *testing.T) {
	day := backend.Window{Limit: 2, Period: 24 * time.Hour}
	evening := time.Date(2031, 3, 14, 23, 59, 30, 0, time.UTC).UnixNano()
	s, _, after, ok := Fixed(FixedState{}, evening, day, 2)
	if !ok || after.Remaining != 0 || after.ResetAfter != 30*time.Second {
		t.Fatalf("at 23:59:30: %+v, %v; want the day used up, resetting in 30s", after, ok)
	}
	if _, before, _, ok := Fixed(s, evening+29*sec, day, 1); ok || before.RetryAfter != time.Second {
		t.Fatalf("at 23:59:59: %+v, %v; want denied for 1s", before, ok)
	}
	if _, before, _, ok := Fixed(s, evening+30*sec, day, 1); !ok || before.Remaining != 2 {
		t.Fatalf("at 00:00:00: %+v, %v; want a fresh day", before, ok)
	}
}
