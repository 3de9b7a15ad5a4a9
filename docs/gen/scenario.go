package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

// limit is the limit every algorithm is given: 10 requests per second. The
// token bucket's burst is the default, 10.
var limit = core.PerSecond(10)

// algorithms are the algorithms drawn, in the order of docs/algorithms.md.
var algorithms = []backend.Algorithm{backend.TokenBucket, backend.SlidingLog, backend.SlidingWindow, backend.FixedWindow}

// epoch is the instant the scenario starts at. It is a whole second, so the
// fixed windows (aligned to multiples of the period since the Unix epoch)
// start at every whole second of the scenario.
var epoch = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// phase is a run of evenly spaced requests in [from, to).
type phase struct {
	from, to, every time.Duration
}

const ms = time.Millisecond

// traffic is the bursty traffic every algorithm receives from one client:
//
//   - 0-1 s: a trickle of 5 requests per second, well within the limit;
//   - 1.85-2.15 s: a burst of 30 requests 10 ms apart, half of them before
//     and half after the fixed-window boundary at 2 s;
//   - 2.2-4 s: a sustained 20 requests per second, twice the limit;
//   - 5-6 s: the trickle again, after a second of silence.
var traffic = []phase{
	{from: 100 * ms, to: 1000 * ms, every: 200 * ms},
	{from: 1850 * ms, to: 2150 * ms, every: 10 * ms},
	{from: 2200 * ms, to: 4000 * ms, every: 50 * ms},
	{from: 5100 * ms, to: 6000 * ms, every: 200 * ms},
}

// span is the length of the scenario.
const span = 6 * time.Second

// arrivals returns the arrival times of traffic, in order.
func arrivals(phases []phase) []time.Duration {
	var at []time.Duration
	for _, p := range phases {
		for t := p.from; t < p.to; t += p.every {
			at = append(at, t)
		}
	}
	slices.Sort(at)
	return at
}

// event is one request of a run: when it arrived and whether it was
// admitted.
type event struct {
	At      time.Duration
	Allowed bool
}

// run is the outcome of the scenario under one algorithm.
type run struct {
	Algorithm backend.Algorithm
	Limit     core.Limit
	Events    []event
}

// simulate sends a request at every instant of at, from one client, to a
// real Limiter with the in-memory backend and a fake clock, and records
// every outcome.
func simulate(alg backend.Algorithm, l core.Limit, at []time.Duration) (run, error) {
	clk := clock.NewFake(epoch)
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "api", Algorithm: alg, Limits: []core.Limit{l}}),
		core.WithClock(clk),
	)
	if err != nil {
		return run{}, err
	}
	defer lim.Close()
	req := core.Request{Method: "GET", Path: "/", RemoteAddr: "203.0.113.7:51234"}
	r := run{Algorithm: alg, Limit: l, Events: make([]event, 0, len(at))}
	for _, t := range at {
		clk.Advance(epoch.Add(t).Sub(clk.Now()))
		d, err := lim.Decide(context.Background(), req)
		if err != nil {
			return run{}, err
		}
		switch d.Outcome {
		case core.Allowed:
			r.Events = append(r.Events, event{At: t, Allowed: true})
		case core.Denied:
			r.Events = append(r.Events, event{At: t})
		default:
			return run{}, fmt.Errorf("%v at %v: unexpected outcome %v", alg, t, d.Outcome)
		}
	}
	return r, nil
}

// admitted returns the arrival times of the admitted requests, in order.
func (r run) admitted() []time.Duration {
	var at []time.Duration
	for _, e := range r.Events {
		if e.Allowed {
			at = append(at, e.At)
		}
	}
	return at
}

// step is a value of the trailing count from At until the next step.
type step struct {
	At    time.Duration
	Count int
}

// trailing returns, as a step function over [0, end], the number of
// requests admitted in the trailing period (t-per, t]: it rises at each
// admission and falls per later.
func trailing(admitted []time.Duration, per, end time.Duration) []step {
	changes := []time.Duration{0}
	for _, a := range admitted {
		changes = append(changes, a, a+per)
	}
	slices.Sort(changes)
	changes = slices.Compact(changes)
	var steps []step
	for _, c := range changes {
		if c > end {
			break
		}
		steps = append(steps, step{At: c, Count: countIn(admitted, c-per, c)})
	}
	return steps
}

// countIn returns the number of instants in sorted that are in (from, to].
func countIn(sorted []time.Duration, from, to time.Duration) int {
	lo, _ := slices.BinarySearch(sorted, from+1)
	hi, _ := slices.BinarySearch(sorted, to+1)
	return hi - lo
}

// peak returns the most requests admitted in any interval of length per,
// and the end of the first interval (t-per, t] that holds that many.
func peak(admitted []time.Duration, per time.Duration) (most int, end time.Duration) {
	for _, a := range admitted { // every maximal interval ends at an admission
		if n := countIn(admitted, a-per, a); n > most {
			most, end = n, a
		}
	}
	return most, end
}

// perWindow returns the number of requests admitted in each fixed window
// [k*per, (k+1)*per) of the scenario.
func perWindow(admitted []time.Duration, per time.Duration) map[int64]int {
	counts := map[int64]int{}
	for _, a := range admitted {
		counts[int64(a/per)]++
	}
	return counts
}
