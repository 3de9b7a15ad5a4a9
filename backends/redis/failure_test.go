package sluiceredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// These tests run a core.Limiter over real redis-server processes and make
// Redis fail under it: killed, paused, failed over by Sentinel and by the
// Cluster. Every wait polls against a deadline.

const (
	// failTimeout is the Limiter's backend timeout in these tests.
	failTimeout = 50 * time.Millisecond
	// failMargin is what a decision may take beyond the timeout on a
	// loaded two-core machine under the race detector: scheduling delays
	// of 500-900ms were seen at a load average of 17-20, so the bound
	// catches a decision that waits on a dead Redis (seconds, go-redis's
	// dial and read timeouts), not a busy scheduler; the p99 checks hold
	// the decisions to the timeout.
	failMargin = 950 * time.Millisecond
	// failLimit is the limit per hour of every rule here: high enough
	// that load never exhausts it, exact enough to check Remaining.
	failLimit = 1_000_000
	// failoverBound bounds each decision during a failover, when a new
	// connection may first ask a Sentinel or a node where to go.
	failoverBound = 500 * time.Millisecond
)

// awaitRedialers waits, when the test ends, for go-redis's background dial
// goroutines to exit; goleak would report them. A pool dials in goroutines
// of its own, with a background context: a dial under way when the client
// closes runs to its end (five attempts 100ms apart, each asking a Sentinel
// first on a failover client), and after repeated dial errors a pool
// redials in a goroutine that sleeps a second between attempts and notices
// only then that its client was closed. Call it first, so that it runs
// after every other cleanup, or see TestFailureSentinelFailover for a
// client whose dials need servers that the test stops.
func awaitRedialers(t *testing.T) {
	t.Cleanup(func() { waitRedialers(t) })
}

// waitRedialers waits up to 5s until no go-redis dial goroutine runs, and
// reports the go-redis goroutines still running if one does.
func waitRedialers(t *testing.T) {
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		busy := false
		for _, f := range []string{"pool.(*ConnPool).tryDial", "pool.(*ConnPool).queuedNewConn", "pool.(*ConnPool).dialConn"} {
			busy = busy || bytes.Contains(buf[:n], []byte(f))
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			var stacks [][]byte
			for g := range bytes.SplitSeq(buf[:n], []byte("\n\n")) {
				if bytes.Contains(g, []byte("go-redis")) {
					stacks = append(stacks, g)
				}
			}
			t.Errorf("a go-redis dial goroutine is still running 5s after its client closed:\n%s", bytes.Join(stacks, []byte("\n\n")))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowTests skips a test unless SLUICE_SLOW_TESTS=1.
func slowTests(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("SLUICE_SLOW_TESTS") != "1" {
		t.Skipf("%s; set SLUICE_SLOW_TESTS=1 to run it", why)
	}
}

// waitFor polls cond every 10ms until it holds or d has passed, and returns
// how long that took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func failReq(client string) core.Request {
	return core.Request{Method: "GET", Path: "/items", RemoteAddr: client + ":1234"}
}

// freshClient returns a client address that no decision has used yet.
var freshClients atomic.Int64

func freshClient() string {
	n := freshClients.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
}

// exact reports whether d is an exact shared decision on a fresh key.
func exact(d core.Decision, err error) bool {
	return err == nil && d.Outcome == core.Allowed && !d.Local && d.Err == nil && d.Remaining == failLimit-1
}

// slidingLog counts with a sliding log, whose Remaining, unlike a token
// bucket's, does not refill within the hour: a count that survives a
// failover is checked exactly.
var slidingLog = core.WithRules(core.Rule{Name: "default", Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerHour(failLimit)}})

// tokenBucket is the default rule.
var tokenBucket = core.WithDefault(core.PerHour(failLimit))

// newFailLimiter returns a Limiter on b with the given rule (slidingLog or
// tokenBucket) and options.
func newFailLimiter(t *testing.T, b *Backend, rule core.Option, opts ...core.Option) *core.Limiter {
	t.Helper()
	t.Cleanup(func() { b.Close() })
	opts = append([]core.Option{
		core.WithBackend(b),
		rule,
		core.WithFailure(core.Failure{Timeout: failTimeout}),
	}, opts...)
	lim, err := core.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	return lim
}

// warmLimiter returns a Limiter on b with the same rule and no backend
// timeout, to set up counts exactly (the first scripts on a new
// connection, loading the script, may take longer than the timeout).
func warmLimiter(t *testing.T, b *Backend, rule core.Option) *core.Limiter {
	t.Helper()
	lim, err := core.New(core.WithBackend(b), rule, core.WithFailure(core.Failure{Timeout: -1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	return lim
}

// load runs workers goroutines deciding in a loop, each for its own
// client, until stop is called. check sees every decision with the time it
// started and how long it took.
type load struct {
	stop  func()
	total atomic.Int64
}

func startLoad(t *testing.T, lim *core.Limiter, workers int, check func(started time.Time, took time.Duration, d core.Decision, err error)) *load {
	l := &load{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			req := failReq(fmt.Sprintf("192.0.2.%d", i+1))
			for ctx.Err() == nil {
				start := time.Now()
				d, err := lim.Decide(context.Background(), req)
				check(start, time.Since(start), d, err)
				l.total.Add(1)
			}
		})
	}
	l.stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(l.stop)
	return l
}

// limitedErrors reports at most 10 errors from any goroutine.
type limitedErrors struct {
	t *testing.T
	n atomic.Int64
}

func (e *limitedErrors) Errorf(format string, args ...any) {
	if e.n.Add(1) <= 10 {
		e.t.Errorf(format, args...)
	}
}

// TestFailureRedisKilled kills redis-server (SIGKILL) under load, keeps it
// down for three seconds, and restarts it on the same port: no decision
// fails or waits past the timeout, the failure mode applies, the breaker
// (on by default) opens at once, decisions during the outage are fast, and
// they are exact again within half a second of Redis's return.
func TestFailureRedisKilled(t *testing.T) {
	const outage = 3 * time.Second
	for _, tc := range []struct {
		mode string
		ok   func(d core.Decision) bool
	}{
		{"open", func(d core.Decision) bool { return d.Outcome == core.FailedOpen && !d.Local && d.Remaining == -1 }},
		{"closed", func(d core.Decision) bool { return d.Outcome == core.FailedClosed && !d.Local && d.Remaining == -1 }},
		// The local fallback counts for itself: a client that spends
		// its whole local share during the outage (a fast machine makes
		// over a million decisions a second) is denied locally.
		{"local", func(d core.Decision) bool {
			return d.Local && (d.Outcome == core.Allowed || d.Outcome == core.Denied)
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			awaitRedialers(t)
			srv := redistest.Start(t)
			br := &breakerWatch{}
			lim := newFailLimiter(t, newStandalone(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second}), tokenBucket,
				core.WithObserver(br), core.WithFailure(core.Failure{Mode: tc.mode, Timeout: failTimeout}))

			var killedAt atomic.Int64    // UnixNano; 0 while Redis runs
			var restartedAt atomic.Int64 // UnixNano; 0 until Redis restarts
			var exactBefore, failedAfter, slowest atomic.Int64
			var mu sync.Mutex
			var outageTook []time.Duration // decisions made while Redis was down
			errs := &limitedErrors{t: t}
			ld := startLoad(t, lim, 4, func(started time.Time, took time.Duration, d core.Decision, err error) {
				if took > time.Duration(slowest.Load()) {
					slowest.Store(int64(took)) // racy max; good enough for a report
				}
				if err != nil {
					errs.Errorf("Decide returned an error, want a decision: %v", err)
					return
				}
				if took > failTimeout+failMargin {
					errs.Errorf("a decision took %v, want at most %v", took, failTimeout+failMargin)
				}
				k := killedAt.Load()
				switch {
				case k == 0:
					// A first call on a new connection may time out.
					if d.Outcome == core.Allowed && !d.Local && d.Err == nil {
						exactBefore.Add(1)
					}
				case started.UnixNano() > k && (restartedAt.Load() == 0 || started.UnixNano() < restartedAt.Load()):
					if !tc.ok(d) || !errors.Is(d.Err, core.ErrBackendUnavailable) {
						errs.Errorf("after the kill: %v local %v remaining %d err %v, want failure mode %v",
							d.Outcome, d.Local, d.Remaining, d.Err, tc.mode)
					}
					failedAfter.Add(1)
					mu.Lock()
					if len(outageTook) < 1<<20 {
						outageTook = append(outageTook, took)
					}
					mu.Unlock()
				}
			})
			waitFor(t, 5*time.Second, "decisions under load", func() bool { return exactBefore.Load() >= 200 })

			killedAt.Store(time.Now().UnixNano())
			kill := time.Now()
			srv.Kill()
			opened := waitFor(t, 5*time.Second, "breaker open", func() bool { return br.state.Load() == "open" })
			time.Sleep(outage - time.Since(kill)) // a fault test: the outage lasts real seconds

			// Redis comes back on the same address, still under load.
			restartedAt.Store(time.Now().UnixNano())
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			recovered := waitFor(t, 3*time.Second, "exact decisions after the restart", func() bool {
				return exact(lim.Decide(t.Context(), failReq(freshClient())))
			})
			ld.stop()
			// The breaker probes after 50ms, then 100, 200 and at most
			// 400ms while Redis stays down, so it finds Redis back within
			// 400ms. On two cores that the load's four loops keep busy, a
			// probe (a new connection, the script loaded again) can itself
			// exceed the 50ms timeout, and the next comes 400ms later: the
			// test allows two such misses (1.07s was seen once in CI); the
			// log line gives the measured figure.
			if recovered > 2*time.Second {
				t.Errorf("decisions exact again %v after Redis returned, want within 500ms (2s allowed here)", recovered)
			}
			// Every decision now goes to the new server. A timeout on a
			// loaded machine is not a wrong answer: such a decision is
			// asked again (with a new client), up to twice.
			for range 5 {
				var d core.Decision
				var err error
				for try := 0; try < 3; try++ {
					d, err = lim.Decide(t.Context(), failReq(freshClient()))
					if err != nil || !errors.Is(d.Err, context.DeadlineExceeded) {
						break
					}
				}
				if !exact(d, err) {
					t.Errorf("after recovery: %v local %v remaining %d err %v / %v, want exact", d.Outcome, d.Local, d.Remaining, d.Err, err)
				}
			}
			if n, err := srv.Do("DBSIZE"); err != nil || n == "0" {
				t.Errorf("restarted server holds %s keys (%v), want the new decisions' keys", n, err)
			}
			mu.Lock()
			slices.Sort(outageTook)
			var p50, p99 time.Duration
			if n := len(outageTook); n > 0 {
				p50, p99 = outageTook[n/2], outageTook[n*99/100]
			}
			mu.Unlock()
			if p99 > failTimeout {
				t.Errorf("p99 of the decisions during the outage: %v, want under the %v timeout: the breaker must answer them at once", p99, failTimeout)
			}
			t.Logf("mode %v: %d decisions; breaker open %v after the kill; %d decisions during the %v outage, p50 %v, p99 %v; exact again %v after the restart; slowest decision %v",
				tc.mode, ld.total.Load(), opened, failedAfter.Load(), outage, p50, p99, recovered, time.Duration(slowest.Load()))
		})
	}
}

// TestFailureRedisPaused pauses Redis (CLIENT PAUSE ALL) under load: every
// decision fails open within the backend timeout instead of waiting for
// Redis, and decisions are exact again once Redis resumes.
func TestFailureRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	b := newStandalone(&redis.Options{Addr: srv.Addr})
	lim := newFailLimiter(t, b, tokenBucket)
	if d, err := warmLimiter(t, b, tokenBucket).Decide(t.Context(), failReq(freshClient())); !exact(d, err) {
		t.Fatalf("before the pause: %v remaining %d err %v / %v", d.Outcome, d.Remaining, d.Err, err)
	}
	if _, err := srv.Do("CLIENT", "PAUSE", "2000", "ALL"); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	t.Cleanup(func() { srv.Do("CLIENT", "UNPAUSE") })

	var slowest, fastest atomic.Int64
	fastest.Store(int64(time.Hour))
	var failedOpen atomic.Int64
	errs := &limitedErrors{t: t}
	ld := startLoad(t, lim, 4, func(started time.Time, took time.Duration, d core.Decision, err error) {
		if started.Sub(paused) > 1500*time.Millisecond {
			return // the pause may end under this decision
		}
		if took > time.Duration(slowest.Load()) {
			slowest.Store(int64(took))
		}
		if took < time.Duration(fastest.Load()) {
			fastest.Store(int64(took))
		}
		if err != nil {
			errs.Errorf("Decide returned an error, want a decision: %v", err)
			return
		}
		if took > failTimeout+failMargin {
			errs.Errorf("a decision took %v while Redis was paused, want at most %v", took, failTimeout+failMargin)
		}
		if d.Outcome != core.FailedOpen || !errors.Is(d.Err, core.ErrBackendUnavailable) {
			errs.Errorf("while paused: %v err %v, want fail_open wrapping ErrBackendUnavailable", d.Outcome, d.Err)
			return
		}
		failedOpen.Add(1)
	})
	// Decide for three seconds of the pause: a decision started in its
	// first 1.5s that waited for Redis instead of the timeout would take
	// at least 1.5s, beyond the bound.
	waitFor(t, 5*time.Second, "three seconds of the pause", func() bool { return time.Since(paused) > 3*time.Second })
	ld.stop()
	if failedOpen.Load() < 10 {
		t.Errorf("%d fail-open decisions in a second of pause, want more", failedOpen.Load())
	}
	if _, err := srv.Do("CLIENT", "UNPAUSE"); err != nil {
		t.Fatal(err)
	}
	resumed := waitFor(t, 2*time.Second, "exact decisions after the pause", func() bool {
		return exact(lim.Decide(t.Context(), failReq(freshClient())))
	})
	t.Logf("%d decisions while paused, all fail_open in %v..%v (timeout %v); exact again %v after CLIENT UNPAUSE",
		ld.total.Load(), time.Duration(fastest.Load()), time.Duration(slowest.Load()), failTimeout, resumed)
}

// role returns the first line of ROLE: "master", "slave" or "sentinel".
func role(s *redistest.Server) string {
	r, err := s.Do("ROLE")
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(r, "\n")
	return first
}

// replicaOf returns the replica of primary among nodes, nil if none.
func replicaOf(primary *redistest.Server, nodes []*redistest.Server) *redistest.Server {
	_, port, _ := net.SplitHostPort(primary.Addr)
	for _, n := range nodes {
		if n == primary {
			continue
		}
		info, err := n.Do("INFO", "replication")
		if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+port+"\r\n") {
			return n
		}
	}
	return nil
}

// replOffset returns the master_repl_offset field of INFO replication.
func replOffset(s *redistest.Server) string {
	info, err := s.Do("INFO", "replication")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok {
			return v
		}
	}
	return "?"
}

// caughtUp reports whether replica has processed everything primary sent.
func caughtUp(primary, replica *redistest.Server) bool {
	p := replOffset(primary)
	return p != "?" && p != "0" && p == replOffset(replica)
}

func linkUp(replica *redistest.Server) bool {
	info, err := replica.Do("INFO", "replication")
	return err == nil && strings.Contains(info, "master_link_status:up")
}

// TestFailureSentinelFailover kills the primary of a Sentinel setup (one
// primary, one replica, three Sentinels with quorum 2): the Sentinels
// promote the replica and the Limiter's decisions resume on it.
func TestFailureSentinelFailover(t *testing.T) {
	primary := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica := redistest.Start(t, "--replicaof", host, port)
	waitFor(t, 10*time.Second, "replica synchronised", func() bool { return linkUp(replica) })
	sentinels := redistest.StartSentinels(t, 3, "mymaster", primary, 2, 500*time.Millisecond, 2*time.Second)
	// Wait for the client's dial goroutines after the client closes (this
	// cleanup is registered before newFailLimiter's) and before the
	// Sentinels and the replica stop (registered after they started).
	// Decisions that timed out during the failover leave dials queued in
	// the pool, and each dial first asks the Sentinels for the primary
	// (sentinelFailover.MasterAddr, serialised by a mutex). While the
	// Sentinels run, each question takes a millisecond and the queue
	// drains at once; once they are gone, each takes seconds of retries
	// against closed ports, and the queue outlived the test by well over
	// the 5s waitRedialers allows, which goleak reported.
	t.Cleanup(func() { waitRedialers(t) })

	url := "redis+sentinel://" + sentinels[0].Addr + "?master_name=mymaster&addr=" + sentinels[1].Addr + "&addr=" + sentinels[2].Addr
	b, err := NewFromURL(url)
	if err != nil {
		t.Fatal(err)
	}
	lim := newFailLimiter(t, b, slidingLog)
	warm := warmLimiter(t, b, slidingLog)
	const before = 20
	key := freshClient()
	for i := range before {
		d, err := warm.Decide(t.Context(), failReq(key))
		if err != nil || d.Outcome != core.Allowed || d.Remaining != failLimit-1-int64(i) {
			t.Fatalf("before the failover: %v remaining %d err %v / %v", d.Outcome, d.Remaining, d.Err, err)
		}
	}
	waitFor(t, 5*time.Second, "replica caught up", func() bool { return caughtUp(primary, replica) })

	killed := time.Now()
	primary.Kill()
	var firstFailure, decisions, failures int
	var slowest, promoted time.Duration
	resumed := waitFor(t, 15*time.Second, "decisions resumed on the promoted replica", func() bool {
		if promoted == 0 && role(replica) == "master" {
			promoted = time.Since(killed)
		}
		start := time.Now()
		d, err := lim.Decide(t.Context(), failReq(key))
		slowest = max(slowest, time.Since(start))
		decisions++
		if err != nil {
			t.Fatalf("Decide returned an error, want a decision: %v", err)
		}
		if d.Outcome == core.Allowed && d.Err == nil {
			return true
		}
		if d.Outcome != core.FailedOpen || !errors.Is(d.Err, core.ErrBackendUnavailable) {
			t.Fatalf("during the failover: %v err %v, want fail_open", d.Outcome, d.Err)
		}
		if failures == 0 {
			firstFailure = decisions
		}
		failures++
		return false
	})
	// The client found the new primary through a Sentinel that already
	// knew it; the first Sentinel may learn of it a moment later.
	var got string
	var gotErr error
	for deadline := time.Now().Add(10 * time.Second); ; {
		got, gotErr = sentinels[0].Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
		if gotErr == nil && strings.ReplaceAll(got, "\n", ":") == replica.Addr || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if gotErr != nil || strings.ReplaceAll(got, "\n", ":") != replica.Addr {
		t.Errorf("Sentinel reports primary %q (%v), want the replica %s", got, gotErr, replica.Addr)
	}
	if r := role(replica); r != "master" {
		t.Errorf("replica's role is %q, want master", r)
	}
	if slowest > failoverBound {
		t.Errorf("a decision took %v during the failover, want at most %v", slowest, failoverBound)
	}
	// The promoted replica kept the counts, and serves exact decisions.
	d, err := lim.Decide(t.Context(), failReq(key))
	if err != nil || d.Outcome != core.Allowed || d.Remaining != failLimit-before-2 {
		t.Errorf("on the promoted replica: %v remaining %d err %v / %v, want allowed with %d remaining (the count survived)",
			d.Outcome, d.Remaining, d.Err, err, failLimit-before-2)
	}
	if d, err := lim.Decide(t.Context(), failReq(freshClient())); !exact(d, err) {
		t.Errorf("fresh key on the promoted replica: %v remaining %d err %v / %v", d.Outcome, d.Remaining, d.Err, err)
	}
	t.Logf("primary killed: first failure at decision %d, %d fail-open decisions, replica promoted %v and decisions resumed %v after the kill (down-after 500ms); slowest decision %v",
		firstFailure, failures, promoted, resumed, slowest)
}

// TestFailureClusterFailover fails over the primary that holds a client's
// slot, with CLUSTER FAILOVER on its replica (manual) or by killing it
// (kill, which waits for the 5s cluster-node-timeout and so runs only with
// SLUICE_SLOW_TESTS=1): decisions on that slot resume on the new primary,
// with the count intact.
func TestFailureClusterFailover(t *testing.T) {
	t.Run("manual", func(t *testing.T) { testClusterFailover(t, false) })
	t.Run("kill", func(t *testing.T) {
		slowTests(t, "a killed primary is replaced only after the 5s cluster-node-timeout")
		testClusterFailover(t, true)
	})
}

func testClusterFailover(t *testing.T, kill bool) {
	awaitRedialers(t)
	c := redistest.StartCluster(t)
	o := &redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true}
	if kill {
		// go-redis reloads its slot map on MOVED, ASK and READONLY, on a
		// retry to another node, and every ClusterStateReloadInterval
		// (60s by default). A dead primary refuses connections: no
		// MOVED, and the backend's scripts are never retried, so with
		// the default the slot stays routed to the dead node for up to
		// a minute after its replica took over.
		o.ClusterStateReloadInterval = time.Second
	}
	rc := redis.NewClusterClient(o)
	t.Cleanup(func() { rc.Close() })
	// Load the slot map and a connection to every primary first: the
	// first script otherwise takes longer than the timeout.
	if err := rc.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	b := New(rc)
	lim := newFailLimiter(t, b, slidingLog)
	warm := warmLimiter(t, b, slidingLog)
	key := freshClient()
	const before = 20
	for i := range before {
		d, err := warm.Decide(t.Context(), failReq(key))
		if err != nil || d.Outcome != core.Allowed || d.Remaining != failLimit-1-int64(i) {
			t.Fatalf("before the failover: %v remaining %d err %v / %v", d.Outcome, d.Remaining, d.Err, err)
		}
	}
	// The client's keys are the only keys: find the primary that holds
	// them and its replica.
	var primary *redistest.Server
	for _, n := range c.Nodes {
		if role(n) != "master" {
			continue
		}
		if keys, err := n.Do("KEYS", "*"); err == nil && keys != "" {
			primary = n
		}
	}
	if primary == nil {
		t.Fatal("no primary holds the client's keys")
	}
	replica := replicaOf(primary, c.Nodes)
	if replica == nil {
		t.Fatalf("primary %s has no replica", primary.Addr)
	}
	waitFor(t, 5*time.Second, "replica caught up", func() bool { return caughtUp(primary, replica) })

	// A failover needs the primary to know the replica as its own, and
	// the other primaries too (they vote for it), through the cluster
	// bus; right after the cluster starts they may not yet.
	id, err := primary.Do("CLUSTER", "MYID")
	if err != nil {
		t.Fatal(err)
	}
	_, rport, _ := net.SplitHostPort(replica.Addr)
	waitFor(t, 10*time.Second, "every node knows the replica", func() bool {
		for _, n := range c.Nodes {
			r, err := n.Do("CLUSTER", "REPLICAS", id)
			if err != nil || !strings.Contains(r, ":"+rport+"@") {
				return false
			}
		}
		return true
	})
	if kill {
		primary.Kill()
	} else if _, err := replica.Do("CLUSTER", "FAILOVER"); err != nil {
		t.Fatal(err)
	}
	allowed, attempts, failures := before, before, 0
	var slowest time.Duration
	var last core.Decision
	promoted := false
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(replica.Dir + "/redis.log")
			t.Logf("replica %s log:\n%s", replica.Addr, b[max(0, len(b)-3000):])
		}
	})
	resumed := waitFor(t, 20*time.Second, "decisions resumed on the new primary", func() bool {
		promoted = promoted || role(replica) == "master"
		start := time.Now()
		d, err := lim.Decide(t.Context(), failReq(key))
		slowest = max(slowest, time.Since(start))
		attempts++
		if err != nil {
			t.Fatalf("Decide returned an error, want a decision: %v", err)
		}
		if d.Outcome == core.Allowed && d.Err == nil {
			allowed++
			last = d
			return promoted
		}
		failures++
		if failures == 1 {
			t.Logf("failure %d: promoted %v, %v: %v", failures, promoted, d.Outcome, d.Err)
		}
		return false
	})
	if r := role(primary); !kill && r != "slave" {
		t.Errorf("old primary's role is %q, want slave", r)
	}
	if slowest > failoverBound {
		t.Errorf("a decision took %v during the failover, want at most %v", slowest, failoverBound)
	}
	// A failed decision may or may not have been charged; a successful
	// one always was.
	if r := last.Remaining; r > failLimit-int64(allowed) || r < failLimit-int64(attempts) {
		t.Errorf("after the failover: %d remaining, want between %d and %d", r, failLimit-attempts, failLimit-allowed)
	}
	d, err := lim.Decide(t.Context(), failReq(key))
	if err != nil || d.Outcome != core.Allowed || d.Remaining != last.Remaining-1 {
		t.Errorf("on the new primary: %v remaining %d err %v / %v, want allowed with %d", d.Outcome, d.Remaining, d.Err, err, last.Remaining-1)
	}
	if keys, err := replica.Do("KEYS", "*"); err != nil || keys == "" {
		t.Errorf("the new primary %s holds no keys (%v)", replica.Addr, err)
	}
	how := "CLUSTER FAILOVER"
	if kill {
		how = "primary killed"
	}
	t.Logf("cluster started in %v; %s: %d attempts, %d failed, decisions resumed on the new primary after %v; %d remaining (exact: %v); slowest decision %v",
		c.StartTime, how, attempts-before, failures, resumed, last.Remaining, last.Remaining == failLimit-int64(allowed), slowest)
}

// TestClusterSlowNodeStallsOnlyItsKeys pauses one of three primaries while
// decisions run on keys of all three: on a default backend the decisions
// on the healthy primaries go on, and only the paused one's keys fail. A
// batched pipeline waits for its slowest node, which is why batching is
// off by default on a Cluster: with WithBatching(4) here, nearly every
// decision failed.
func TestClusterSlowNodeStallsOnlyItsKeys(t *testing.T) {
	awaitRedialers(t)
	c := redistest.StartCluster(t)
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rc.Close() })
	if err := rc.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	b := New(rc)
	if b.batch != nil {
		t.Fatal("New batches on a Cluster client by default")
	}
	win := []backend.Window{{Limit: 1 << 40, Period: time.Hour}}
	// 64 clients, and the address of the primary that holds each one's key.
	owner := map[string]string{}
	var keys []string
	for i := range 64 {
		k := fmt.Sprint("client-", i)
		m, err := rc.MasterForKey(t.Context(), b.keys("ns", k, backend.TokenBucket, 1)[0])
		if err != nil {
			t.Fatal(err)
		}
		keys, owner[k] = append(keys, k), m.Options().Addr
	}
	// Every primary has the script and every connection is made before
	// the pause: the pause is to slow one node, not the client's start.
	for _, k := range keys {
		if _, err := b.Apply(t.Context(), backend.Request{Namespace: "ns", Key: k, Algorithm: backend.TokenBucket, Windows: win, Cost: 1, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	paused := owner[keys[0]]
	var node *redistest.Server
	for _, n := range c.Nodes {
		if n.Addr == paused {
			node = n
		}
	}
	if _, err := node.Do("CLIENT", "PAUSE", "1500", "ALL"); err != nil {
		t.Fatal(err)
	}
	var okHealthy, failHealthy, okPaused, failPaused atomic.Int64
	stop := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Now().Before(stop); i++ {
				k := keys[i%len(keys)]
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				_, err := b.Apply(ctx, backend.Request{Namespace: "ns", Key: k, Algorithm: backend.TokenBucket, Windows: win, Cost: 1, Now: time.Now()})
				cancel()
				switch {
				case owner[k] == paused && err == nil:
					okPaused.Add(1)
				case owner[k] == paused:
					failPaused.Add(1)
				case err == nil:
					okHealthy.Add(1)
				default:
					failHealthy.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("healthy primaries: %d ok, %d failed; paused primary: %d ok, %d failed",
		okHealthy.Load(), failHealthy.Load(), okPaused.Load(), failPaused.Load())
	if failPaused.Load() == 0 {
		t.Fatal("no decision on the paused primary failed: the pause did not take")
	}
	// A loaded machine may time out a few; a coupled pipeline fails most.
	if ok, failed := okHealthy.Load(), failHealthy.Load(); ok < 10*failed || ok < 100 {
		t.Errorf("healthy primaries: %d ok, %d failed; want them to go on while one primary is paused", ok, failed)
	}
}

// breakerWatch is an Observer that keeps the breaker's latest state.
type breakerWatch struct{ state atomic.Value }

func (*breakerWatch) ObserveDecision(core.Request, core.Decision)         {}
func (*breakerWatch) ObserveBackend(string, string, time.Duration, error) {}
func (b *breakerWatch) ObserveBreaker(_, state string)                    { b.state.Store(state) }

// applyFailures counts failed apply calls and breaker openings.
type applyFailures struct {
	mu             sync.Mutex
	failed, opened int
}

func (*applyFailures) ObserveDecision(core.Request, core.Decision) {}

func (a *applyFailures) ObserveBackend(_, op string, _ time.Duration, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if op == "apply" && err != nil {
		a.failed++
	}
}

func (a *applyFailures) ObserveBreaker(_, state string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if state == "open" {
		a.opened++
	}
}

// TestFailureRefusedOpensAtOnce checks the default setup (NewFromURL, the
// default failure handling, batching on) against a Redis that refuses
// connections: the first decision after the kill fails open and opens the
// breaker, so the next ones reach no backend. go-redis's default dial
// retries (5, 100ms apart) would make that decision wait its whole
// timeout and reach the breaker as a timeout, which opens it only after 5.
func TestFailureRefusedOpensAtOnce(t *testing.T) {
	awaitRedialers(t)
	srv := redistest.Start(t)
	b, err := NewFromURL("redis://" + srv.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	obs := &applyFailures{}
	lim, err := core.New(core.WithBackend(b), tokenBucket, core.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	// The first scripts on a new connection may outlast the timeout.
	waitFor(t, 5*time.Second, "an exact decision", func() bool { return exact(lim.Decide(t.Context(), failReq(freshClient()))) })
	obs.mu.Lock()
	obs.failed, obs.opened = 0, 0
	obs.mu.Unlock()
	req := failReq(freshClient())
	srv.Kill()
	start := time.Now()
	for i := range 5 {
		d, err := lim.Decide(t.Context(), req)
		if err != nil || d.Outcome != core.FailedOpen {
			t.Fatalf("decision %d after the kill: %v, %v; want fail_open", i+1, d.Outcome, err)
		}
	}
	took := time.Since(start)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	// After the breaker's first backoff (50ms) one probe may go through.
	want := 1
	if took > 50*time.Millisecond {
		want = 2
	}
	if obs.opened == 0 || obs.failed > want {
		t.Errorf("5 decisions in %v after the kill: %d backend calls failed, the breaker opened %d times; want it open after the first failure (at most %d calls)", took, obs.failed, obs.opened, want)
	}
}
