package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// These tests check, on the very runs the pictures are drawn from, the
// properties docs/algorithms.md says the pictures show, so that a change in
// core that alters a picture's story fails here rather than going unnoticed.

// runOf simulates the scenario under alg.
func runOf(t *testing.T, alg backend.Algorithm) run {
	t.Helper()
	r, err := simulate(alg, limit, arrivals(traffic))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestArrivals(t *testing.T) {
	at := arrivals(traffic)
	if got, want := len(at), 5+30+36+5; got != want {
		t.Fatalf("%d arrivals, want %d", got, want)
	}
	for i := 1; i < len(at); i++ {
		if at[i] <= at[i-1] {
			t.Fatalf("arrival %d at %v is not after %v", i, at[i], at[i-1])
		}
	}
	// Half of the burst on each side of the fixed-window boundary at 2s.
	if got := countIn(at, 1800*ms, 2000*ms-1); got != 15 {
		t.Errorf("%d arrivals in [1.8s, 2s), want 15", got)
	}
	if got := countIn(at, 2000*ms-1, 2200*ms-1); got != 15 {
		t.Errorf("%d arrivals in [2s, 2.2s), want 15", got)
	}
}

func TestTrailingAndPeak(t *testing.T) {
	s := time.Second
	adm := []time.Duration{100 * ms, 200 * ms, 1100 * ms, 1150 * ms}
	want := []step{
		{0, 0}, {100 * ms, 1}, {200 * ms, 2}, {1100 * ms, 2}, {1150 * ms, 3}, {1200 * ms, 2},
		{2100 * ms, 1}, {2150 * ms, 0},
	}
	got := trailing(adm, s, 3*s)
	if len(got) != len(want) {
		t.Fatalf("trailing = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("trailing[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if most, end := peak(adm, s); most != 3 || end != 1150*ms {
		t.Errorf("peak = %d ending %v, want 3 ending 1.15s", most, end)
	}
}

// TestSlidingLogIsExact: never more than the limit in any interval of one
// period, and a denial only when the interval ending at the request is full.
func TestSlidingLogIsExact(t *testing.T) {
	t.Parallel()
	r := runOf(t, backend.SlidingLog)
	adm, per, n := r.admitted(), limit.Per, int(limit.N)
	for _, e := range r.Events {
		before := countIn(adm, e.At-per, e.At-1) // admitted in (t-per, t)
		if e.Allowed && before+1 > n {
			t.Errorf("at %v: admitted with %d already in the trailing %v", e.At, before, per)
		}
		if !e.Allowed && before+1 <= n {
			t.Errorf("at %v: denied with only %d in the trailing %v", e.At, before, per)
		}
	}
	if most, end := peak(adm, per); most != n {
		t.Errorf("at most %d admitted in one period (ending %v), want exactly the limit %d", most, end, n)
	}
}

// TestFixedWindowDoubleBurst: at most the limit per aligned window, a denial
// only when the window is full, and twice the limit across the boundary.
func TestFixedWindowDoubleBurst(t *testing.T) {
	t.Parallel()
	r := runOf(t, backend.FixedWindow)
	adm, per, n := r.admitted(), limit.Per, int(limit.N)
	for _, e := range r.Events {
		start := e.At / per * per
		before := countIn(adm, start-1, e.At-1) // admitted in [start, t)
		if e.Allowed != (before+1 <= n) {
			t.Errorf("at %v: allowed %v with %d already in the window from %v", e.At, e.Allowed, before, start)
		}
	}
	most, end := peak(adm, per)
	if most != 2*n {
		t.Errorf("at most %d admitted in one period (ending %v), want %d", most, end, 2*n)
	}
	// The double burst is the one around the boundary at 2s: the limit
	// just before it and the limit again just after.
	if got := countIn(adm, 1800*ms-1, 2000*ms-1); got != n {
		t.Errorf("%d admitted in [1.8s, 2s), want %d", got, n)
	}
	if got := countIn(adm, 2000*ms-1, 2200*ms-1); got != n {
		t.Errorf("%d admitted in [2s, 2.2s), want %d", got, n)
	}
}

// TestTokenBucketBurstThenRate: a full bucket admits a burst of its
// capacity at once, then one request per emission interval; any interval of
// one period holds at most capacity + N - 1.
func TestTokenBucketBurstThenRate(t *testing.T) {
	t.Parallel()
	r := runOf(t, backend.TokenBucket)
	per, n := limit.Per, int(limit.N)
	capacity := n // Burst 0 means N
	emission := per / time.Duration(n)

	// The bucket is full after the quiet second before the burst: its
	// first capacity requests are admitted back to back.
	var burst []event
	for _, e := range r.Events {
		if e.At >= 1850*ms && e.At < 2150*ms {
			burst = append(burst, e)
		}
	}
	for i, e := range burst[:capacity] {
		if !e.Allowed {
			t.Errorf("burst request %d at %v denied; a full bucket admits %d", i, e.At, capacity)
		}
	}

	// Every outcome is that of a bucket of capacity tokens refilled with
	// one token per emission interval, kept here as credit in nanoseconds
	// (one token is worth one emission interval).
	credit, last := int64(capacity)*int64(emission), time.Duration(0)
	for _, e := range r.Events {
		credit = min(int64(capacity)*int64(emission), credit+int64(e.At-last))
		last = e.At
		have := float64(credit) / float64(emission)
		want := credit >= int64(emission)
		if want {
			credit -= int64(emission)
		}
		if e.Allowed != want {
			t.Errorf("at %v: allowed %v, want %v from a bucket holding %.2f tokens", e.At, e.Allowed, want, have)
		}
	}
	sustained := countIn(r.admitted(), 2200*ms-1, 4000*ms-1)
	if want := int((4000*ms - 2200*ms) / emission); sustained < want || sustained > want+1 {
		t.Errorf("%d admitted in [2.2s, 4s) at 20/s, want the refill rate: %d or %d", sustained, want, want+1)
	}
	if most, end := peak(r.admitted(), per); most > capacity+n-1 {
		t.Errorf("%d admitted in one period ending %v, want at most capacity+N-1 = %d", most, end, capacity+n-1)
	}
}

// TestSlidingWindowBound checks the bound docs/algorithms.md states for the
// sliding window counter. In the fixed window [s, s+P) with prev admitted
// in the window before it, the count in any interval (t-P, t] with t = s+e
// is at most N + x - prev*(P-e)/P, where x is how many of the previous
// window's requests fall in (t-P, s): the error is how far the previous
// window's requests were from evenly spread. It follows that no aligned
// window admits more than N and no interval of one period more than 2N-1.
func TestSlidingWindowBound(t *testing.T) {
	t.Parallel()
	r := runOf(t, backend.SlidingWindow)
	adm, per, n := r.admitted(), limit.Per, int64(limit.N)
	for w, c := range perWindow(adm, per) {
		if int64(c) > n {
			t.Errorf("%d admitted in the window starting at %v, want at most %d", c, time.Duration(w)*per, n)
		}
	}
	for _, a := range adm {
		s := a / per * per
		e := int64(a - s)
		count := int64(countIn(adm, a-per, a))
		prev := int64(countIn(adm, s-per-1, s-1)) // [s-P, s)
		x := int64(countIn(adm, a-per, s-1))      // (t-P, s)
		if (count-n-x)*int64(per)+prev*(int64(per)-e) > 0 {
			t.Errorf("at %v: %d admitted in the trailing period; bound N + x - prev*(P-e)/P = %d + %d - %d*%v/%v", a, count, n, x, prev, per-time.Duration(e), per)
		}
	}
	most, end := peak(adm, per)
	if int64(most) > 2*n-1 {
		t.Errorf("%d admitted in one period ending %v, want at most 2N-1 = %d", most, end, 2*n-1)
	}
	// The picture shows the approximation letting more than N through
	// after the previous window's requests bunched at its end.
	if int64(most) <= n {
		t.Errorf("at most %d admitted in one period: the scenario no longer shows the approximation's error", most)
	}
}

// TestImagesUpToDate renders every picture twice, checks that the bytes are
// the same, and that docs/img holds them: run `make docs` when it fails. It
// draws nothing that the race detector could check, and is skipped under it
// (make test runs every module again without -race).
func TestImagesUpToDate(t *testing.T) {
	if raceEnabled {
		t.Skip("rendering is slow under the race detector and has no concurrency")
	}
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	for _, dir := range []string{first, second} {
		if err := generate(dir); err != nil {
			t.Fatal(err)
		}
	}
	names, err := filepath.Glob(filepath.Join(first, "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(names), len(algorithms)+1; got != want {
		t.Fatalf("%d pictures, want %d", got, want)
	}
	for _, name := range names {
		base := filepath.Base(name)
		a, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, base))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings differ: the output is not deterministic", base)
		}
		committed, err := os.ReadFile(filepath.Join("..", "img", base))
		if err != nil {
			t.Errorf("%s: %v (run make docs)", base, err)
			continue
		}
		if !bytes.Equal(a, committed) {
			t.Errorf("docs/img/%s is out of date: run make docs", base)
		}
	}
}
