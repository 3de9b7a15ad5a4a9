package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// parseFixture reads testdata/results.txt: a small hand-made run in the
// format `go test -bench` prints, two invocations appended.
func parseFixture(t *testing.T) *Results {
	t.Helper()
	f, err := os.Open("testdata/results.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f, "results.txt")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParse(t *testing.T) {
	res := parseFixture(t)
	if got, want := strings.Join(res.Limiters(wHotSerial), ","), "sluice,throttled"; got != want {
		t.Errorf("Limiters(%s) = %s, want %s", wHotSerial, got, want)
	}
	if got, want := res.Callers(wRedis), []int{1, 16}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Callers(%s) = %v, want %v", wRedis, got, want)
	}
	if got, want := strings.Join(res.Shapes(wShape), ","), "old,user-keys,new,bare,sync-map"; got != want {
		t.Errorf("Shapes(%s) = %s, want %s", wShape, got, want)
	}
	if got, want := res.Runs(), 6; got != want {
		t.Errorf("Runs() = %d, want %d", got, want)
	}
	if got, want := res.Config["cpu"], "Test CPU @ 1.00GHz"; got != want {
		t.Errorf("Config[cpu] = %q, want %q", got, want)
	}
	tests := []struct {
		name              string
		workload, limiter string
		callers           int
		unit              string
		wantMedian        float64
		wantMin, wantMax  float64
	}{
		{"ns/op stays in ns", wHotSerial, "sluice", 0, "ns/op", 110, 100, 120},
		{"custom unit", wHotSerial, "throttled", 0, "errors/op", 0, 0, 0.001},
		{"callers", wRedis, "sluice", 16, "p99-µs", 3000, 3000, 3000},
		{"accuracy", wRedisAccuracy, "throttled", 0, "admitted", 23, 21, 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := res.Stat(tt.workload, tt.limiter, tt.callers, tt.unit)
			if !ok {
				t.Fatalf("Stat(%s, %s, %d, %s): no values", tt.workload, tt.limiter, tt.callers, tt.unit)
			}
			if s.Median != tt.wantMedian || s.Min != tt.wantMin || s.Max != tt.wantMax {
				t.Errorf("median, min, max = %v, %v, %v; want %v, %v, %v", s.Median, s.Min, s.Max, tt.wantMedian, tt.wantMin, tt.wantMax)
			}
		})
	}
	if _, ok := res.Stat(wHotParallel, "sluice", 0, "ns/op"); ok {
		t.Errorf("Stat of a workload that did not run: ok")
	}
	if s, ok := res.ShapeStat(wShape, "x-time-rate", "sync-map", "ns/op"); !ok || s.Median != 62.5 || s.Runs != 6 {
		t.Errorf("ShapeStat(x-time-rate, sync-map) = %+v, %v; want a median of 62.5 over 6 runs", s, ok)
	}
	if _, ok := res.ShapeStat(wShape, "sluice", "sync-map", "ns/op"); ok {
		t.Errorf("ShapeStat of a shape that did not run: ok")
	}
	shapeTests := []struct {
		limiter, shape  string
		wantSignificant bool
	}{
		{"sluice", "user-keys", false}, // the same values, shuffled
		{"sluice", "new", true},
		{"x-time-rate", "sync-map", true},
	}
	for _, tt := range shapeTests {
		if p, sig := res.ShapeDiffers(wShape, tt.limiter, "old", tt.shape, "ns/op"); sig != tt.wantSignificant {
			t.Errorf("ShapeDiffers(%s, old, %s) = %v, %v; want significant %v", tt.limiter, tt.shape, p, sig, tt.wantSignificant)
		}
	}
	if _, sig := res.ShapeDiffers(wHotSerial, "sluice", "old", "new", "ns/op"); sig {
		t.Errorf("ShapeDiffers of a workload without shapes: significant")
	}
}

func TestParseRejectsEmptyOutput(t *testing.T) {
	if _, err := Parse(strings.NewReader("PASS\nok  \tx\t0.1s\n"), "empty.txt"); err == nil {
		t.Error("Parse of output without results: no error")
	}
}

func TestMarkdown(t *testing.T) {
	res := parseFixture(t)
	md := string(Markdown(res, Meta{
		Date:      time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		GoVersion: "go version go1.26.8 linux/amd64",
		GOOS:      "linux", GOARCH: "amd64",
		CPU:       "Test CPU",
		Cores:     2,
		Libraries: []Library{{Name: "sluice", Module: "github.com/sluicehq/sluice/core", Version: "this workspace at abc1234"}},
		Elapsed:   90 * time.Second,
		Chart:     "performance.png",
		Benchtime: "300ms",
	}))
	for _, want := range []string{
		"median of 6 runs (`-count 6`)",
		"2-core virtual machine shared with other work",
		"lasted about 300ms (`-benchtime`)",
		"The whole run took 1m30s.",
		"![", "(performance.png)",
		"| Go | `go version go1.26.8 linux/amd64` |",
		"| CPU | Test CPU |",
		"| sluice | `github.com/sluicehq/sluice/core` | this workspace at abc1234 |",
		"100 per second with a burst of 100",
		// Hot key, serial: medians, the share admitted, the errors column
		// throttled needs, the ratio.
		"| Library | ns/op | 95% CI | ÷ Sluice | CPU ns/op | 95% CI | ÷ Sluice | B/op | allocs/op | admitted | errors/op |",
		"| sluice | 110 | – | 1.00 | 220 | – | 1.00 | 0 | 0 | 0.011% | 0 |",
		"| throttled | 220 | – | 2.00 | – | – | – | 0 | 0 | 0.02% | 0 |",
		"*No results for BenchmarkHotKeyParallel in this run*.",
		"Sluice's CPU time is 0.33 times x/time/rate's with the keys in a random order and 1.33 times in creation order.",
		"| sluice | 50 | 50 | 50 |",
		"| sluice | 100 | 100 | 100 | 0 | 2 |",
		"| throttled | 23 | 21 | 27 | 977 | 3 |",
		"| Library | 1 caller | 16 callers |",
		"| sluice | 20,000 | 40,000 |",
		"| redis_rate | 25,000 | – |",
		"No decision failed in these runs.",
		"Admitted: 99.9% to 100% of the decisions",
		// The shapes: medians, changes from the old shape with their
		// p-values, and the ratio, which takes Sluice's old time where
		// Sluice did not run.
		"| old | IPv4 keys as an IP identity of a `GET /` request, 10^8 per hour, x/time/rate in a mutex map, keys asked in the order they were created |",
		"| sync-map | x/time/rate in a sync.Map |",
		"### Time per decision, ns/op",
		"| Shape | sluice | vs old | x-time-rate | vs old | sluice ÷ x-time-rate |",
		"| old | 103 | – | 123 | – | 0.84 |",
		"| user-keys | 103 | ~ (p=",
		"| new | 153 | +49% (p=0.002) | 52.5 | -57% (p=0.002) | 2.90 |",
		"| sync-map | – | – | 62.5 | -49% (p=0.002) | 1.64 |",
		"| bare | 92.5 | -10% (p=0.002) | – | – | 0.76 |",
		"In cpu-ns/op, Sluice's time went from 0.84 times x/time/rate's in the old shape to 2.90 times in the new. " +
			"Of the changes alone that benchstat finds move either library, the one that moves that ratio most is sync-map: 1.64.",
		"### CPU time per decision, CPU ns/op",
		"| old | 205 | – | 245 | – | 0.84 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	for _, unwanted := range []string{
		"In ns/op,",                 // only the CPU table concludes
		"does not put Sluice ahead", // the old shape does in the fixture
	} {
		if strings.Contains(md, unwanted) {
			t.Errorf("markdown has %q", unwanted)
		}
	}
	if t.Failed() {
		t.Logf("markdown:\n%s", md)
	}
}

func TestChart(t *testing.T) {
	png, err := Chart(parseFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("Chart did not return a PNG (starts with %q)", png[:min(8, len(png))])
	}
}
