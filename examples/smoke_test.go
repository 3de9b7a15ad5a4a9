package examples_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/testkit/redistest"
)

// examples are the directories of the example servers; each applies the
// same policy with its own framework.
var examples = []string{"nethttp", "chi", "gin", "echo"}

// rateLimitHeaders are the fields an exempt response must not carry.
var rateLimitHeaders = []string{
	"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"RateLimit-Policy", "RateLimit", "Retry-After",
}

// build compiles the named examples into a temporary directory with one go
// build, so their shared dependencies compile once.
func build(t *testing.T, names ...string) string {
	t.Helper()
	goBin := redistest.Need(t, "go")
	bin := t.TempDir()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	for _, name := range names {
		args = append(args, "./"+name)
	}
	if out, err := exec.CommandContext(t.Context(), goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// TestExamples builds every example server, runs it as a process of its own
// and checks, over real HTTP, the policy every example promises and a clean
// exit on SIGTERM.
func TestExamples(t *testing.T) {
	bin := build(t, examples...)
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t, filepath.Join(bin, name))
			t.Run("default rule denies after 5", s.testDefaultRule)
			t.Run("healthz is exempt", s.testHealthzExempt)
			t.Run("users share one counter", s.testUsersShared)
			t.Run("login allows 3", s.testLogin)
			t.Run("metrics count decisions", s.testMetrics)
			t.Run("SIGTERM exits cleanly", s.testShutdown)
		})
	}
}

// server is one example running as a process.
type server struct {
	base    string // "http://127.0.0.1:port"
	client  *http.Client
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result, set before done is closed
	out     *syncBuffer
}

// start runs the example server bin on a free port and waits until it
// answers /healthz.
func start(t *testing.T, bin string, env ...string) *server {
	t.Helper()
	name := filepath.Base(bin)
	s := &server{
		base:   "http://" + freeAddr(t),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}},
		done:   make(chan struct{}),
		out:    &syncBuffer{},
	}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(append(environWithout("REDIS_URL"), "ADDR="+strings.TrimPrefix(s.base, "http://")), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.client.CloseIdleConnections()
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, s.out)
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := s.client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz: status %d, want 200", resp.StatusCode)
			}
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited before answering: %v", name, s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer GET /healthz within 15s: %v", name, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDefaultRule sends GET /hello until a 429 and checks the denial.
func (s *server) testDefaultRule(t *testing.T) {
	allowed := 0
	for range 20 {
		resp, body := s.do(t, "GET", "/hello")
		if resp.StatusCode == http.StatusOK {
			allowed++
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("GET /hello: status %d, want 200 or 429; body: %s", resp.StatusCode, body)
		}
		if allowed < 5 {
			t.Errorf("GET /hello denied after %d requests, want at least 5 (the burst)", allowed)
		}
		h := resp.Header
		if v, err := strconv.Atoi(h.Get("Retry-After")); err != nil || v < 1 {
			t.Errorf("Retry-After = %q, want a whole number >= 1", h.Get("Retry-After"))
		}
		wantHeader(t, h, "RateLimit-Policy", `"default";q=5;w=10`)
		if v := h.Get("RateLimit"); !strings.HasPrefix(v, `"default";r=0;t=`) {
			t.Errorf(`RateLimit = %q, want "default";r=0;t=...`, v)
		}
		if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", h.Get("Content-Type"))
		}
		var problem struct {
			Status int    `json:"status"`
			Rule   string `json:"rule"`
		}
		if err := json.Unmarshal(body, &problem); err != nil {
			t.Errorf("429 body is not JSON: %v; body: %s", err, body)
		} else if problem.Status != 429 || problem.Rule != "default" {
			t.Errorf("429 body has status %d and rule %q, want 429 and \"default\"; body: %s", problem.Status, problem.Rule, body)
		}
		return
	}
	t.Fatalf("GET /hello: no 429 within 20 requests")
}

// testHealthzExempt checks that /healthz is served, to GET and to HEAD
// (probes use either), without rate-limit fields, even to a client over
// its default limit.
func (s *server) testHealthzExempt(t *testing.T) {
	for i := range 8 {
		method := []string{"GET", "HEAD"}[i%2]
		resp, _ := s.do(t, method, "/healthz")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /healthz: status %d, want 200", method, resp.StatusCode)
		}
		for _, k := range rateLimitHeaders {
			if v, ok := resp.Header[http.CanonicalHeaderKey(k)]; ok {
				t.Fatalf("GET /healthz carries %s: %q; exempt responses carry no rate-limit fields", k, v)
			}
		}
	}
}

// testUsersShared checks that /users/1 and /users/2 are charged to one
// counter, the "/users/{id}" rule's.
func (s *server) testUsersShared(t *testing.T) {
	remaining := func(path string) int {
		resp, body := s.do(t, "GET", path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200; body: %s", path, resp.StatusCode, body)
		}
		wantHeader(t, resp.Header, "RateLimit-Policy", `"users";q=10;w=60`)
		// RateLimit: "users";r=<remaining>;t=<seconds>
		v := resp.Header.Get("RateLimit")
		r, ok := strings.CutPrefix(v, `"users";r=`)
		r, _, _ = strings.Cut(r, ";")
		n, err := strconv.Atoi(r)
		if !ok || err != nil {
			t.Fatalf(`GET %s: RateLimit = %q, want "users";r=<n>;t=<s>`, path, v)
		}
		return n
	}
	r1 := remaining("/users/1")
	r2 := remaining("/users/2")
	if got, want := r2, r1-1; got != want {
		t.Errorf("X-RateLimit-Remaining: %d after /users/1, then %d after /users/2, want %d: the users do not share a counter", r1, got, want)
	}
}

// testLogin checks that POST /login admits exactly 3 attempts.
func (s *server) testLogin(t *testing.T) {
	for i := 1; i <= 4; i++ {
		resp, body := s.do(t, "POST", "/login")
		want := http.StatusOK
		if i == 4 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("POST /login #%d: status %d, want %d; body: %s", i, resp.StatusCode, want, body)
		}
		wantHeader(t, resp.Header, "RateLimit-Policy", `"login";q=3;w=60`)
	}
}

// testShutdown sends SIGTERM and checks the process exits with status 0
// within 5s.
func (s *server) testShutdown(t *testing.T) {
	s.client.CloseIdleConnections()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", s.waitErr)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("still running 5s after SIGTERM")
	}
}

// do sends a request and returns the response with its body read.
func (s *server) do(t *testing.T, method, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, body
}

func wantHeader(t *testing.T, h http.Header, key, want string) {
	t.Helper()
	if got := h.Get(key); got != want {
		t.Errorf("%s = %q, want %q", key, got, want)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// environWithout returns the environment without key. The servers must use
// their in-memory backend: sharing one Redis, they would share the counters
// of 127.0.0.1 and deny each other.
func environWithout(key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (s *server) testMetrics(t *testing.T) {
	resp, body := s.do(t, http.MethodGet, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	for _, want := range []string{`sluice_decisions_total{outcome="denied",rule="default"}`, `sluice_decisions_total{outcome="exempt",rule=""}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Error("/metrics is rate limited")
	}
}

// TestSharedRedis runs two instances of an example on one Redis: together
// they admit exactly the limit.
func TestSharedRedis(t *testing.T) {
	addr := redistest.Start(t).Addr
	bin := build(t, "nethttp")
	url := "REDIS_URL=redis://" + addr + "/0"
	var instances []*server
	for range 2 {
		instances = append(instances, start(t, filepath.Join(bin, "nethttp"), url))
	}
	admitted := 0
	for i := range 12 {
		resp, _ := instances[i%2].do(t, http.MethodGet, "/hello")
		if resp.StatusCode == http.StatusOK {
			admitted++
		}
	}
	if admitted != 5 {
		t.Errorf("two instances sharing Redis admitted %d of 12, want exactly the limit, 5", admitted)
	}
}
