package sluiceprom_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// metricName finds metric names in PromQL.
var metricName = regexp.MustCompile(`\bsluice_[a-z_]+`)

// exported returns the names of every metric New registers, with the
// series names a histogram adds.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if _, err := sluiceprom.New(reg); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 16)
	go func() {
		reg.Describe(ch) // every registered collector, observed or not
		close(ch)
	}()
	name := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		if m := name.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
	}
	if len(names) < 7*4 {
		t.Fatalf("found only %d metric names: %v", len(names), names)
	}
	return names
}

func checkQueries(t *testing.T, where string, queries []string) {
	t.Helper()
	names := exported(t)
	if len(queries) == 0 {
		t.Fatalf("%s: no queries found", where)
	}
	for _, q := range queries {
		found := metricName.FindAllString(q, -1)
		if len(found) == 0 {
			t.Errorf("%s: query %q uses no sluice metric", where, q)
		}
		for _, n := range found {
			if !names[n] {
				t.Errorf("%s: query %q uses %s, which the metrics module does not export", where, q, n)
			}
		}
	}
}

func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries = append(queries, tg.Expr)
		}
	}
	checkQueries(t, "sluice.json", queries)
}

func TestDocumentedAlertsExist(t *testing.T) {
	raw, err := os.ReadFile("../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for i, block := range strings.Split(string(raw), "```promql") {
		if i == 0 {
			continue
		}
		queries = append(queries, strings.SplitN(block, "```", 2)[0])
	}
	checkQueries(t, "observability.md", queries)
	// The reference table names every exported metric.
	for n := range exported(t) {
		if strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") {
			continue
		}
		if !strings.Contains(string(raw), "`"+n+"`") {
			t.Errorf("observability.md does not document %s", n)
		}
	}
}
