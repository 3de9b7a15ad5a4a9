package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stats summarises results.
type stats struct {
	requests, admitted, denied, unavailable, other5xx, errors int
	// failOpen counts admissions without a decision from Redis: a limited
	// response with RateLimit-Policy but no RateLimit (the draft-10 fields,
	// the configuration's default).
	failOpen int
	p50, p99 time.Duration
}

func summarise(rs []result) stats {
	var s stats
	var lat []time.Duration
	for _, r := range rs {
		s.requests++
		switch {
		case r.err != nil:
			s.errors++
			continue
		case r.status < 300:
			s.admitted++
			if r.policy != "" && r.rateLimit == "" {
				s.failOpen++
			}
		case r.status == 429:
			s.denied++
		case r.status == 503:
			s.unavailable++
		case r.status >= 500:
			s.other5xx++
		}
		lat = append(lat, r.latency)
	}
	slices.Sort(lat)
	s.p50, s.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
	return s
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *stats) add(o stats) {
	s.requests += o.requests
	s.admitted += o.admitted
	s.denied += o.denied
	s.unavailable += o.unavailable
	s.other5xx += o.other5xx
	s.errors += o.errors
	s.failOpen += o.failOpen
}

func merge(groups ...[]result) []result {
	var out []result
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// check is one property a scenario checked.
type check struct {
	what, expected, observed string
	ok                       bool
}

// scenarioReport is what one scenario saw and checked.
type scenarioReport struct {
	name     string
	traffic  stats
	checks   []check
	notes    []string // measurements and transcripts, printed as they are
	duration time.Duration
	t        *testing.T
	rep      *report // for the latencies
}

// expect records a check and fails the test when it does not hold.
func (sr *scenarioReport) expect(ok bool, what, expected, observed string) {
	sr.t.Helper()
	sr.checks = append(sr.checks, check{what, expected, observed, ok})
	if !ok {
		sr.t.Errorf("%s: expected %s, observed %s", what, expected, observed)
	}
}

// expectEq is expect with expected and observed printed by fmt.Sprint; the
// check holds when the two print the same.
func (sr *scenarioReport) expectEq(what string, expected, observed any) {
	sr.t.Helper()
	e, o := fmt.Sprint(expected), fmt.Sprint(observed)
	sr.expect(e == o, what, e, o)
}

// note adds a line to the scenario's section of the report, such as a
// measurement or a command's output.
func (sr *scenarioReport) note(line string) {
	sr.t.Log(line)
	sr.notes = append(sr.notes, line)
}

// record adds results to the scenario's traffic summary and to its
// latencies in the report.
func (sr *scenarioReport) record(rs ...[]result) {
	for _, g := range rs {
		sr.traffic.add(summarise(g))
	}
	sr.rep.latencies(sr.name, rs...)
}

// recordAll records every group of results of each burst.
func (sr *scenarioReport) recordAll(bursts ...map[string][]result) {
	for _, m := range bursts {
		for _, rs := range m {
			sr.record(rs)
		}
	}
}

// report collects every scenario's report and writes them out.
type report struct {
	mu        sync.Mutex
	scenarios []*scenarioReport
	lat       map[string][]time.Duration
	broken    string
}

func (r *report) begin(t *testing.T, name string) *scenarioReport {
	sr := &scenarioReport{name: name, t: t, rep: r}
	r.mu.Lock()
	r.scenarios = append(r.scenarios, sr)
	r.mu.Unlock()
	return sr
}

// latencies keeps a scenario's latencies for its p50 and p99.
func (r *report) latencies(name string, rs ...[]result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lat == nil {
		r.lat = map[string][]time.Duration{}
	}
	for _, g := range rs {
		for _, x := range g {
			if x.err == nil {
				r.lat[name] = append(r.lat[name], x.latency)
			}
		}
	}
}

// String renders the report as Markdown.
func (r *report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Sluice end-to-end report\n\n%s", time.Now().UTC().Format(time.RFC3339))
	if r.broken != "" {
		fmt.Fprintf(&b, " (broken on purpose: %s: %s)", r.broken, mutations[r.broken])
	}
	b.WriteString("\n\n| scenario | result | requests | admitted | of which failed open | 429 | 503 | other 5xx | errors | p50 | p99 | time |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, sr := range r.scenarios {
		lat := slices.Clone(r.lat[sr.name])
		slices.Sort(lat)
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %v | %v | %v |\n",
			sr.name, verdict(sr), sr.traffic.requests, sr.traffic.admitted, sr.traffic.failOpen, sr.traffic.denied,
			sr.traffic.unavailable, sr.traffic.other5xx, sr.traffic.errors,
			quantile(lat, 0.5).Round(10*time.Microsecond), quantile(lat, 0.99).Round(10*time.Microsecond),
			sr.duration.Round(10*time.Millisecond))
	}
	for _, sr := range r.scenarios {
		fmt.Fprintf(&b, "\n## %s: %s\n\n| check | expected | observed | |\n|---|---|---|---|\n", sr.name, verdict(sr))
		for _, c := range sr.checks {
			mark := "ok"
			if !c.ok {
				mark = "**FAIL**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.what, c.expected, c.observed, mark)
		}
		if len(sr.notes) > 0 {
			fmt.Fprintf(&b, "\n```\n%s\n```\n", strings.Join(sr.notes, "\n"))
		}
	}
	return b.String()
}

func verdict(sr *scenarioReport) string {
	if sr.t.Failed() {
		return "FAIL"
	}
	if sr.t.Skipped() {
		return "skipped"
	}
	return "pass"
}

// write prints the report and saves it to out/report.md.
func (r *report) write(t *testing.T) {
	text := r.String()
	fmt.Println(text)
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join("out", "report.md"), []byte(text), 0o644); err != nil {
		t.Error(err)
	}
}
