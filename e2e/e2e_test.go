package e2e

import (
	"os"
	"testing"
	"time"
)

// TestE2E runs every scenario against one deployment: three example
// servers on a Redis Cluster and three on a standalone Redis, all from one
// configuration file, and a fourth on the Cluster, echo, for the scenarios
// that meet every adapter. It needs redis-server, redis-cli and the Go
// toolchain; `make e2e` runs it. The report goes to the console and to
// out/report.md.
func TestE2E(t *testing.T) {
	if os.Getenv("SLUICE_E2E") != "1" {
		t.Skip("the end-to-end run starts 7 Redis servers and 9 example servers: run it with `make e2e` (SLUICE_E2E=1)")
	}
	begin := time.Now()
	h := newHarness(t, *breakFlag)
	rep := &report{broken: *breakFlag}
	defer rep.write(t)
	for _, sc := range []struct {
		name string
		run  func(*harness, *scenarioReport)
	}{
		{"1-exactness", scenarioExactness},
		{"2-tiers-endpoints", scenarioTiers},
		{"3-spoofing", scenarioSpoofing},
		{"5-reload", scenarioReload},
		{"6-clients", scenarioClients},
		{"7-sluiceclient", scenarioSluiceClient},
		{"8-cli", scenarioCLI},
		{"9-leasing", scenarioLeasing},
		{"10-grpc", scenarioGRPC},
		// Last: it kills and restarts Redis.
		{"4-faults", scenarioFaults},
	} {
		t.Run(sc.name, func(t *testing.T) {
			sr := rep.begin(t, sc.name)
			start := time.Now()
			defer func() { sr.duration = time.Since(start) }()
			h.t = t
			sc.run(h, sr)
		})
	}
	t.Logf("end-to-end run: %v", time.Since(begin).Round(time.Millisecond))
}
