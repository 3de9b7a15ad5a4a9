package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// sluice runs the sluice command, built from cmd/sluice, on the shared
// configuration file with args, as an operator would on a machine with
// the servers' configuration. It returns what the command printed on
// standard output and standard error, and its exit status; the scenario's
// report gets the whole exchange.
func (h *harness) sluice(sr *scenarioReport, cmd string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	c := exec.Command(filepath.Join(h.bin, "sluice"), append([]string{cmd, h.config}, args...)...)
	// As for the servers: no SLUICE_ variable but the harness's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			c.Env = append(c.Env, kv)
		}
	}
	if h.broken == "cli-other-redis" {
		c.Env = append(c.Env, "SLUICE_BACKEND_REDIS_URL=redis://"+h.standalone.Addr)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		h.t.Fatalf("sluice %s: %v", cmd, err)
	}
	line := "$ sluice " + cmd + " sluice.toml"
	for _, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		line += " " + a
	}
	sr.note(line)
	for _, l := range strings.Split(strings.TrimRight(out.String()+errb.String(), "\n"), "\n") {
		sr.note("  " + l)
	}
	if code != 0 {
		sr.note(fmt.Sprintf("  (exit %d)", code))
	}
	return out.String(), errb.String(), code
}

// Scenario 8: the sluice command against the Cluster the instances share.
// explain says a forged X-Forwarded-For from an untrusted peer is ignored
// (and read from the trusted balancer); a client that used up its limit
// shows as denied in peek, reset --yes clears it in Redis, peek shows it
// allowed, and the instances admit it again, all but the one that cached
// its last denial, which keeps denying it until that denial's Retry-After
// (documented in docs/cli.md).
func scenarioCLI(h *harness, sr *scenarioReport) {
	const forged = "203.0.113.66"
	out, _, code := h.sluice(sr, "explain", "--path", "/api/data", "--remote", "127.0.0.2:40000",
		"--header", "X-Forwarded-For: "+forged)
	sr.expect(code == 0 && strings.Contains(out, "X-Forwarded-For ignored") && regexp.MustCompile(`(?m)^client\s+ip:127\.0\.0\.2,`).MatchString(out),
		"explain, a forged X-Forwarded-For from 127.0.0.2 (not a trusted proxy)",
		"the header ignored, the client is ip:127.0.0.2", firstLines(out, "client", "why"))
	out, _, code = h.sluice(sr, "explain", "--path", "/api/data", "--remote", "127.0.0.1:40000",
		"--header", "X-Forwarded-For: "+forged)
	sr.expect(code == 0 && !strings.Contains(out, "ignored") && regexp.MustCompile(`(?m)^client\s+ip:`+regexp.QuoteMeta(forged)+`,`).MatchString(out),
		"explain, the same header from 127.0.0.1 (the trusted balancer)",
		"the header read, the client is ip:"+forged, firstLines(out, "client", "why"))

	// A client uses up /api/** (anonymous, 10/h) over the three instances,
	// then is denied by one of them only: that instance alone caches the
	// denial.
	ip := h.newIP()
	c := client{ip: ip}
	nethttp, others := h.onCluster[0], h.onCluster[1:]
	used := h.burst(spread(h.onCluster, anonLimit, "GET", "/api/data", c, "used"), 1)
	over := h.burst(spread([]*instance{nethttp}, 3, "GET", "/api/data", c, "over"), 1)
	_, s := admittedEach(used, []string{"used"})
	sr.expectEq(fmt.Sprintf("a client's %d requests over the 3 instances: admitted", anonLimit), fmt.Sprintf("%d each", anonLimit), s)
	o := summarise(over["over"])
	sr.expectEq("then 3 more through "+nethttp.name+": 429s", "3 of 3", fmt.Sprintf("%d of %d", o.denied, o.requests))
	sr.recordAll(used, over)

	peekDenied := regexp.MustCompile(`(?m)^\s+api\s+denied for \S+\s+10/h: 0 left`)
	out, _, code = h.sluice(sr, "peek", "--rule", "api", "--remote", "127.0.0.1:40000", "--header", "X-Forwarded-For: "+ip)
	sr.expect(code == 0 && peekDenied.MatchString(out), "peek the client (named by a request through the balancer)",
		"api denied, 10/h: 0 left", firstLines(out, "  api"))
	out, _, code = h.sluice(sr, "reset", "--rule", "api", "--key", ip, "--yes")
	sr.expect(code == 0 && strings.Contains(out, "reset ip:"+ip+" in api"), "reset --yes",
		"reset ip:"+ip+" in api", strings.TrimSpace(out))
	peekAllowed := regexp.MustCompile(`(?m)^\s+api\s+allowed\s+10/h: 10 left`)
	out, _, code = h.sluice(sr, "peek", "--rule", "api", "--key", ip)
	sr.expect(code == 0 && peekAllowed.MatchString(out), "peek after the reset", "api allowed, 10/h: 10 left", firstLines(out, "  api"))

	// The instances that never denied the client decide from Redis: its
	// whole limit is back. The one that denied it keeps its cached denial.
	hits := func() float64 { return h.scrape(nethttp, "sluice_local_deny_cache_hits_total") }
	before := hits()
	cached := h.do(nethttp, "GET", "/api/data", c)
	after := hits()
	sr.expect(cached.status == 429 && after == before+1,
		nethttp.name+", which cached the client's last denial: the next request",
		"429 from the deny cache (sluice_local_deny_cache_hits_total +1), until that denial's Retry-After",
		fmt.Sprintf("%d, Retry-After %ss, deny cache hits %v → %v", cached.status, cached.retryAfter, before, after))
	again := h.burst(spread(others, anonLimit+2, "GET", "/api/data", c, "again"), 1)
	_, s = admittedEach(again, []string{"again"})
	sr.expectEq(fmt.Sprintf("the other instances (%s, %s), %d requests after the reset: admitted", others[0].name, others[1].name, anonLimit+2),
		fmt.Sprintf("%d each", anonLimit), s)
	sr.recordAll(again)
	sr.record([]result{cached})
	sr.note(fmt.Sprintf("(%s keeps denying ip:%s from its deny cache until %s: the Retry-After of its last denial, %ss, not the reset)",
		nethttp.name, ip, cached.at.Add(secondsOf(cached.retryAfter)).Format(time.TimeOnly), cached.retryAfter))
}

// firstLines returns the lines of out that start with one of the prefixes,
// joined by " / ", for the report.
func firstLines(out string, prefixes ...string) string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				got = append(got, strings.Join(strings.Fields(l), " "))
				break
			}
		}
	}
	if len(got) == 0 {
		return fmt.Sprintf("%q", strings.TrimSpace(out))
	}
	return strings.Join(got, " / ")
}

func secondsOf(s string) time.Duration { return time.Duration(atoi(s)) * time.Second }
