package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/testkit/redistest"
)

// breakFlag breaks one property on purpose, to show that the scenario
// guarding it fails: go test -run TestE2E -args -e2e.break=memory.
var breakFlag = flag.String("e2e.break", "", "break one property on purpose: "+strings.Join(mutationNames(), ", "))

// mutations are the properties -e2e.break can break, each with the scenario
// that must then fail.
var mutations = map[string]string{
	"memory":           "exactness and grpc: every instance counts in its own memory instead of the shared Redis",
	"trust-all":        "spoofing: every address is trusted to set X-Forwarded-For",
	"open-is-closed":   "faults: the fail-open rule fails closed",
	"tier-claim":       "tiers: the tier is read from a claim the tokens do not have",
	"rename-on-reload": "reload: the reload renames the rule, which starts its counters afresh",
	"ignore-retry":     "clients: the retrying client ignores Retry-After",
	"cli-other-redis":  "cli: the sluice command reads and resets the standalone Redis, not the Cluster the instances share",
	"client-blind":     "sluiceclient: the client never sees the RateLimit fields (the balancer strips them), only refusals",
	"no-lease":         "leasing: the leasing rules lose their prefetch, so every decision is a Redis call",
}

func mutationNames() []string {
	var names []string
	for n := range mutations {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// harness is one end-to-end deployment: a Redis Cluster (3 primaries, 3
// replicas) and a standalone Redis, each shared by three example servers
// (net/http, chi and gin) run from one configuration file, and a fourth
// on the Cluster, echo, for the scenarios that meet every adapter.
type harness struct {
	t      *testing.T // the scenario's test
	root   *testing.T // the whole run's: the processes live as long as it
	dir    string
	config string // path of the shared configuration file
	params params // what the configuration file says
	broken string // the -e2e.break mutation, if any

	cluster    *redistest.Cluster
	standalone *redistest.Server
	// onCluster and onStandalone are the two groups of instances.
	onCluster, onStandalone []*instance
	// echo is the echo example server on the Cluster, outside the groups:
	// the scenarios that count on three instances per group leave it out.
	echo *instance
	bin  string   // the example servers and the sluice command
	env  []string // the Cluster's instances' environment

	client *http.Client // from 127.0.0.1, the trusted load balancer
	nextIP atomic.Uint32
}

// instance is one example server process.
type instance struct {
	name string // "nethttp@cluster"
	url  string // "http://127.0.0.1:port"
	log  string // the file of its standard output and error
	cmd  *exec.Cmd
	done chan struct{}
}

// servers are the example servers each group runs, one of each framework,
// so that a client's requests meet every adapter; echo runs once, on the
// Cluster.
var servers = []string{"nethttp", "chi", "gin"}

func newHarness(t *testing.T, broken string) *harness {
	t.Helper()
	if _, ok := mutations[broken]; broken != "" && !ok {
		t.Fatalf("-e2e.break=%q: want one of %v", broken, mutationNames())
	}
	h := &harness{t: t, root: t, dir: t.TempDir(), broken: broken}
	h.nextIP.Store(10 << 24)
	h.client = &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
		Timeout:   10 * time.Second,
	}
	t.Cleanup(h.client.CloseIdleConnections)

	bin := h.build()
	h.bin = bin
	begin := time.Now()
	h.cluster = redistest.StartCluster(t)
	h.standalone = redistest.Start(t)
	t.Logf("redis: cluster of 6 and a standalone server ready in %v", time.Since(begin).Round(time.Millisecond))

	h.params = defaultParams(h.clusterURL())
	if broken == "trust-all" {
		h.params.TrustedProxies = `["0.0.0.0/0"]`
	}
	if broken == "tier-claim" {
		h.params.TierClaim = "plan"
	}
	if broken == "open-is-closed" {
		h.params.OpenFailure = "closed"
	}
	if broken == "no-lease" {
		h.params.Prefetch = ""
	}
	h.writeConfig(h.params)

	var env []string
	if broken == "memory" {
		env = append(env, "SLUICE_BACKEND_TYPE=memory")
	}
	h.env = env
	begin = time.Now()
	for _, s := range servers {
		h.onCluster = append(h.onCluster, h.start(bin, s, "cluster", env))
		h.onStandalone = append(h.onStandalone, h.start(bin, s, "standalone",
			append(env, "SLUICE_BACKEND_REDIS_URL=redis://"+h.standalone.Addr)))
	}
	h.echo = h.start(bin, "echo", "cluster", env)
	for _, in := range append(h.all(), h.echo) {
		h.waitReady(in)
	}
	t.Logf("instances: %d example servers ready in %v", len(h.all())+1, time.Since(begin).Round(time.Millisecond))
	return h
}

// all returns the instances of both groups (not echo).
func (h *harness) all() []*instance {
	return append(append([]*instance{}, h.onCluster...), h.onStandalone...)
}

func (h *harness) clusterURL() string {
	return "redis+cluster://" + strings.Join(h.cluster.Addrs(), ",")
}

// build compiles the example servers and the sluice command into the
// harness's directory.
func (h *harness) build() string {
	h.t.Helper()
	begin := time.Now()
	bin := filepath.Join(h.dir, "bin")
	examples := []string{"build", "-o", bin + "/"}
	for _, s := range append(servers, "echo") {
		examples = append(examples, "./"+s)
	}
	for _, b := range []struct {
		what, dir string
		args      []string
	}{
		{"the example servers", "../examples", examples},
		{"the sluice command", "../cmd/sluice", []string{"build", "-o", bin + "/", "."}},
		{"the gRPC example", "../examples/grpc", []string{"build", "-o", bin + "/grpc", "."}},
	} {
		cmd := exec.Command("go", b.args...)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			h.t.Fatalf("go build %s: %v\n%s", b.what, err, out)
		}
	}
	h.t.Logf("built %v, echo, grpc and the sluice command in %v", servers, time.Since(begin).Round(time.Millisecond))
	return bin
}

var listening = regexp.MustCompile(`listening addr=(\S+)`)

// start runs one example server on a free port with the shared
// configuration file, and returns once it listens.
func (h *harness) start(bin, server, group string, env []string) *instance {
	h.t.Helper()
	in := &instance{name: server + "@" + group, done: make(chan struct{})}
	// An instance started again (scenario 9 kills one) logs to a file of
	// its own.
	in.log = filepath.Join(h.dir, in.name+".log")
	for i := 2; ; i++ {
		if _, err := os.Stat(in.log); err != nil {
			break
		}
		in.log = filepath.Join(h.dir, fmt.Sprintf("%s.%d.log", in.name, i))
	}
	logf, err := os.Create(in.log)
	if err != nil {
		h.t.Fatal(err)
	}
	in.cmd = exec.Command(filepath.Join(bin, server))
	// The configuration refuses SLUICE_ variables that name no key, such
	// as this test's own SLUICE_E2E: pass none but the harness's.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			in.cmd.Env = append(in.cmd.Env, kv)
		}
	}
	in.cmd.Env = append(in.cmd.Env, "ADDR=127.0.0.1:0", "CONFIG_FILE="+h.config, "GIN_MODE=release")
	in.cmd.Env = append(in.cmd.Env, env...)
	stderr, err := in.cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	in.cmd.Stdout = logf
	if err := in.cmd.Start(); err != nil {
		h.t.Fatalf("start %s: %v", in.name, err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(in.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		// A line over the scanner's limit ends the scan: keep reading, into
		// the log unparsed, so that the server never blocks writing to a
		// full pipe.
		if err := sc.Err(); err != nil {
			fmt.Fprintf(logf, "\ne2e: reading stderr: %v; the rest is copied as is\n", err)
		}
		if _, err := io.Copy(logf, stderr); err != nil {
			io.Copy(io.Discard, stderr) // the log failed: drain all the same
		}
		in.cmd.Wait()
		logf.Close()
	}()
	// Stopped at the end of the run, even when a scenario starts it.
	h.root.Cleanup(func() {
		in.cmd.Process.Signal(os.Interrupt)
		select {
		case <-in.done:
		case <-time.After(5 * time.Second):
			in.cmd.Process.Kill()
			<-in.done
		}
	})
	select {
	case a := <-addr:
		in.url = "http://" + a
	case <-in.done:
		h.t.Fatalf("%s exited before listening; its log:\n%s", in.name, h.logOf(in))
	case <-time.After(20 * time.Second):
		h.t.Fatalf("%s did not listen within 20s; its log:\n%s", in.name, h.logOf(in))
	}
	return in
}

func (h *harness) logOf(in *instance) string {
	b, _ := os.ReadFile(in.log)
	return string(b)
}

// waitReady waits until the instance's /readyz reports its backend healthy.
func (h *harness) waitReady(in *instance) {
	h.t.Helper()
	var last string
	begin := time.Now()
	for {
		resp, err := h.client.Get(in.url + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status + ": " + strings.TrimSpace(string(b))
		} else {
			last = err.Error()
		}
		if time.Since(begin) > 20*time.Second {
			h.t.Fatalf("%s not ready within 20s: %s; its log:\n%s", in.name, last, h.logOf(in))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually polls cond every 20ms until it holds, failing the test after d.
// It returns how long that took.
func (h *harness) eventually(d time.Duration, what string, cond func() bool) time.Duration {
	h.t.Helper()
	begin := time.Now()
	for !cond() {
		if time.Since(begin) > d {
			h.t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(begin)
}

// writeConfig writes the shared configuration file atomically (a rename),
// as editors and configuration management do.
func (h *harness) writeConfig(p params) {
	h.t.Helper()
	if h.config == "" {
		h.config = filepath.Join(h.dir, "sluice.toml")
	}
	tmp := h.config + ".tmp"
	if err := os.WriteFile(tmp, []byte(p.render()), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.config); err != nil {
		h.t.Fatal(err)
	}
}

// newIP returns a client address no other client of the run has.
func (h *harness) newIP() string {
	v := h.nextIP.Add(1)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
}

// client is who sends a request: an address the load balancer puts in
// X-Forwarded-For, a bearer token, or its own source address.
type client struct {
	ip    string       // X-Forwarded-For, as the trusted load balancer sets it
	xff   string       // X-Forwarded-For as the client itself forged it
	token string       // Authorization: Bearer
	via   *http.Client // nil: the load balancer's client, from 127.0.0.1
}

// result is one response as the harness saw it.
type result struct {
	at         time.Time
	instance   string
	path       string
	status     int
	latency    time.Duration
	policy     string // RateLimit-Policy: the rule's quotas
	rateLimit  string // RateLimit: what is left; absent when the limiter failed open
	retryAfter string // Retry-After
	err        error
}

// do sends one request and reads the whole response.
func (h *harness) do(in *instance, method, path string, c client) result {
	req, err := http.NewRequestWithContext(context.Background(), method, in.url+path, nil)
	if err != nil {
		return result{err: err}
	}
	switch {
	case c.xff != "":
		req.Header.Set("X-Forwarded-For", c.xff)
	case c.ip != "":
		req.Header.Set("X-Forwarded-For", c.ip)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.via
	if hc == nil {
		hc = h.client
	}
	begin := time.Now()
	resp, err := hc.Do(req)
	r := result{at: begin, instance: in.name, path: path, err: err}
	if err != nil {
		return r
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.latency = time.Since(begin)
	r.status = resp.StatusCode
	r.policy = resp.Header.Get("RateLimit-Policy")
	r.rateLimit = resp.Header.Get("RateLimit")
	r.retryAfter = resp.Header.Get("Retry-After")
	return r
}

var quotaParam = regexp.MustCompile(`;q=(\d+)`)

// quota returns the quota of the first policy of a RateLimit-Policy field
// (`"reload";q=10;w=3600` is 10), or -1.
func quota(policy string) int {
	m := quotaParam.FindStringSubmatch(policy)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// shot is one request of a burst.
type shot struct {
	in           *instance
	method, path string
	c            client
	tag          string // groups results, such as the client's name
}

// burst sends every shot with conc requests in flight and returns the
// results grouped by tag.
func (h *harness) burst(shots []shot, conc int) map[string][]result {
	out := make(map[string][]result)
	var mu sync.Mutex
	work := make(chan shot)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for s := range work {
				r := h.do(s.in, s.method, s.path, s.c)
				mu.Lock()
				out[s.tag] = append(out[s.tag], r)
				mu.Unlock()
			}
		})
	}
	for _, s := range shots {
		work <- s
	}
	close(work)
	wg.Wait()
	return out
}

// spread returns n shots from one client, round-robin over instances.
func spread(ins []*instance, n int, method, path string, c client, tag string) []shot {
	shots := make([]shot, n)
	for i := range shots {
		shots[i] = shot{in: ins[i%len(ins)], method: method, path: path, c: c, tag: tag}
	}
	return shots
}

// interleave mixes several clients' shots so that they race each other.
func interleave(groups ...[]shot) []shot {
	var out []shot
	for i := 0; ; i++ {
		added := false
		for _, g := range groups {
			if i < len(g) {
				out = append(out, g[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}
