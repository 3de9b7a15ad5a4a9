package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/sluicehq/sluice/testkit/redistest"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// background runs paced load (vegeta, an open model: requests go out on
// schedule whether or not earlier ones returned) on /api/open/** over the
// instances until stop is called, which returns the results.
func (h *harness) background(ins []*instance, rate int, clients int) (stop func() []result) {
	var targets []vegeta.Target
	for range clients {
		ip := h.newIP()
		for _, in := range ins {
			targets = append(targets, vegeta.Target{Method: "GET", URL: in.url + "/api/open/bg",
				Header: http.Header{"X-Forwarded-For": {ip}}})
		}
	}
	return h.attack(vegeta.NewStaticTargeter(targets...), rate, "background")
}

// attack runs a vegeta attack until the returned function is called; it is
// safe to call more than once.
func (h *harness) attack(tr vegeta.Targeter, rate int, name string) (stop func() []result) {
	a := vegeta.NewAttacker(vegeta.Timeout(5*time.Second), vegeta.KeepAlive(true),
		vegeta.Workers(16), vegeta.MaxWorkers(256), vegeta.Connections(256))
	results := a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, 0, name)
	var out []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range results {
			out = append(out, fromVegeta(r))
		}
	}()
	// stop may be called more than once (a deferred call as well as the
	// scenario's own): each call after the first returns the same results.
	return sync.OnceValue(func() []result {
		a.Stop()
		<-done
		return out
	})
}

// fromVegeta converts a vegeta result; the instance is the URL's host.
func fromVegeta(r *vegeta.Result) result {
	res := result{at: r.Timestamp, status: int(r.Code), latency: r.Latency}
	if u, err := url.Parse(r.URL); err == nil {
		res.instance = u.Host
		res.path = u.Path
	}
	if r.Error != "" && r.Code == 0 {
		res.err = fmt.Errorf("%s", r.Error)
	}
	if r.Headers != nil {
		res.policy = r.Headers.Get("RateLimit-Policy")
		res.rateLimit = r.Headers.Get("RateLimit")
		res.retryAfter = r.Headers.Get("Retry-After")
	}
	return res
}

// Scenario 5: lower a limit in the shared configuration file while load
// runs; every instance enforces the new limit within 2 seconds, and
// nobody's usage resets.
func scenarioReload(h *harness, sr *scenarioReport) {
	const used = 8
	stop := h.background(h.all(), 200, 12)
	// Stopped at the end, or by this when a Fatalf ends the scenario early.
	defer stop()
	time.Sleep(time.Second) // the load is on before the reload ...
	var shots [][]shot
	var tags []string
	clients := map[string]client{}
	for _, g := range h.groups() {
		for i := range 2 {
			tag := fmt.Sprintf("%s/%d", g.name, i)
			tags = append(tags, tag)
			clients[tag] = client{ip: h.newIP()}
			shots = append(shots, spread(g.ins, used, "GET", "/api/reload/x", clients[tag], tag))
		}
	}
	before := h.burst(interleave(shots...), 16)
	_, s := admittedEach(before, tags)
	sr.expectEq(fmt.Sprintf("before the reload (limit %d/h): admitted of %d", reloadBefore, used), fmt.Sprintf("%d each", used), s)

	p := h.params
	p.ReloadLimit = reloadAfter
	if h.broken == "rename-on-reload" {
		p.ReloadName = "reload-renamed"
	}
	written := time.Now()
	h.writeConfig(p)
	// Each instance shows the limit it enforces in RateLimit-Policy; a
	// probe client per instance asks until it says the new one.
	var wg sync.WaitGroup
	took := make([]time.Duration, len(h.all()))
	for i, in := range h.all() {
		probe := client{ip: h.newIP()}
		wg.Go(func() {
			for time.Since(written) < 5*time.Second {
				r := h.do(in, "GET", "/api/reload/probe", probe)
				if quota(r.policy) == reloadAfter {
					took[i] = r.at.Sub(written)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			took[i] = -1
		})
	}
	wg.Wait()
	all, missing := true, 0
	for _, d := range took {
		all = all && d >= 0 && d <= 2*time.Second
		if d < 0 {
			missing++
		}
	}
	observed := fmt.Sprintf("slowest %v (%v)", slices.Max(took).Round(time.Millisecond), roundAll(took))
	if missing > 0 {
		observed += fmt.Sprintf("; %d did not within 5s", missing)
	}
	sr.expect(all, fmt.Sprintf("every instance (%d) enforces %d/h after the file is rewritten", len(took), reloadAfter),
		"within 2s", observed)

	shots = nil
	for _, g := range h.groups() {
		for i := range 2 {
			tag := fmt.Sprintf("%s/%d", g.name, i)
			shots = append(shots, spread(g.ins, reloadAfter, "GET", "/api/reload/x", clients[tag], tag))
		}
	}
	after := h.burst(interleave(shots...), 16)
	_, s = admittedEach(after, tags)
	sr.expectEq(fmt.Sprintf("after the reload: clients that used %d get the %d left of %d", used, reloadAfter-used, reloadAfter),
		fmt.Sprintf("%d each", reloadAfter-used), s)

	time.Sleep(time.Second) // ... and after it
	bg := stop()
	noFailures(sr, "background load (200/s over 6 instances) during the reload", bg)
	for _, in := range h.all() {
		if v := h.scrape(in, `sluice_config_reloads_total{result="success"}`); v != 1 {
			sr.expectEq(in.name+": sluice_config_reloads_total{result=\"success\"}", 1, v)
		}
	}
	sr.record(bg)
	sr.recordAll(before, after)
	// Back to the original file, for any scenario after this one.
	h.writeConfig(h.params)
	h.eventually(5*time.Second, "instances back on the original configuration", func() bool {
		for _, in := range h.all() {
			if h.scrape(in, `sluice_config_reloads_total{result="success"}`) != 2 {
				return false
			}
		}
		return true
	})
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// balancer is a round-robin reverse proxy in front of instances, as a load
// balancer would be: it sets X-Forwarded-For to its client's address (one
// fixed address, standing for the client behind it) and records every
// request it passes on, with the response as the instance sent it.
type balancer struct {
	*httptest.Server
	mu  sync.Mutex
	log []result
}

// balancer starts a balancer in front of ins for the client at clientIP.
// modify, if not nil, changes each response before the client sees it;
// the log keeps the status and Retry-After the instance sent.
func (h *harness) balancer(ins []*instance, clientIP string, modify func(*http.Response)) *balancer {
	b := &balancer{}
	var next atomic.Uint64
	targets := make([]*url.URL, len(ins))
	for i, in := range ins {
		targets[i], _ = url.Parse(in.url)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[next.Add(1)%uint64(len(targets))])
			pr.Out.Header.Set("X-Forwarded-For", clientIP)
		},
		Transport: h.client.Transport,
	}
	if modify != nil {
		proxy.ModifyResponse = func(r *http.Response) error { modify(r); return nil }
	}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		b.mu.Lock()
		b.log = append(b.log, result{at: begin, status: rec.status, latency: time.Since(begin),
			retryAfter: rec.Header().Get("Retry-After")})
		b.mu.Unlock()
	}))
	h.t.Cleanup(b.Close)
	return b
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// early returns the requests a client sent before the Retry-After of the
// 429 or 503 just before them allowed, as "429 at 1.02s said 1s; next at
// 1.50s".
func early(log []result) []string {
	var out []string
	for i := 1; i < len(log); i++ {
		prev := log[i-1]
		if prev.status != http.StatusTooManyRequests && prev.status != http.StatusServiceUnavailable {
			continue
		}
		secs, err := strconv.Atoi(prev.retryAfter)
		if err != nil {
			out = append(out, fmt.Sprintf("a %d without a valid Retry-After (%q)", prev.status, prev.retryAfter))
			continue
		}
		// The 429 left the balancer at prev.at+prev.latency.
		allowed := prev.at.Add(prev.latency).Add(time.Duration(secs) * time.Second)
		if log[i].at.Before(allowed.Add(-5 * time.Millisecond)) {
			out = append(out, fmt.Sprintf("retried %v before Retry-After: %s allowed", allowed.Sub(log[i].at).Round(time.Millisecond), prev.retryAfter))
		}
	}
	return out
}

// Scenario 6: real clients. One built on go-retryablehttp, honouring
// Retry-After, and curl --retry each complete a burst larger than the limit
// with no 429 reaching the caller, and never retry before Retry-After allows.
func scenarioClients(h *harness, sr *scenarioReport) {
	const burst = 3 * clientsLimit
	lb := h.balancer(h.onCluster, h.newIP(), nil)
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryMax = 10
	rc.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	if h.broken == "ignore-retry" {
		rc.Backoff = func(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 50 * time.Millisecond }
	}
	begin := time.Now()
	var surfaced []int
	for range burst {
		resp, err := rc.Get(lb.URL + "/api/clients/x")
		if err != nil {
			surfaced = append(surfaced, -1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			surfaced = append(surfaced, resp.StatusCode)
		}
	}
	elapsed := time.Since(begin)
	lb.mu.Lock()
	log := lb.log
	lb.mu.Unlock()
	s := summarise(log)
	sr.expectEq(fmt.Sprintf("go-retryablehttp, %d requests against %d/s: non-200 responses reaching the caller", burst, clientsLimit), "[]", fmt.Sprint(surfaced))
	sr.expect(s.denied > 0, "go-retryablehttp: 429s it absorbed", "some", fmt.Sprintf("%d in %v, %d requests sent", s.denied, elapsed.Round(time.Millisecond), s.requests))
	sr.expectEq("go-retryablehttp: requests sent before Retry-After allowed", "[]", fmt.Sprint(early(log)))
	sr.record(log)

	// Without curl the rest cannot run: skip the scenario (after the checks
	// above), or fail it under CI=true, rather than report a check that did
	// not run.
	curl := redistest.Need(h.t, "curl")
	lb2 := h.balancer(h.onStandalone, h.newIP(), nil)
	surfaced = nil
	begin = time.Now()
	for range burst {
		// Not --output /dev/null: curl 7.x truncates its output file before
		// a retry, which /dev/null refuses (exit 23).
		out, err := exec.Command(curl, "--silent", "--show-error", "--retry", "10", "--output", filepath.Join(h.dir, "curl.out"),
			"--write-out", "%{http_code}", lb2.URL+"/api/clients/x").Output()
		if code := string(out); err != nil || code != "200" {
			surfaced = append(surfaced, atoi(code))
			if err != nil {
				h.t.Logf("curl: %v", err)
			}
		}
	}
	elapsed = time.Since(begin)
	lb2.mu.Lock()
	log = lb2.log
	lb2.mu.Unlock()
	s = summarise(log)
	sr.expectEq(fmt.Sprintf("curl --retry 10, %d requests against %d/s: non-200 responses reaching the caller", burst, clientsLimit), "[]", fmt.Sprint(surfaced))
	sr.expect(s.denied > 0, "curl: 429s it absorbed", "some", fmt.Sprintf("%d in %v, %d requests sent", s.denied, elapsed.Round(time.Millisecond), s.requests))
	sr.expectEq("curl: requests sent before Retry-After allowed", "[]", fmt.Sprint(early(log)))
	sr.record(log)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
