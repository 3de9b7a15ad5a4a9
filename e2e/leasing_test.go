package e2e

import (
	"fmt"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// flood sends requests from one client as fast as workers closed loops
// can, round-robin over the instances, for d, and returns the results.
func (h *harness) flood(ins []*instance, path string, c client, workers int, d time.Duration) []result {
	var (
		mu   sync.Mutex
		out  []result
		next atomic.Uint64
		wg   sync.WaitGroup
	)
	end := time.Now().Add(d)
	for range workers {
		wg.Go(func() {
			var mine []result
			for time.Now().Before(end) {
				in := ins[next.Add(1)%uint64(len(ins))]
				mine = append(mine, h.do(in, "GET", path, c))
			}
			mu.Lock()
			out = append(out, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// scriptStats is what Redis counted of the Lua scripts (EVALSHA and EVAL)
// it ran: calls and the time spent in them.
type scriptStats struct {
	calls int64
	cpu   time.Duration
}

// scriptCalls returns every Cluster node's script counts, by address. A
// node that does not answer is asked again: a count is never left out.
func (h *harness) scriptCalls() map[string]scriptStats {
	out := map[string]scriptStats{}
	for _, n := range h.cluster.Nodes {
		var text string
		var err error
		for try := 0; try < 5; try++ {
			if text, err = n.Do("INFO", "commandstats"); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			h.t.Fatalf("INFO commandstats on %s: %v", n.Addr, err)
		}
		var st scriptStats
		for _, line := range strings.Split(text, "\n") {
			name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
				continue
			}
			for _, f := range strings.Split(fields, ",") {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "calls":
					st.calls += n
				case "usec":
					st.cpu += time.Duration(n) * time.Microsecond
				}
			}
		}
		out[n.Addr] = st
	}
	return out
}

// since returns the scripts run between two readings of scriptCalls.
func since(before, after map[string]scriptStats) (calls int64, cpu time.Duration) {
	for addr, a := range after {
		calls += a.calls - before[addr].calls
		cpu += a.cpu - before[addr].cpu
	}
	return calls, cpu
}

// leaseRun is what one run of the leasing scenario measured.
type leaseRun struct {
	mode    string
	limit   int
	res     []result
	elapsed time.Duration
	// decisions counts the 200s and 429s.
	decisions int
	// perWindow counts the admissions of each whole window sent and
	// answered within it, deniedPerWindow the denials; spanning counts
	// the admissions in flight across a window boundary.
	perWindow, deniedPerWindow []int
	spanning                   int
	scripts                    int64         // Lua scripts Redis ran
	redisCPU                   time.Duration // in them
}

func (r leaseRun) perSecond() float64 { return float64(r.decisions) / r.elapsed.Seconds() }

func (r leaseRun) scriptsPerDecision() float64 {
	return float64(r.scripts) / max(1, float64(r.decisions))
}

// hotKey floods one client of the rule at path (limit per second, a fixed
// window) over the instances for d, and measures.
func (h *harness) hotKey(ins []*instance, mode, path string, limit int, d time.Duration) leaseRun {
	// Start just after a window boundary, so that the run spans whole
	// windows from its start.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	c := client{ip: h.newIP()} // the hot key: one client of the rule
	scripts0 := h.scriptCalls()
	begin := time.Now()
	res := h.flood(ins, path, c, hotWorkers, d)
	end := time.Now()
	run := leaseRun{mode: mode, limit: limit, res: res, elapsed: end.Sub(begin)}
	// A lease lives at most its prefetch (100ms): count the calls once
	// every batch has been returned.
	time.Sleep(300 * time.Millisecond)
	scripts1 := h.scriptCalls()
	run.scripts, run.redisCPU = since(scripts0, scripts1)
	byWindow, denied := map[int64]int{}, map[int64]int{}
	for _, r := range res {
		if r.err != nil {
			continue
		}
		if r.status == http.StatusOK || r.status == http.StatusTooManyRequests {
			run.decisions++
		}
		w := r.at.Unix()
		switch {
		case r.status == http.StatusTooManyRequests:
			denied[w]++
		case r.status != http.StatusOK:
		// A fixed window is a clock second (Redis's clock, which is this
		// machine's): an admission belongs to the second its request was
		// sent and answered in, or, in flight across a boundary, to either.
		case w == r.at.Add(r.latency).Unix():
			byWindow[w]++
		default:
			run.spanning++
		}
	}
	// Only whole windows: the first and last are cut by the run.
	for w := begin.Unix() + 1; w < end.Unix(); w++ {
		run.perWindow = append(run.perWindow, byWindow[w])
		run.deniedPerWindow = append(run.deniedPerWindow, denied[w])
	}
	return run
}

func (r leaseRun) String() string {
	s := summarise(r.res)
	return fmt.Sprintf("%-40s %6.0f decisions/s over HTTP (%d in %v, %d admitted), %6d Redis scripts (%.4f per decision, %.1f µs of Redis time per decision)",
		r.mode, r.perSecond(), r.decisions, r.elapsed.Round(time.Millisecond), s.admitted,
		r.scripts, r.scriptsPerDecision(), float64(r.redisCPU.Microseconds())/max(1, float64(r.decisions)))
}

// Scenario 9: one hot key over the three instances on the Cluster, a
// fixed window leased in batches (rules[].prefetch = "100ms") against the
// same rule deciding by one Redis call per decision.
//
// Over the limit, for several windows: no window admits more than the
// limit in either mode. Under the limit (a key hot for Redis, not for its
// limit): leasing takes at least 10 times fewer Redis calls per decision,
// which is what bounds one key's decisions per second once Redis is the
// bottleneck. Decisions per second over HTTP are reported for both modes;
// on a shared 2-core machine the HTTP servers and the load, not Redis, bound
// them.
func scenarioLeasing(h *harness, sr *scenarioReport) {
	ins := h.onCluster
	var runs []leaseRun
	for _, m := range []struct {
		mode, path string
		limit      int
		d          time.Duration
	}{
		{"over the limit, one call per decision", "/api/hot/direct/x", hotLimit, 4 * time.Second},
		{"over the limit, leasing", "/api/hot/lease/x", hotLimit, 4 * time.Second},
		{"under the limit, one call per decision", "/api/hot/direct-under/x", hotUnderLimit, 3 * time.Second},
		{"under the limit, leasing", "/api/hot/lease-under/x", hotUnderLimit, 3 * time.Second},
	} {
		run := h.hotKey(ins, m.mode, m.path, m.limit, m.d)
		runs = append(runs, run)
		sr.note(run.String())
		sr.record(run.res)
		noFailures(sr, m.mode, run.res)
	}

	for _, run := range runs[:2] {
		s := summarise(run.res)
		admitted := "none"
		if len(run.perWindow) > 0 {
			admitted = fmt.Sprintf("at most %d (%s; %d more in flight across a boundary)",
				slices.Max(run.perWindow), countsSummary(run.perWindow), run.spanning)
		}
		sr.expect(len(run.perWindow) >= 3 && slices.Max(run.perWindow) <= run.limit,
			fmt.Sprintf("%s: admitted per 1s window, %d whole windows (%d requests, %d admitted, %d denied)",
				run.mode, len(run.perWindow), s.requests, s.admitted, s.denied),
			fmt.Sprintf("at most %d, at least 3 windows", run.limit), admitted)
		// That means something only if the load was above the limit:
		// every whole window denied requests.
		sr.expect(len(run.perWindow) > 0 && slices.Min(run.deniedPerWindow) > 0,
			run.mode+": the load is above the limit (denied per whole window)",
			"some in every window", countsSummary(run.deniedPerWindow))
	}
	for _, run := range runs[2:] {
		s := summarise(run.res)
		sr.expectEq(run.mode+": admitted (under the limit)", fmt.Sprintf("%d of %d", s.requests, s.requests),
			fmt.Sprintf("%d of %d", s.admitted, s.requests))
	}
	direct, leased := runs[2], runs[3]
	ratio := direct.scriptsPerDecision() / max(leased.scriptsPerDecision(), 1e-9)
	sr.expect(ratio >= 10, "under the limit: Redis calls per decision, one call per decision ÷ leasing",
		"at least 10x", fmt.Sprintf("%.0fx (%.3f ÷ %.4f)", ratio, direct.scriptsPerDecision(), leased.scriptsPerDecision()))
	sr.note(fmt.Sprintf("decisions/s over HTTP, leasing ÷ one call per decision: %.2fx over the limit, %.2fx under it",
		runs[1].perSecond()/max(1, runs[0].perSecond()), leased.perSecond()/max(1, direct.perSecond())))
	if direct.redisCPU > 0 && leased.redisCPU > 0 {
		d := float64(direct.redisCPU.Microseconds()) / float64(direct.decisions)
		l := float64(leased.redisCPU.Microseconds()) / float64(leased.decisions)
		sr.note(fmt.Sprintf("under the limit, the Redis time per decision bounds one key, on one shard, at %.0f decisions/s one call per decision and %.0f leasing (%.0fx)",
			1e6/d, 1e6/l, d/l))
	}
	leasingCrash(h, sr)
}

// leasingCrash is scenario 9's last part: paced load above the limit on a
// leased key (crashLimit per crashPeriod, a fixed window) over the three
// instances; one window runs untouched, and in the next one instance is
// killed (SIGKILL) before the window is spent. What the dead instance had
// leased and not spent is lost until the window ends: the survivors admit
// the limit less at most one batch, and a batch is at most 1/16 of the
// limit. The instance is started again afterwards.
func leasingCrash(h *harness, sr *scenarioReport) {
	victim := h.onCluster[0]
	victimHost := strings.TrimPrefix(victim.url, "http://")
	ip := h.newIP()
	var targets []vegeta.Target
	for _, in := range h.onCluster {
		targets = append(targets, vegeta.Target{Method: "GET", URL: in.url + "/api/hot/crash/x",
			Header: http.Header{"X-Forwarded-For": {ip}}})
	}
	// The windows are aligned to the epoch: start one just after a boundary.
	boundary := func(t time.Time) time.Time { return t.Truncate(crashPeriod).Add(crashPeriod) }
	time.Sleep(time.Until(boundary(time.Now())) - 500*time.Millisecond)
	stop := h.attack(vegeta.NewStaticTargeter(targets...), crashRate, "crash")
	defer stop()
	control := boundary(time.Now()) // a whole window, untouched
	killed := control.Add(crashPeriod)
	time.Sleep(time.Until(killed.Add(crashPeriod / 5)))
	victim.cmd.Process.Kill()
	at := time.Now()
	time.Sleep(time.Until(killed.Add(crashPeriod + 200*time.Millisecond)))
	res := stop()

	// Admissions per window, of requests sent and answered in it; in
	// flight across a boundary, they could be either's.
	count := func(begin time.Time) (admitted, denied, spanning int) {
		end := begin.Add(crashPeriod)
		in := func(t time.Time) bool { return !t.Before(begin) && t.Before(end) }
		for _, r := range res {
			switch sent, answered := in(r.at), in(r.at.Add(r.latency)); {
			case r.err != nil || (!sent && !answered):
			case r.status == http.StatusTooManyRequests && sent:
				denied++
			case r.status != http.StatusOK:
			case sent && answered:
				admitted++
			default:
				spanning++
			}
		}
		return admitted, denied, spanning
	}
	maxBatch := crashLimit / 16
	for _, w := range []struct {
		what  string
		begin time.Time
	}{
		{"untouched window", control},
		{fmt.Sprintf("window in which %s is killed, %v after it begins", victim.name, at.Sub(killed).Round(time.Millisecond)), killed},
	} {
		admitted, denied, spanning := count(w.begin)
		sr.expect(admitted <= crashLimit && denied > 0 && crashLimit-admitted <= maxBatch,
			fmt.Sprintf("leasing, %d/%v at %d requests/s over 3 instances, %s: admitted", crashLimit, crashPeriod, crashRate, w.what),
			fmt.Sprintf("at most %d, at least %d (the limit less one batch, at most 1/16 of it), and some denied", crashLimit, crashLimit-maxBatch),
			fmt.Sprintf("%d, %s (%d more in flight across a boundary), %d denied", admitted, shortOf(admitted, crashLimit), spanning, denied))
	}
	// The dead instance's requests fail once it is killed, and those in
	// flight then; the others' never do.
	var alive []result
	for _, r := range res {
		if r.instance != victimHost || r.at.Add(r.latency).Before(at) {
			alive = append(alive, r)
		}
	}
	var failed []string
	for _, r := range alive {
		switch {
		case r.err != nil:
			failed = append(failed, r.err.Error())
		case r.status >= 500:
			failed = append(failed, fmt.Sprintf("%s: %d", r.instance, r.status))
		}
	}
	sr.expect(len(failed) == 0, "leasing, crash: 5xx and transport errors of the instances alive",
		fmt.Sprintf("0 of %d", len(alive)), fmt.Sprintf("%d of %d %v", len(failed), len(alive), first(failed, 3)))
	sr.record(res)

	<-victim.done
	h.onCluster[0] = h.start(h.bin, servers[0], "cluster", h.env)
	h.waitReady(h.onCluster[0])
}

// shortOf says how far admitted is from limit: "63 short of the limit", or
// "998 over it".
func shortOf(admitted, limit int) string {
	if admitted > limit {
		return fmt.Sprintf("%d over the limit", admitted-limit)
	}
	return fmt.Sprintf("%d short of the limit", limit-admitted)
}
