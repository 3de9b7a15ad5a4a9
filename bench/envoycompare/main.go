// Command envoycompare runs Sluice's Envoy rate limit service
// (envoy/cmd/sluice-ratelimit) and envoyproxy/ratelimit side by side, on
// one redis-server, with one configuration in envoyproxy/ratelimit's
// format, and writes a markdown report:
//
//   - decisions: one stream of requests (single descriptors of every kind:
//     value-less keys, exact values, wildcards, nested, unlimited,
//     unmatched) sent to both, request by request; every code,
//     limit_remaining and current_limit must agree, since both count fixed
//     windows;
//   - throughput: a closed loop of 1, 16, 64 and 256 concurrent callers
//     for each server alone, requests per second with p50 and p99 latency
//     as the callers see them and CPU per request of each server and of
//     Redis, for requests of one descriptor, of two, and a flood of
//     requests over their limit.
//
// Both programs are built from Go modules by this module's go.mod (tool
// directives), with the same dependency versions. Everything listens on
// 127.0.0.1 only. Run it with make bench-envoy, or
//
//	cd bench/envoycompare && GOWORK=off go run . -md out/envoy.md
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// config is the one configuration both servers serve.
const config = `domain: bench
descriptors:
  - key: remote_address
    rate_limit: {unit: second, requests_per_unit: 1000}
  - key: user
    rate_limit: {unit: hour, requests_per_unit: 20}
  - key: user
    value: blocked
    rate_limit: {unit: hour, requests_per_unit: 0}
  - key: path
    value: /api/*
    rate_limit: {unit: hour, requests_per_unit: 15}
  - key: path
    rate_limit: {unit: hour, requests_per_unit: 25}
  - key: tenant
    value: acme
    descriptors:
      - key: user
        rate_limit: {unit: hour, requests_per_unit: 10}
  - key: internal
    rate_limit: {unlimited: true}
`

func main() {
	var (
		md       = flag.String("md", "", "write the markdown report to this `file` (and print it)")
		duration = flag.Duration("duration", 5*time.Second, "how long each throughput level runs")
		levels   = flag.String("levels", "1,16,64,256", "concurrent callers, comma-separated")
		stream   = flag.Int("stream", 3000, "requests in the decision comparison")
		conns    = flag.Int("conns", 4, "gRPC connections the callers share, as Envoy's workers would")
		count    = flag.Int("count", 3, "runs of each level, alternating the servers; the report has the medians")
	)
	flag.Parse()
	if err := run(*md, *duration, *levels, *stream, *conns, *count); err != nil {
		fmt.Fprintln(os.Stderr, "envoycompare:", err)
		os.Exit(1)
	}
}

type server struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	conns  []*grpc.ClientConn
	client []rlsv3.RateLimitServiceClient
}

func run(mdPath string, duration time.Duration, levelList string, streamN, nconns, count int) error {
	var lv []int
	for _, s := range strings.Split(levelList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-levels: %q", s)
		}
		lv = append(lv, n)
	}
	dir, err := os.MkdirTemp("", "envoycompare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	log("building sluice-ratelimit and envoyproxy/ratelimit")
	for _, b := range [][2]string{
		{"sluice-ratelimit", "github.com/sluicehq/sluice/envoy/cmd/sluice-ratelimit"},
		{"ratelimit", "github.com/envoyproxy/ratelimit/src/service_cmd"},
	} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	refVersion, _ := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/envoyproxy/ratelimit").Output()

	redisAddr, stopRedis, err := startRedis(dir)
	if err != nil {
		return err
	}
	defer stopRedis()

	cfgDir := filepath.Join(dir, "rt", "ratelimit", "config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "bench.yaml"), []byte(config), 0o644); err != nil {
		return err
	}
	ours, err := startOurs(dir, filepath.Join(cfgDir, "bench.yaml"), redisAddr, nconns)
	if err != nil {
		return err
	}
	defer ours.stop()
	ref, err := startReference(dir, redisAddr, nconns)
	if err != nil {
		return err
	}
	defer ref.stop()

	log("comparing decisions on %d requests", streamN)
	agree, diffs, err := compareDecisions(ref, ours, streamN)
	if err != nil {
		return err
	}
	log("%d of %d decisions agree", agree, streamN)

	type row struct {
		workload string
		callers  int
		res      [2]result
	}
	var rows []row
	for _, w := range []workload{oneDescriptor, twoDescriptors, flood} {
		for _, c := range lv {
			r := row{workload: w.name, callers: c}
			var runs [2][]result
			for range count {
				for i, s := range []*server{ref, ours} {
					flushRedis(redisAddr)
					res := load(s, redisAddr, w, c, duration)
					runs[i] = append(runs[i], res)
					log("%-10s %-16s %3d callers: %6.0f req/s  p50 %9s  p99 %9s  CPU/req %6s  Redis CPU/req %6s  errors %d  undecided %d",
						s.name, w.name, c, res.rps, res.p50, res.p99, res.cpu, res.redisCPU, res.errors, res.unlimited)
				}
			}
			r.res[0], r.res[1] = median(runs[0]), median(runs[1])
			rows = append(rows, r)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Sluice and envoyproxy/ratelimit side by side\n\n")
	fmt.Fprintf(&b, "Both servers run on one machine (%d CPUs, %s/%s, %s) with one redis-server, the same configuration (envoyproxy/ratelimit's format, imported by Sluice) and the same requests over gRPC; envoyproxy/ratelimit is %s with its default settings and stats off (DISABLE_STATS=true), Sluice's sluice-ratelimit has its defaults (metrics on). The load generator shares the machine. Produced by `make bench-envoy` (bench/envoycompare).\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.TrimSpace(string(refVersion)))
	fmt.Fprintf(&b, "**Decisions:** %d of %d requests got the same code, limit_remaining and current_limit from both.\n", agree, streamN)
	for _, d := range diffs {
		fmt.Fprintf(&b, "- differs: %s\n", d)
	}
	fmt.Fprintf(&b, "\n**Throughput and latency** (medians of %d runs of %v per level, the servers alternating; %d gRPC connections shared by the callers; CPU is the server process's, and Redis's, per answered request):\n\n", count, duration, nconns)
	fmt.Fprintf(&b, "| workload | callers | ratelimit req/s | Sluice req/s | ratio | ratelimit p50 | Sluice p50 | ratelimit p99 | Sluice p99 | ratelimit CPU | Sluice CPU | ratelimit Redis CPU | Sluice Redis CPU |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2fx | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.workload, r.callers,
			r.res[0].rps, r.res[1].rps, r.res[1].rps/r.res[0].rps, r.res[0].p50, r.res[1].p50, r.res[0].p99, r.res[1].p99,
			r.res[0].cpu, r.res[1].cpu, r.res[0].redisCPU, r.res[1].redisCPU)
	}
	fmt.Print(b.String())
	if mdPath != "" {
		if err := os.MkdirAll(filepath.Dir(mdPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(mdPath, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if agree != streamN {
		return fmt.Errorf("%d decisions differ", streamN-agree)
	}
	return nil
}

func log(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "== "+format+"\n", args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts a redis-server on a free loopback port, persistence
// off.
func startRedis(dir string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("redis-server: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; ; i++ {
		if reply, err := redisDo(addr, "PING"); err == nil && reply == "+PONG" {
			return addr, stop, nil
		}
		if i == 200 {
			stop()
			return "", nil, errors.New("redis-server did not answer PING")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// redisDo sends one inline command and returns the first reply line.
func redisDo(addr, command string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(command + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func flushRedis(addr string) {
	if _, err := redisDo(addr, "FLUSHALL"); err != nil {
		log("FLUSHALL: %v", err)
	}
}

func startOurs(dir, cfg, redisAddr string, nconns int) (*server, error) {
	cmd := exec.Command(filepath.Join(dir, "sluice-ratelimit"), "--config", cfg, "--format", "envoy",
		"--redis-url", "redis://"+redisAddr, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		// The reference waits for Redis however long it takes; so does
		// Sluice here, so that every answer is Redis's and the machine's
		// load never turns into fail-open answers that cost nothing.
		"--timeout", "5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: "Sluice", cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			switch {
			case json.Unmarshal(sc.Bytes(), &rec) != nil:
				log("sluice-ratelimit: %s", sc.Text())
			case rec["msg"] == "sluice-ratelimit: serving":
				addr <- rec["grpc"].(string)
			case rec["level"] == "ERROR":
				log("sluice-ratelimit: %s", sc.Text())
			}
		}
	}()
	select {
	case s.addr = <-addr:
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("sluice-ratelimit did not start")
	}
	return s, s.connect(nconns)
}

func startReference(dir, redisAddr string, nconns int) (*server, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	cmd := exec.Command(filepath.Join(dir, "ratelimit"))
	cmd.Env = append(os.Environ(),
		"RUNTIME_ROOT="+filepath.Join(dir, "rt"), "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_WATCH_ROOT=false",
		"RUNTIME_IGNOREDOTFILES=true", "REDIS_SOCKET_TYPE=tcp", "REDIS_URL="+redisAddr,
		"USE_STATSD=false", "DISABLE_STATS=true", "LOG_LEVEL=warn",
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(ports[0]),
		"GRPC_HOST=127.0.0.1", "GRPC_PORT="+strconv.Itoa(ports[1]),
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT="+strconv.Itoa(ports[2]),
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: "ratelimit", cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(ports[1])}
	if err := s.connect(nconns); err != nil {
		s.stop()
		return nil, err
	}
	for i := 0; ; i++ { // until it has loaded its configuration
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := s.client[0].ShouldRateLimit(ctx, req(desc("internal", "x")))
		cancel()
		if err == nil && resp.GetStatuses()[0].GetLimitRemaining() > 0 {
			return s, nil
		}
		if i == 300 {
			s.stop()
			return nil, fmt.Errorf("envoyproxy/ratelimit did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) connect(n int) error {
	for range n {
		c, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		s.conns = append(s.conns, c)
		s.client = append(s.client, rlsv3.NewRateLimitServiceClient(c))
	}
	return nil
}

func (s *server) stop() {
	for _, c := range s.conns {
		c.Close()
	}
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

func desc(kv ...string) *commonv3.RateLimitDescriptor {
	d := &commonv3.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &commonv3.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func req(ds ...*commonv3.RateLimitDescriptor) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: "bench", Descriptors: ds}
}

// compareDecisions sends one stream of single-descriptor requests to both
// servers, request by request, alternating which one goes first, and
// returns how many answers agree and the first differences.
func compareDecisions(ref, ours *server, n int) (int, []string, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []func() *commonv3.RateLimitDescriptor{
		func() *commonv3.RateLimitDescriptor { return desc("user", "u"+strconv.Itoa(rng.IntN(30))) },
		func() *commonv3.RateLimitDescriptor { return desc("user", "blocked") },
		func() *commonv3.RateLimitDescriptor { return desc("path", "/api/v"+strconv.Itoa(rng.IntN(3))) },
		func() *commonv3.RateLimitDescriptor { return desc("path", "/static/"+strconv.Itoa(rng.IntN(5))) },
		func() *commonv3.RateLimitDescriptor {
			return desc("tenant", "acme", "user", "t"+strconv.Itoa(rng.IntN(10)))
		},
		func() *commonv3.RateLimitDescriptor { return desc("tenant", "other", "user", "x") },
		func() *commonv3.RateLimitDescriptor { return desc("internal", "ldap") },
		func() *commonv3.RateLimitDescriptor { return desc("unknown", "k") },
	}
	agree := 0
	var diffs []string
	ctx := context.Background()
	for i := range n {
		r := req(kinds[rng.IntN(len(kinds))]())
		var resp [2]*rlsv3.RateLimitResponse
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, j := range order {
			s := []*server{ref, ours}[j]
			var err error
			if resp[j], err = s.client[0].ShouldRateLimit(ctx, r); err != nil {
				return 0, nil, fmt.Errorf("%s: %w", s.name, err)
			}
		}
		a, b := summary(resp[0]), summary(resp[1])
		if a == b {
			agree++
		} else if len(diffs) < 10 {
			diffs = append(diffs, fmt.Sprintf("request %d %v: ratelimit %s, Sluice %s", i, r.GetDescriptors()[0].GetEntries(), a, b))
		}
	}
	return agree, diffs, nil
}

// summary is what both servers must agree on: codes, remaining and limit.
func summary(r *rlsv3.RateLimitResponse) string {
	s := r.GetOverallCode().String()
	for _, st := range r.GetStatuses() {
		s += fmt.Sprintf(" [%v %d", st.GetCode(), st.GetLimitRemaining())
		if l := st.GetCurrentLimit(); l != nil {
			s += fmt.Sprintf(" %d/%v", l.GetRequestsPerUnit(), l.GetUnit())
		}
		s += "]"
	}
	return s
}

type workload struct {
	name string
	make func(rng *rand.Rand) *rlsv3.RateLimitRequest
}

var (
	oneDescriptor = workload{"one descriptor", func(rng *rand.Rand) *rlsv3.RateLimitRequest {
		return req(desc("remote_address", "10.0."+strconv.Itoa(rng.IntN(40))+"."+strconv.Itoa(rng.IntN(250))))
	}}
	twoDescriptors = workload{"two descriptors", func(rng *rand.Rand) *rlsv3.RateLimitRequest {
		return req(desc("remote_address", "10.0."+strconv.Itoa(rng.IntN(40))+"."+strconv.Itoa(rng.IntN(250))),
			desc("path", "/p/"+strconv.Itoa(rng.IntN(100000))))
	}}
	// A flood: 50 users, 20 requests an hour each, so that after the
	// first thousand requests nearly every one is over the limit.
	flood = workload{"flood (over limit)", func(rng *rand.Rand) *rlsv3.RateLimitRequest {
		return req(desc("user", "f"+strconv.Itoa(rng.IntN(50))))
	}}
)

type result struct {
	rps       float64
	p50, p99  time.Duration
	errors    int64
	unlimited int64         // answers with a status without current_limit: not decided by Redis
	cpu       time.Duration // the server's CPU time per request
	redisCPU  time.Duration // Redis's CPU time per request
}

// load runs callers closed loops against s for d (after a warm-up of a
// tenth of d) and measures them.
func load(s *server, redisAddr string, w workload, callers int, d time.Duration) result {
	warm := d / 10
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		lat         []time.Duration
		errs        atomic.Int64
		count       atomic.Int64
		undecided   atomic.Int64
		cpu0, rcpu0 time.Duration
		start       = time.Now()
		from        = start.Add(warm)
		until       = from.Add(d)
		global      = context.Background()
	)
	measured := make(chan struct{})
	go func() {
		time.Sleep(time.Until(from))
		cpu0, rcpu0 = processCPU(s.cmd.Process.Pid), redisCPU(redisAddr)
		close(measured)
	}()
	for i := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			c := s.client[i%len(s.client)]
			var mine []time.Duration
			for {
				r := w.make(rng)
				t0 := time.Now()
				if t0.After(until) {
					break
				}
				resp, err := c.ShouldRateLimit(global, r)
				took := time.Since(t0)
				if t0.Before(from) {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				for _, st := range resp.GetStatuses() {
					if st.GetCurrentLimit() == nil {
						undecided.Add(1)
						break
					}
				}
				count.Add(1)
				mine = append(mine, took)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	<-measured
	cpu, rcpu := processCPU(s.cmd.Process.Pid)-cpu0, redisCPU(redisAddr)-rcpu0
	slices.SortFunc(lat, cmp.Compare)
	res := result{rps: float64(count.Load()) / d.Seconds(), errors: errs.Load(), unlimited: undecided.Load()}
	if n := count.Load(); n > 0 {
		res.cpu, res.redisCPU = cpu/time.Duration(n), rcpu/time.Duration(n)
	}
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2].Round(time.Microsecond)
		res.p99 = lat[len(lat)*99/100].Round(time.Microsecond)
	}
	return res
}

// processCPU returns the user and system CPU time a process has used, from
// /proc (Linux).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// redisCPU returns the CPU time Redis has used (INFO cpu).
func redisCPU(addr string) time.Duration {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("INFO cpu\r\n"))
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(string(buf), "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// median returns the median of each measure across runs.
func median(runs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	d := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	var m result
	m.rps = pick(func(r result) float64 { return r.rps })
	m.p50 = d(func(r result) time.Duration { return r.p50 })
	m.p99 = d(func(r result) time.Duration { return r.p99 })
	m.cpu = d(func(r result) time.Duration { return r.cpu })
	m.redisCPU = d(func(r result) time.Duration { return r.redisCPU })
	for _, r := range runs {
		m.errors += r.errors
		m.unlimited += r.unlimited
	}
	return m
}
