package sluiceconfig

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// Every test here starts redis-servers of its own (testkit/redistest) on
// free ports; none touches a Redis that is already running.

// redisFile returns a file with a Redis backend configured by the lines of
// [backend.redis], the extra sections, and one rule of 1 per minute.
func redisFile(redisLines string, extra ...string) string {
	return "[backend]\ntype = \"redis\"\n[backend.redis]\n" + redisLines + "\n" + strings.Join(extra, "\n") +
		"\n[[rules]]\nname = \"api\"\nwindows = [\"1/minute\"]\n"
}

// failClosed makes a backend failure visible as FailedClosed, with time to
// spare for a loaded machine.
const failClosed = "[failure]\nmode = \"closed\"\ntimeout = \"2s\""

func outcomes(t *testing.T, svc *Service, client string, n int) []core.Outcome {
	t.Helper()
	var out []core.Outcome
	for range n {
		d := decide(t, svc, core.Request{Path: "/", RemoteAddr: client + ":1"})
		out = append(out, d.Outcome)
		if d.Err != nil {
			t.Logf("decision error: %v", d.Err)
		}
	}
	return out
}

func wantOutcomes(t *testing.T, what string, got []core.Outcome, want ...core.Outcome) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: outcomes %v, want %v", what, got, want)
	}
}

func TestRedisReloadKeepsUsage(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	file := func(limit int) string {
		return fmt.Sprintf("[backend]\ntype = \"redis\"\n[backend.redis]\nurl = \"redis://%s\"\nprefix = \"cfgtest:\"\n%s\n"+
			"[[rules]]\nname = \"api\"\nalgorithm = \"sliding_log\"\nwindows = [\"%d/h\"]\n", s.Addr, failClosed, limit)
	}
	h := newHarness(t, file(10))
	for range 5 {
		if d := h.decide(t, "/", "192.0.2.1"); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	replace(t, h.path, file(8))
	if err := h.svc.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.decide(t, "/", "192.0.2.1").Remaining, int64(2); got != want {
		t.Errorf("remaining = %d, want %d (usage kept in Redis)", got, want)
	}
}

// TestRedisConnectionFields connects with an ACL user that may only touch
// keys under its prefix, in database 3: the username, password, prefix and
// database all reach the connection, and a wrong password fails.
func TestRedisConnectionFields(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	if _, err := s.Do("ACL", "SETUSER", "sluice", "on", ">s3cret", "~app:*", "+@all"); err != nil {
		t.Fatal(err)
	}
	fields := fmt.Sprintf("addr = %q\nusername = \"sluice\"\ndb = 3\nprefix = \"app:\"\npool_size = 2\n"+
		"dial_timeout = \"1s\"\nread_timeout = \"2s\"\nwrite_timeout = \"2s\"\npool_timeout = \"2s\"\nbatching = 0\n", s.Addr)
	svc := newService(t, redisFile(fields+"password = \"s3cret\"", failClosed))
	wantOutcomes(t, "the ACL user", outcomes(t, svc, "192.0.2.1", 2), core.Allowed, core.Denied)
	if err := svc.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	keys, err := s.Do("EVAL", "redis.call('SELECT', 3) return redis.call('KEYS', '*')", "0")
	if err != nil || keys == "" {
		t.Fatalf("keys in db 3: %q, %v", keys, err)
	}
	for _, k := range strings.Split(keys, "\n") {
		if !strings.HasPrefix(k, "app:") {
			t.Errorf("key %q lacks the prefix", k)
		}
	}
	if info, _ := s.Do("INFO", "keyspace"); strings.Contains(info, "db0:") {
		t.Errorf("keys in db 0: %s", info)
	}

	wrong := newService(t, redisFile(fields+"password = \"nope\"", failClosed))
	wantOutcomes(t, "a wrong password", outcomes(t, wrong, "192.0.2.1", 1), core.FailedClosed)
	if err := wrong.Ping(t.Context()); err == nil || !strings.HasPrefix(err.Error(), "sluiceconfig: ping redis: ") {
		t.Errorf("Ping with a wrong password = %v", err)
	}
}

// TestRedisCallerClock: with caller_clock the backend runs on the
// Limiter's (fake) clock, so moving it an hour refills the bucket;
// without, the server's clock says no time passed.
func TestRedisCallerClock(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	for _, tc := range []struct {
		lines string
		want  core.Outcome
	}{
		{"caller_clock = true\nprefix = \"caller:\"", core.Allowed},
		{"prefix = \"server:\"", core.Denied},
	} {
		clk := clock.NewFake(time.Now())
		svc := newService(t, redisFile(fmt.Sprintf("url = \"redis://%s\"\n%s", s.Addr, tc.lines), failClosed),
			WithCoreOptions(core.WithClock(clk)))
		wantOutcomes(t, tc.lines, outcomes(t, svc, "192.0.2.1", 2), core.Allowed, core.Denied)
		clk.Advance(time.Hour)
		wantOutcomes(t, tc.lines+", an hour later", outcomes(t, svc, "192.0.2.1", 1), tc.want)
	}
}

// TestRedisEnvURLWithExample runs the shipped example file against a
// Redis named by SLUICE_BACKEND_REDIS_URL: the URL replaces the file's
// connection fields.
func TestRedisEnvURLWithExample(t *testing.T) {
	s := redistest.Start(t)
	t.Setenv("SLUICE_BACKEND_TYPE", "redis")
	t.Setenv("SLUICE_BACKEND_REDIS_URL", "redis://"+s.Addr+"/4")
	svc, err := New("../config.example.toml", WithRegisterer(prometheus.NewRegistry()), withLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	d := decide(t, svc, core.Request{Method: "GET", Path: "/api/items"})
	if d.Outcome != core.Allowed || d.Err != nil || d.Rule != "api" {
		t.Fatalf("decision %v (rule %q, err %v), want Allowed by api", d.Outcome, d.Rule, d.Err)
	}
	if info, err := s.Do("INFO", "keyspace"); err != nil || !strings.Contains(info, "db4:keys=") {
		t.Errorf("INFO keyspace = %q, %v; want keys in db 4", info, err)
	}
}

func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	primary := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "sluice-primary", primary)
	svc := newService(t, redisFile(fmt.Sprintf("mode = \"sentinel\"\naddrs = [%q]\nmaster_name = \"sluice-primary\"", sentinel.Addr), failClosed))
	wantOutcomes(t, "sentinel", outcomes(t, svc, "192.0.2.1", 2), core.Allowed, core.Denied)
	if keys, _ := primary.Do("DBSIZE"); keys == "0" {
		t.Error("no key on the primary")
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	addrs := fmt.Sprintf("%q", c.Addrs()[:2])
	svc := newService(t, redisFile("mode = \"cluster\"\naddrs = "+strings.ReplaceAll(addrs, "\" \"", "\", \""), failClosed))
	for i := range 10 {
		client := fmt.Sprintf("192.0.2.%d", i+1) // keys in different slots
		wantOutcomes(t, client, outcomes(t, svc, client, 2), core.Allowed, core.Denied)
	}
}

// pipelineCounter counts the pipelines of scripts a go-redis client sends
// (not those that set up a new connection).
type pipelineCounter struct{ n atomic.Int64 }

func (p *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "evalsha" || c.Name() == "eval" }) {
			p.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// TestRedisBatching: decisions that queue behind a round trip leave
// together as a pipeline, unless batching = 0. The server pauses its
// clients for a moment, so that every decision queues.
func TestRedisBatching(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	for _, tc := range []struct {
		lines    string
		pipeline bool
	}{
		{"batching = 2", true},
		{"batching = 0", false},
	} {
		prefix := strings.ReplaceAll(tc.lines, " ", "")
		svc := newService(t, redisFile(fmt.Sprintf("addr = %q\nprefix = %q\n%s", s.Addr, prefix, tc.lines), failClosed))
		var pipelines pipelineCounter
		svc.closers[0].(redis.UniversalClient).AddHook(&pipelines)
		decide(t, svc, core.Request{Path: "/", RemoteAddr: "192.0.2.250:1"}) // load the scripts
		if _, err := s.Do("CLIENT", "PAUSE", "300", "WRITE"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if d := decide(t, svc, core.Request{Path: "/", RemoteAddr: fmt.Sprintf("192.0.2.%d:1", i+1)}); d.Outcome != core.Allowed {
					t.Errorf("%s: decision %d: %v (%v)", tc.lines, i, d.Outcome, d.Err)
				}
			})
		}
		wg.Wait()
		if got := pipelines.n.Load(); (got > 0) != tc.pipeline {
			t.Errorf("%s: %d pipelines for 16 queued decisions", tc.lines, got)
		}
	}
}

// TestRedisDenyCache: once Redis denies a client, its next requests are
// denied locally, unless deny_cache = false.
func TestRedisDenyCache(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	for _, tc := range []struct {
		lines  string
		cached bool
	}{
		{"", true},
		{"deny_cache = false", false},
	} {
		svc := newService(t, redisFile(fmt.Sprintf("url = \"redis://%s\"\nprefix = %q", s.Addr, tc.lines+":"), "[failure]\ntimeout = \"2s\"\n"+tc.lines))
		var cached bool
		for range 3 {
			cached = decide(t, svc, core.Request{Path: "/"}).Cached
		}
		if cached != tc.cached {
			t.Errorf("%q: third request cached = %v, want %v", tc.lines, cached, tc.cached)
		}
	}
}

// TestRedisBreaker: the circuit breaker is on by default, and its state
// reaches the metrics; failure.breaker.enabled = false turns it off.
func TestRedisBreaker(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	for _, tc := range []struct {
		breaker string
		want    float64 // sluice_circuit_breaker_state{backend="redis"}; -1 when never reported
	}{
		{"", 2},
		{"[failure.breaker]\nconsecutive_failures = 2\nbackoff = \"1h\"", 2},
		{"[failure.breaker]\nenabled = false", -1},
	} {
		reg := prometheus.NewRegistry()
		// On a fake clock, an open breaker stays open: its backoff never
		// ends.
		svc := newService(t, metricsOn+redisFile(fmt.Sprintf("addr = %q", addr), tc.breaker), WithRegisterer(reg),
			WithCoreOptions(core.WithClock(clock.NewFake(time.Now()))))
		for range 6 {
			if d := decide(t, svc, core.Request{Path: "/"}); d.Outcome != core.FailedOpen {
				t.Fatalf("%q: outcome %v with Redis unreachable, want fail-open", tc.breaker, d.Outcome)
			}
		}
		if got := breakerState(t, reg); got != tc.want {
			t.Errorf("%q: sluice_circuit_breaker_state = %v, want %v", tc.breaker, got, tc.want)
		}
	}
}

func breakerState(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sluice_circuit_breaker_state" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "redis" {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
