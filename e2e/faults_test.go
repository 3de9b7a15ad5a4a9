package e2e

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/testkit/redistest"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr   string // host:port
	master bool
	failed bool
	slots  bool // serves slots
}

// nodes returns the cluster's view from the first node that answers.
func (h *harness) nodes() []clusterNode {
	for _, n := range h.cluster.Nodes {
		text, err := n.Do("CLUSTER", "NODES")
		if err != nil {
			continue
		}
		var out []clusterNode
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			out = append(out, clusterNode{addr: addr,
				master: strings.Contains(f[2], "master"), failed: strings.Contains(f[2], "fail"), slots: len(f) > 8})
		}
		return out
	}
	return nil
}

// server returns the redistest server at addr.
func (h *harness) server(addr string) *redistest.Server {
	for _, n := range h.cluster.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	h.t.Fatalf("no cluster node at %s", addr)
	return nil
}

// healthyPrimaries counts the primaries that serve slots and are not
// failed.
func healthyPrimaries(nodes []clusterNode) int {
	n := 0
	for _, c := range nodes {
		if c.master && c.slots && !c.failed {
			n++
		}
	}
	return n
}

// phase is a named interval of the faults scenario.
type phase struct {
	name       string
	begin, end time.Time
}

func (p phase) has(t time.Time) bool { return !t.Before(p.begin) && t.Before(p.end) }

// Scenario 4: faults under load. With paced load on three rules (fail
// open, fail closed, fail local) over the Cluster's instances: kill a
// primary (its replica is promoted), then kill all of Redis, then bring it
// back. Fail-open serves no 5xx; fail-closed answers 503 with Retry-After;
// fail-local keeps limits per instance; latency stays bounded by the
// backend timeout; exactness returns within seconds of Redis.
func scenarioFaults(h *harness, sr *scenarioReport) {
	ins := h.onCluster
	var targets []vegeta.Target
	for _, rule := range []string{"open", "closed", "local"} {
		for c := range 4 {
			ip := h.newIP()
			for _, in := range ins {
				targets = append(targets, vegeta.Target{Method: "GET", URL: fmt.Sprintf("%s/api/%s/c%d", in.url, rule, c),
					Header: http.Header{"X-Forwarded-For": {ip}}})
			}
		}
	}
	stop := h.attack(vegeta.NewStaticTargeter(targets...), 150, "faults")
	// Stopped at the end, or by this when a Fatalf ends the scenario early.
	defer stop()
	var phases []phase
	mark := func(name string, begin time.Time) {
		if n := len(phases); n > 0 {
			phases[n-1].end = begin
		}
		phases = append(phases, phase{name: name, begin: begin})
	}
	mark("steady", time.Now())
	time.Sleep(2 * time.Second)

	// Kill one primary; its replica takes over after the node timeout.
	var victim string
	for _, n := range h.nodes() {
		if n.master && n.slots {
			victim = n.addr
			break
		}
	}
	h.server(victim).Kill()
	mark("primary killed", time.Now())
	failover := h.eventually(30*time.Second, "a replica promoted", func() bool {
		nodes := h.nodes()
		return healthyPrimaries(nodes) == 3 && slices.ContainsFunc(nodes, func(n clusterNode) bool { return n.addr == victim && n.failed })
	})
	h.t.Logf("failover: a replica of %s promoted after %v", victim, failover.Round(time.Millisecond))
	mark("after failover", time.Now())
	time.Sleep(2 * time.Second)

	// Kill all of Redis. Fresh fail-local clients then race over the
	// instances: each instance admits its share, L/3, and no more.
	for _, n := range h.cluster.Nodes {
		n.Kill()
	}
	mark("all Redis down", time.Now())
	time.Sleep(time.Second)
	var local [][]shot
	var tags []string
	for i := range 4 {
		tag := fmt.Sprintf("local/%d", i)
		tags = append(tags, tag)
		local = append(local, spread(ins, 2*localLimit, "GET", "/api/local/fresh", client{ip: h.newIP()}, tag))
	}
	down := h.burst(interleave(local...), 16)
	time.Sleep(2 * time.Second)

	// Bring Redis back: the same nodes, ports and nodes.conf; the data is
	// gone (persistence is off), so every client starts afresh.
	restart := time.Now()
	for _, n := range h.cluster.Nodes {
		if err := n.Restart(); err != nil {
			h.t.Fatal(err)
		}
	}
	mark("Redis restarted", time.Now())
	h.eventually(30*time.Second, "cluster state ok on every node", func() bool {
		for _, n := range h.cluster.Nodes {
			if info, err := n.Do("CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	clusterOK := time.Since(restart)
	// Exactness is back when a fresh client's burst over every instance
	// admits exactly the limit, decided by Redis again.
	var exact []result
	recovered := h.eventually(15*time.Second, "exactness after Redis returns", func() bool {
		res := h.burst(spread(ins, 2*exactLimit, "GET", "/api/log/recover", client{ip: h.newIP()}, "r"), 8)
		exact = append(exact, res["r"]...)
		return summarise(res["r"]).admitted == exactLimit
	})
	sr.expect(recovered < 5*time.Second, "exactness after Redis returns (fresh client, 40 requests, limit 20)",
		"within 5s of the cluster being ok", fmt.Sprintf("%v after cluster ok (%v after restart)",
			recovered.Round(time.Millisecond), clusterOK.Round(time.Millisecond)))
	mark("recovered", time.Now())
	time.Sleep(time.Second)
	phases[len(phases)-1].end = time.Now().Add(time.Hour)
	bg := stop()

	// What each rule saw, per phase.
	byRule := func(rule string, p phase) []result {
		var out []result
		for _, r := range bg {
			if (rule == "" || strings.HasPrefix(r.path, "/api/"+rule+"/")) && p.has(r.at) {
				out = append(out, r)
			}
		}
		return out
	}
	faulty := phase{name: "faults", begin: phases[1].begin, end: phases[4].begin}
	for _, p := range append(phases, faulty) {
		s := summarise(byRule("open", p))
		sr.expectEq(fmt.Sprintf("fail-open rule, %s: 5xx and errors", p.name), fmt.Sprintf("0 of %d", s.requests),
			fmt.Sprintf("%d of %d", s.unavailable+s.other5xx+s.errors, s.requests))
	}
	closed := byRule("closed", faulty)
	var bad []string
	for _, r := range closed {
		switch {
		case r.err != nil:
			bad = append(bad, r.err.Error())
		case r.status == http.StatusServiceUnavailable && r.retryAfter == "":
			bad = append(bad, "503 without Retry-After")
		case r.status >= 500 && r.status != http.StatusServiceUnavailable:
			bad = append(bad, strconv.Itoa(r.status))
		}
	}
	cs := summarise(closed)
	sr.expect(len(bad) == 0 && cs.unavailable > 0, "fail-closed rule while Redis fails: responses",
		"503 with Retry-After (or 200/429), nothing else", fmt.Sprintf("%d of %d were 503; other failures: %d %v",
			cs.unavailable, cs.requests, len(bad), first(bad, 3)))
	downPhase := phases[3]
	sd := summarise(byRule("closed", downPhase))
	sr.expectEq("fail-closed rule, all Redis down: 503s", fmt.Sprintf("%d of %d", sd.requests, sd.requests),
		fmt.Sprintf("%d of %d", sd.unavailable, sd.requests))

	// Fail-local: per instance, a fresh client gets L/divisor.
	perInstance := localLimit / localDivisor
	var counts []int
	for _, tag := range tags {
		per := map[string]int{}
		for _, r := range down[tag] {
			if r.err == nil && r.status < 300 {
				per[r.instance]++
			}
		}
		for _, in := range ins {
			counts = append(counts, per[in.name])
		}
	}
	sr.expect(slices.Min(counts) == perInstance && slices.Max(counts) == perInstance,
		fmt.Sprintf("fail-local, all Redis down: admitted per client per instance (4 clients × %d requests over %d instances)", 2*localLimit, len(ins)),
		fmt.Sprintf("%d each (%d/h ÷ %d)", perInstance, localLimit, localDivisor), countsSummary(counts))
	for _, rs := range down {
		noFailures(sr, "fail-local, all Redis down", rs)
	}
	sr.recordAll(down)

	// Latency while Redis fails stays bounded by the backend timeout.
	var lat []time.Duration
	for _, r := range bg {
		if faulty.has(r.at) && r.err == nil {
			lat = append(lat, r.latency)
		}
	}
	slices.Sort(lat)
	const margin = 100 * time.Millisecond
	p99 := quantile(lat, 0.99)
	observed := fmt.Sprintf("%v (p50 %v, max %v)", p99.Round(100*time.Microsecond), quantile(lat, 0.5).Round(100*time.Microsecond), quantile(lat, 1).Round(time.Millisecond))
	if p99 >= backendTimeout+margin {
		observed += "; slower than that: " + h.slowest(bg, faulty, phases, backendTimeout+margin)
	}
	sr.expect(p99 < backendTimeout+margin, fmt.Sprintf("p99 latency while Redis fails (%d requests)", len(lat)),
		fmt.Sprintf("< %v (timeout %v + %v)", backendTimeout+margin, backendTimeout, margin), observed)
	for _, p := range phases {
		s := summarise(byRule("", p))
		h.t.Logf("phase %-16s %5d requests: %5d admitted, %4d 429, %4d 503, %d other 5xx, %d errors, p99 %v",
			p.name, s.requests, s.admitted, s.denied, s.unavailable, s.other5xx, s.errors, s.p99.Round(100*time.Microsecond))
	}
	sr.record(bg, exact)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// slowest says where the requests of p slower than bound were: how many in
// each phase, on each instance and on each rule, so that a failed latency
// check tells a stalled machine (every instance, every rule) from a slow
// path.
func (h *harness) slowest(rs []result, p phase, phases []phase, bound time.Duration) string {
	byPhase, byInstance, byRule := map[string]int{}, map[string]int{}, map[string]int{}
	names := map[string]string{}
	for _, in := range h.all() {
		names[strings.TrimPrefix(in.url, "http://")] = in.name
	}
	for _, r := range rs {
		if !p.has(r.at) || r.err != nil || r.latency < bound {
			continue
		}
		for _, ph := range phases {
			if ph.has(r.at) {
				byPhase[ph.name]++
			}
		}
		byInstance[cmp.Or(names[r.instance], r.instance)]++
		rule, _, _ := strings.Cut(strings.TrimPrefix(r.path, "/api/"), "/")
		byRule[rule]++
	}
	return fmt.Sprintf("by phase %v, by instance %v, by rule %v", byPhase, byInstance, byRule)
}
