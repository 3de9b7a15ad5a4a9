package sluiceenvoy

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicehq/sluice/testkit/redistest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// binary builds cmd/sluice-ratelimit once per test run.
func binary(t *testing.T) string {
	t.Helper()
	goBin := redistest.Need(t, "go")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-ratelimit-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice-ratelimit")
		buildOut, buildErr = exec.Command(goBin, "build", "-o", binPath, "./cmd/sluice-ratelimit").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// process is a running sluice-ratelimit.
type process struct {
	grpc, http string
	client     rlsv3.RateLimitServiceClient
	logs       chan map[string]any
}

// startProcess starts the program with args and waits for its "serving"
// log line, which names its addresses.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	p := &process{logs: make(chan map[string]any, 100)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": sc.Text()}
			}
			if rec["msg"] == "sluice-ratelimit: serving" {
				p.grpc, _ = rec["grpc"].(string)
				p.http, _ = rec["http"].(string)
				close(ready)
				continue
			}
			select {
			case p.logs <- rec:
			default:
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice-ratelimit did not start within 30s")
	}
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.client = rlsv3.NewRateLimitServiceClient(conn)
	return p
}

func (p *process) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.http + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return string(b)
}

// TestProcesses runs two sluice-ratelimit processes on one Redis,
// standalone and Cluster: they share every limit exactly, reload their
// configuration when the file changes, keep it when the new file is bad,
// and serve /metrics and /healthz.
func TestProcesses(t *testing.T) {
	t.Parallel()
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	for _, tc := range []struct{ name, url string }{
		{"standalone", "redis://" + standalone.Addr},
		{"cluster", "redis+cluster://" + strings.Join(cluster.Addrs(), ",")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "ratelimit.yaml")
			write := func(limit string) {
				t.Helper()
				if err := os.WriteFile(cfgPath+".tmp", []byte("domain: mesh\ndescriptors:\n  - key: user\n    rate_limit: {unit: hour, requests_per_unit: "+limit+"}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(cfgPath+".tmp", cfgPath); err != nil {
					t.Fatal(err)
				}
			}
			write("40")
			var procs []*process
			for range 2 {
				procs = append(procs, startProcess(t, "--config", cfgPath, "--format", "envoy", "--redis-url", tc.url, "--timeout", "1s"))
			}
			var ok, over atomic.Int64
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					for range 8 {
						resp, err := procs[i%2].client.ShouldRateLimit(t.Context(), request("mesh", desc("user", "u1")))
						switch {
						case err != nil:
							t.Error(err)
							return
						case resp.GetOverallCode() == rlsv3.RateLimitResponse_OK:
							ok.Add(1)
						default:
							over.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if ok.Load() != 40 || over.Load() != 88 {
				t.Fatalf("two processes admitted %d and denied %d of 128, want exactly 40 and 88", ok.Load(), over.Load())
			}

			// A raised limit keeps the count: 5 more for u1 on both.
			write("45")
			for _, p := range procs {
				waitFor(t, func() bool {
					resp, err := p.client.ShouldRateLimit(t.Context(), request("mesh", desc("user", "u2")))
					return err == nil && resp.GetStatuses()[0].GetCurrentLimit().GetRequestsPerUnit() == 45
				})
			}
			admitted := 0
			for i := range 10 {
				resp, err := procs[i%2].client.ShouldRateLimit(t.Context(), request("mesh", desc("user", "u1")))
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetOverallCode() == rlsv3.RateLimitResponse_OK {
					admitted++
				}
			}
			if admitted != 5 {
				t.Fatalf("after raising 40 to 45: %d more admitted, want 5", admitted)
			}

			// A bad file is rejected and logged; the running limit stays.
			if err := os.WriteFile(cfgPath, []byte("domain: mesh\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, p := range procs {
				waitFor(t, func() bool {
					for {
						select {
						case rec := <-p.logs:
							if strings.Contains(rec["msg"].(string), "rejected") && strings.Contains(rec["error"].(string), "descriptors[0].rate_limit.unit") {
								return true
							}
						default:
							return false
						}
					}
				})
				resp, err := p.client.ShouldRateLimit(t.Context(), request("mesh", desc("user", "u3")))
				if err != nil || resp.GetStatuses()[0].GetCurrentLimit().GetRequestsPerUnit() != 45 {
					t.Fatalf("after a bad file: %v, %v; want the running 45", resp, err)
				}
				if body := p.get(t, "/healthz"); !strings.HasPrefix(body, "ok; redis ok") {
					t.Errorf("/healthz: %q", body)
				}
				metrics := p.get(t, "/metrics")
				for _, want := range []string{`sluice_decisions_total{outcome="denied",rule="mesh:user"}`, `sluice_config_reloads_total{result="failure"} 1`, `sluice_config_reloads_total{result="success"}`} {
					if !strings.Contains(metrics, want) {
						t.Errorf("/metrics lacks %s", want)
					}
				}
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
