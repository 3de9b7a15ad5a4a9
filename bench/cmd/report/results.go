package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// Results are the measurements of one benchmark run, read from `go test
// -bench` output with several runs (-count) of each benchmark.
type Results struct {
	// Config is the file configuration the output began with: goos,
	// goarch, pkg and cpu.
	Config map[string]string
	// series holds every measurement by benchmark and unit.
	series map[seriesKey]map[string][]float64
	// limiters lists each workload's limiters in the order they first
	// appear, which is the order the benchmarks list them in; shapes lists
	// the shapes of a workload that has them, likewise.
	limiters, shapes map[string][]string
}

// seriesKey names one benchmark: Benchmark<Workload>/<limiter>, with
// /callers=<n> for the Redis throughput workload and /shape=<name> for
// the workload-shape comparison.
type seriesKey struct {
	workload, limiter string
	callers           int
	shape             string
}

// Parse reads benchmark output in the Go benchmark format.
func Parse(r io.Reader, name string) (*Results, error) {
	res := &Results{
		Config:   map[string]string{},
		series:   map[seriesKey]map[string][]float64{},
		limiters: map[string][]string{},
		shapes:   map[string][]string{},
	}
	br := benchfmt.NewReader(r, name)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			res.add(rec)
		}
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	if len(res.series) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", name)
	}
	return res, nil
}

func (res *Results) add(r *benchfmt.Result) {
	for _, c := range r.Config {
		if c.File {
			res.Config[c.Key] = string(c.Value)
		}
	}
	base, parts := r.Name.Parts()
	k := seriesKey{workload: string(base)}
	for _, p := range parts {
		p := string(p)
		switch {
		case strings.HasPrefix(p, "-"): // GOMAXPROCS
		case strings.HasPrefix(p, "/callers="):
			k.callers, _ = strconv.Atoi(strings.TrimPrefix(p, "/callers="))
		case strings.HasPrefix(p, "/shape="):
			k.shape = strings.TrimPrefix(p, "/shape=")
		case k.limiter == "":
			k.limiter = strings.TrimPrefix(p, "/")
		}
	}
	if k.limiter == "" {
		return // not a comparison benchmark
	}
	if !slices.Contains(res.limiters[k.workload], k.limiter) {
		res.limiters[k.workload] = append(res.limiters[k.workload], k.limiter)
	}
	if k.shape != "" && !slices.Contains(res.shapes[k.workload], k.shape) {
		res.shapes[k.workload] = append(res.shapes[k.workload], k.shape)
	}
	units := res.series[k]
	if units == nil {
		units = map[string][]float64{}
		res.series[k] = units
	}
	for _, v := range r.Values {
		unit, val := v.Unit, v.Value
		if v.OrigUnit != "" { // undo benchfmt's tidying (ns/op to sec/op)
			unit, val = v.OrigUnit, v.OrigValue
		}
		units[unit] = append(units[unit], val)
	}
}

// Limiters returns the limiters measured in a workload.
func (res *Results) Limiters(workload string) []string { return res.limiters[workload] }

// Callers returns the caller counts measured in a workload, ascending.
func (res *Results) Callers(workload string) []int {
	var out []int
	for k := range res.series {
		if k.workload == workload && !slices.Contains(out, k.callers) {
			out = append(out, k.callers)
		}
	}
	slices.Sort(out)
	return out
}

// Stat summarises the runs of one benchmark in one unit.
type Stat struct {
	// Median is the median of the runs, as benchstat computes it.
	Median float64
	// Lo and Hi bound the median's 95% confidence interval (±Inf with
	// fewer than 6 runs).
	Lo, Hi float64
	// Min and Max are the extreme runs.
	Min, Max float64
	// Runs is the number of runs.
	Runs int
}

// Stat returns the summary of a benchmark's values in unit, and false when
// there are none.
func (res *Results) Stat(workload, limiter string, callers int, unit string) (Stat, bool) {
	return res.stat(seriesKey{workload: workload, limiter: limiter, callers: callers}, unit)
}

// ShapeStat is Stat for one shape of a workload that has shapes.
func (res *Results) ShapeStat(workload, limiter, shape, unit string) (Stat, bool) {
	return res.stat(seriesKey{workload: workload, limiter: limiter, shape: shape}, unit)
}

// Shapes returns the shapes measured in a workload, in the order they
// first appear.
func (res *Results) Shapes(workload string) []string { return res.shapes[workload] }

// ShapeDiffers compares two shapes of one limiter in unit as benchstat
// does (a Mann-Whitney U test at α = 0.05), and returns the test's p-value
// and whether the difference is significant. It returns false when either
// shape has fewer than two runs.
func (res *Results) ShapeDiffers(workload, limiter, shape1, shape2, unit string) (p float64, significant bool) {
	a := res.series[seriesKey{workload: workload, limiter: limiter, shape: shape1}][unit]
	b := res.series[seriesKey{workload: workload, limiter: limiter, shape: shape2}][unit]
	if len(a) < 2 || len(b) < 2 {
		return 1, false
	}
	t := &benchmath.DefaultThresholds
	c := benchmath.AssumeNothing.Compare(benchmath.NewSample(slices.Clone(a), t), benchmath.NewSample(slices.Clone(b), t))
	return c.P, c.P < c.Alpha
}

func (res *Results) stat(k seriesKey, unit string) (Stat, bool) {
	vals := res.series[k][unit]
	if len(vals) == 0 {
		return Stat{}, false
	}
	s := benchmath.NewSample(slices.Clone(vals), &benchmath.DefaultThresholds)
	sum := benchmath.AssumeNothing.Summary(s, 0.95)
	return Stat{
		Median: sum.Center, Lo: sum.Lo, Hi: sum.Hi,
		Min: s.Values[0], Max: s.Values[len(s.Values)-1],
		Runs: len(vals),
	}, true
}

// Runs returns the largest number of runs of any benchmark.
func (res *Results) Runs() int {
	n := 0
	for _, units := range res.series {
		for _, v := range units {
			n = max(n, len(v))
		}
	}
	return n
}
