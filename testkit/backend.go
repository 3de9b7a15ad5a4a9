package testkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Epoch is the time the backend suite starts its fake clock at:
// 2030-01-01T00:00:00Z, aligned to every period the suite uses.
var Epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Resolution is how far a backend may round a duration up. Backends that
// keep time in microseconds (Redis scripts do, for Lua's float precision)
// report durations up to a microsecond longer than the exact values.
const Resolution = time.Microsecond

// BackendOption configures RunBackendSuite.
type BackendOption func(*backendConfig)

type backendConfig struct {
	algorithms map[backend.Algorithm]bool
	timeout    time.Duration
}

// WithAlgorithms restricts the suite to the given algorithms, for a backend
// that implements only some. The default is all of them.
func WithAlgorithms(algs ...backend.Algorithm) BackendOption {
	return func(c *backendConfig) {
		c.algorithms = map[backend.Algorithm]bool{}
		for _, a := range algs {
			c.algorithms[a] = true
		}
	}
}

// WithTimeout bounds each subtest; a subtest that takes longer fails, so a
// deadlocked backend cannot hang the suite. The default is one minute.
func WithTimeout(d time.Duration) BackendOption {
	return func(c *backendConfig) { c.timeout = d }
}

var allAlgorithms = []backend.Algorithm{
	backend.TokenBucket, backend.SlidingLog, backend.SlidingWindow, backend.FixedWindow, backend.Concurrency,
}

// RunBackendSuite runs the backend conformance suite: every algorithm's exact
// admit/deny sequence on a fake clock, multi-window atomicity, cost, peek,
// reset, key isolation, expiry and concurrent exactness, and, for a backend
// that implements backend.Penalizer, the progressive-penalty subtests
// ("penalty/...", skipped otherwise), and token leasing
// (core.Rule.Prefetch) through several Limiters racing on one key
// ("<algorithm>/prefetch/..."). newBackend is called
// once per subtest; it may return a fresh backend or a shared one (every
// subtest uses its own namespace), and should register its cleanup with
// t.Cleanup.
//
// The backend must take time from backend.Request.Now. Durations may be
// rounded up by at most [Resolution]; everything else must match exactly.
// Run the suite under -race.
func RunBackendSuite(t *testing.T, newBackend func(t *testing.T) backend.Backend, opts ...BackendOption) {
	cfg := backendConfig{timeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.algorithms == nil {
		WithAlgorithms(allAlgorithms...)(&cfg)
	}
	run := func(t *testing.T, name string, alg backend.Algorithm, f func(*harness)) {
		if !cfg.algorithms[alg] {
			return
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), cfg.timeout)
			defer cancel()
			h := &harness{t: t, ctx: ctx, b: newBackend(t), ns: "testkit:" + t.Name(), alg: alg}
			done := make(chan struct{})
			go func() {
				defer close(done)
				f(h)
			}()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatalf("subtest did not finish within %v: is the backend deadlocked?", cfg.timeout)
			}
		})
	}
	for _, seq := range sequences {
		run(t, seq.alg.String()+"/sequence/"+seq.name, seq.alg, func(h *harness) { h.steps(seq.windows, seq.maxDelay, seq.steps) })
	}
	for _, alg := range allAlgorithms {
		name := alg.String()
		run(t, name+"/cost", alg, testCost)
		run(t, name+"/peek", alg, testPeek)
		run(t, name+"/reset", alg, testReset)
		run(t, name+"/zero-limit", alg, testZeroLimit)
		run(t, name+"/key-isolation", alg, testIsolation)
		run(t, name+"/expiry", alg, testExpiry)
		run(t, name+"/next-after", alg, testNextAfter)
		run(t, name+"/concurrent-exactness", alg, testConcurrentExactness)
		if alg != backend.Concurrency {
			run(t, name+"/multi-window-atomicity", alg, testMultiWindow)
			run(t, name+"/concurrent-exactness-multi-window", alg, testConcurrentMultiWindow)
		}
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow} {
		name := alg.String() + "/settle/"
		run(t, name+"refund", alg, testSettleRefund)
		run(t, name+"refund-after-others", alg, testSettleRefundAfterOthers)
		run(t, name+"multi-window", alg, testSettleMultiWindow)
		run(t, name+"concurrent", alg, testSettleConcurrent)
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog} {
		run(t, alg.String()+"/settle/extra", alg, testSettleExtra)
	}
	for _, alg := range allAlgorithms {
		run(t, alg.String()+"/keyed/take", alg, testKeyedTake)
		if alg != backend.Concurrency {
			run(t, alg.String()+"/keyed/wait", alg, testKeyedWait)
		}
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow} {
		run(t, alg.String()+"/keyed/settle", alg, testKeyedSettle)
	}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow} {
		name := alg.String() + "/prefetch/"
		run(t, name+"race", alg, testPrefetchRace)
		run(t, name+"crash", alg, testPrefetchCrash)
		run(t, name+"return", alg, testPrefetchReturn)
		run(t, name+"cold-key", alg, testPrefetchColdKey)
	}
	run(t, "token_bucket/settle/out-of-order", backend.TokenBucket, testSettleOutOfOrder)
	run(t, "sliding_log/settle/refund-keeps-estimate", backend.SlidingLog, testSettleLog)
	run(t, "concurrency/settle", backend.Concurrency, testSettleConcurrency)
	run(t, "concurrency/release", backend.Concurrency, testRelease)
	runPenaltySuite(t, &cfg, newBackend) // penalty.go
}

// harness runs requests against one backend within one namespace.
type harness struct {
	t   *testing.T
	ctx context.Context
	b   backend.Backend
	ns  string
	alg backend.Algorithm
	key string // suffix for race keys
}

func (h *harness) request(key string, windows []backend.Window, at time.Duration, cost int64) backend.Request {
	return backend.Request{
		Namespace: h.ns, Key: key, Algorithm: h.alg, Windows: windows,
		Cost: cost, Now: Epoch.Add(at),
	}
}

func (h *harness) apply(req backend.Request) (backend.Result, bool) {
	h.t.Helper()
	res, err := h.b.Apply(h.ctx, req)
	if err != nil {
		h.t.Errorf("Apply(key=%q, cost=%d, at=%v): unexpected error: %v", req.Key, req.Cost, req.Now.Sub(Epoch), err)
		return res, false
	}
	return res, true
}

// step is one request of an exact sequence and the result it must get.
type step struct {
	at      time.Duration // since Epoch
	cost    int64         // 0 peeks
	lease   uint64        // Concurrency: the lease to acquire (or release)
	release bool          // release lease instead of applying
	// reload, when set, replaces the sequence's windows from this step
	// on, as a configuration reload changes a rule's limits.
	reload []backend.Window

	allowed    bool
	delay      time.Duration
	remaining  int64
	resetAfter time.Duration
	retryAfter time.Duration
}

func (h *harness) steps(windows []backend.Window, maxDelay time.Duration, steps []step) {
	h.t.Helper()
	for i, s := range steps {
		if s.reload != nil {
			windows = s.reload
		}
		req := h.request("client", windows, s.at, s.cost)
		req.MaxDelay, req.Lease = maxDelay, s.lease
		if s.release {
			if err := h.b.Release(h.ctx, req); err != nil {
				h.t.Errorf("step %d: Release(lease %d): unexpected error: %v", i, s.lease, err)
			}
			continue
		}
		res, ok := h.apply(req)
		if !ok {
			continue
		}
		prefix := fmt.Sprintf("step %d (at %v, cost %d)", i, s.at, s.cost)
		var problems []string
		if res.Allowed != s.allowed {
			problems = append(problems, fmt.Sprintf("Allowed = %v, want %v", res.Allowed, s.allowed))
		}
		problems = append(problems, durationProblem("Delay", res.Delay, s.delay)...)
		w := res.Windows[0]
		if w.Remaining != s.remaining {
			problems = append(problems, fmt.Sprintf("Remaining = %d, want %d", w.Remaining, s.remaining))
		}
		problems = append(problems, durationProblem("ResetAfter", w.ResetAfter, s.resetAfter)...)
		problems = append(problems, durationProblem("RetryAfter", w.RetryAfter, s.retryAfter)...)
		if len(problems) > 0 {
			h.t.Errorf("%s: %s", prefix, strings.Join(problems, "; "))
		}
	}
}

// durationProblem compares a duration allowing rounding up by Resolution.
func durationProblem(name string, got, want time.Duration) []string {
	if got < want || got >= want+Resolution {
		return []string{fmt.Sprintf("%s = %v, want %v", name, got, want)}
	}
	return nil
}

// peek returns the remaining count of every window of key.
func (h *harness) peek(key string, windows []backend.Window, at time.Duration) (backend.Result, bool) {
	h.t.Helper()
	return h.apply(h.request(key, windows, at, 0))
}

var nextLease atomic.Uint64

// charge applies cost to key and fails the test if the result differs from
// allowed.
func (h *harness) charge(key string, windows []backend.Window, at time.Duration, cost int64, allowed bool) backend.Result {
	h.t.Helper()
	req := h.request(key, windows, at, cost)
	req.Lease = nextLease.Add(1)
	res, ok := h.apply(req)
	if ok && res.Allowed != allowed {
		h.t.Errorf("Apply(key=%q, cost=%d, at=%v).Allowed = %v, want %v (remaining %d)",
			key, cost, at, res.Allowed, allowed, res.Windows[0].Remaining)
	}
	return res
}

func one(limit int64, period time.Duration) []backend.Window {
	return []backend.Window{{Limit: limit, Period: period}}
}

func testCost(h *harness) {
	w := one(5, time.Minute)
	if r := h.charge("client", w, 0, 3, true); r.Windows[0].Remaining != 2 {
		h.t.Errorf("after cost 3 of 5: Remaining = %d, want 2", r.Windows[0].Remaining)
	}
	if r := h.charge("client", w, 0, 3, false); r.Windows[0].Remaining != 2 {
		h.t.Errorf("after a denied cost 3: Remaining = %d, want 2 (a denial must charge nothing)", r.Windows[0].Remaining)
	}
	if r := h.charge("client", w, 0, 2, true); r.Windows[0].Remaining != 0 {
		h.t.Errorf("after cost 2 more: Remaining = %d, want 0", r.Windows[0].Remaining)
	}
	if r := h.charge("other", w, 0, 6, false); r.Windows[0].RetryAfter != time.Minute {
		h.t.Errorf("cost 6 above a limit of 5: RetryAfter = %v, want the period %v", r.Windows[0].RetryAfter, time.Minute)
	}
}

func testPeek(h *harness) {
	w := one(5, time.Minute)
	h.charge("client", w, 0, 2, true)
	for i := range 10 {
		r, ok := h.peek("client", w, 0)
		if ok && (r.Windows[0].Remaining != 3 || !r.Allowed) {
			h.t.Fatalf("peek %d: Allowed = %v, Remaining = %d, want true, 3 (a peek must charge nothing)", i, r.Allowed, r.Windows[0].Remaining)
		}
	}
	if r := h.charge("client", w, 0, 1, true); r.Windows[0].Remaining != 2 {
		h.t.Errorf("charge after peeks: Remaining = %d, want 2", r.Windows[0].Remaining)
	}
	if r, ok := h.peek("fresh", w, 0); ok && (r.Windows[0].Remaining != 5 || r.Windows[0].ResetAfter != 0) {
		h.t.Errorf("peek of an unknown key: Remaining = %d, ResetAfter = %v, want 5, 0", r.Windows[0].Remaining, r.Windows[0].ResetAfter)
	}
	h.charge("full", w, 0, 5, true)
	if r, ok := h.peek("full", w, 0); ok && (r.Allowed || r.Windows[0].RetryAfter <= 0) {
		h.t.Errorf("peek of an exhausted key: Allowed = %v, RetryAfter = %v, want false and positive", r.Allowed, r.Windows[0].RetryAfter)
	}
}

func testReset(h *harness) {
	w := one(3, time.Hour)
	h.charge("client", w, 0, 3, true)
	h.charge("neighbour", w, 0, 2, true)
	if err := h.b.Reset(h.ctx, h.ns, "client"); err != nil {
		h.t.Fatalf("Reset: %v", err)
	}
	if r, ok := h.peek("client", w, 0); ok && r.Windows[0].Remaining != 3 {
		h.t.Errorf("after Reset: Remaining = %d, want 3", r.Windows[0].Remaining)
	}
	if r, ok := h.peek("neighbour", w, 0); ok && r.Windows[0].Remaining != 1 {
		h.t.Errorf("Reset of one key changed another: neighbour Remaining = %d, want 1", r.Windows[0].Remaining)
	}
	if err := h.b.Reset(h.ctx, h.ns, "never-seen"); err != nil {
		h.t.Errorf("Reset of an unknown key: %v, want nil", err)
	}
	if h.alg != backend.Concurrency {
		multi := []backend.Window{{Limit: 3, Period: time.Second}, {Limit: 5, Period: time.Hour}}
		h.charge("multi", multi, 0, 2, true)
		if err := h.b.Reset(h.ctx, h.ns, "multi"); err != nil {
			h.t.Fatalf("Reset: %v", err)
		}
		if r, ok := h.peek("multi", multi, 0); ok && (r.Windows[0].Remaining != 3 || r.Windows[1].Remaining != 5) {
			h.t.Errorf("after Reset of a two-window key: Remaining = %d, %d, want 3, 5", r.Windows[0].Remaining, r.Windows[1].Remaining)
		}
	}
}

func testZeroLimit(h *harness) {
	w := one(0, 10*time.Second)
	for range 3 {
		r := h.charge("client", w, 0, 1, false)
		if r.Windows[0].Remaining != 0 || r.Windows[0].RetryAfter != 10*time.Second {
			h.t.Errorf("limit 0: Remaining = %d, RetryAfter = %v, want 0, 10s", r.Windows[0].Remaining, r.Windows[0].RetryAfter)
		}
	}
}

// isolationKeys differ from one another by as little as one byte, and
// contain the characters key formats are most likely to mishandle.
func isolationKeys() []string {
	long := strings.Repeat("k", 1024)
	huge := strings.Repeat("h", 64<<10)
	return []string{
		huge, huge + "h", huge[:len(huge)-1] + "i",
		"a", "b", "A", "a ", " a", "a\n", "a\r\n", "\x00", "a\x00", "", "a:b", "a:", ":a",
		"{a}", "{a", "a}", "}{", "{}", "{a}:b", "a:{b}", "1.2.3.4", "1.2.3.40", "::1", "[::1]:80",
		"ünïcödé", "a b c", "%2F", "\xff\xfe", long, long[:1023] + "j", long + "k",
	}
}

func testIsolation(h *harness) {
	keys := isolationKeys()
	limit := int64(len(keys) + 2)
	w := one(limit, time.Hour)
	// Charge key i with i+1 units, then check every key saw only its own.
	for i, k := range keys {
		h.charge(k, w, 0, int64(i+1), true)
	}
	for i, k := range keys {
		if r, ok := h.peek(k, w, 0); ok && r.Windows[0].Remaining != limit-int64(i+1) {
			h.t.Errorf("key %q: Remaining = %d, want %d: it shares state with another key", k, r.Windows[0].Remaining, limit-int64(i+1))
		}
	}
	// The namespace/key boundary must be unambiguous.
	pairs := [][2]string{{h.ns + "a", "b"}, {h.ns, "ab"}, {h.ns + ":a", "b"}, {h.ns, ":ab"}, {h.ns + "{", "}"}}
	for i, p := range pairs {
		req := backend.Request{Namespace: p[0], Key: p[1], Algorithm: h.alg, Windows: w, Cost: int64(i + 1), Now: Epoch, Lease: nextLease.Add(1)}
		h.apply(req)
	}
	for i, p := range pairs {
		req := backend.Request{Namespace: p[0], Key: p[1], Algorithm: h.alg, Windows: w, Now: Epoch}
		if r, ok := h.apply(req); ok && r.Windows[0].Remaining != limit-int64(i+1) {
			h.t.Errorf("namespace %q key %q: Remaining = %d, want %d: namespace and key run together", p[0], p[1], r.Windows[0].Remaining, limit-int64(i+1))
		}
	}
}

func testExpiry(h *harness) {
	w := one(4, time.Second)
	h.charge("client", w, 0, 4, true)
	h.charge("client", w, 0, 1, false)
	// Every algorithm has fully reset two periods later (the sliding window
	// counter needs both of its windows to pass).
	r, ok := h.peek("client", w, 2*time.Second)
	if ok && (r.Windows[0].Remaining != 4 || r.Windows[0].ResetAfter != 0 || !r.Allowed) {
		h.t.Errorf("two periods later: Allowed = %v, Remaining = %d, ResetAfter = %v, want true, 4, 0",
			r.Allowed, r.Windows[0].Remaining, r.Windows[0].ResetAfter)
	}
	h.charge("client", w, 2*time.Second, 4, true)
}

func testMultiWindow(h *harness) {
	windows := []backend.Window{{Limit: 2, Period: time.Second}, {Limit: 3, Period: time.Minute}}
	check := func(what string, r backend.Result, rem0, rem1 int64) {
		h.t.Helper()
		if r.Windows[0].Remaining != rem0 || r.Windows[1].Remaining != rem1 {
			h.t.Errorf("%s: Remaining = %d, %d, want %d, %d", what, r.Windows[0].Remaining, r.Windows[1].Remaining, rem0, rem1)
		}
	}
	check("first", h.charge("client", windows, 0, 1, true), 1, 2)
	check("second", h.charge("client", windows, 0, 1, true), 0, 1)
	r := h.charge("client", windows, 0, 1, false)
	check("denied by the per-second window", r, 0, 1)
	if r.Windows[0].RetryAfter <= 0 || r.Windows[1].RetryAfter != 0 {
		h.t.Errorf("RetryAfter = %v, %v, want positive for the violated window only", r.Windows[0].RetryAfter, r.Windows[1].RetryAfter)
	}
	check("two seconds later", h.charge("client", windows, 2*time.Second, 1, true), 1, 0)
	check("denied by the per-minute window", h.charge("client", windows, 2*time.Second, 1, false), 1, 0)
	if r, ok := h.peek("client", windows, 2*time.Second); ok {
		check("peek: a denied request charged a window", r, 1, 0)
	}
}

func testConcurrentExactness(h *harness) {
	const limit, workers, attempts = 50, 16, 10
	h.race(one(limit, time.Hour), workers, attempts, 1, limit)
	// With cost 2, a limit of 51 admits 25 requests.
	h.key = "cost"
	h.race(one(2*25+1, time.Hour), workers, attempts, 2, 25)
}

func testConcurrentMultiWindow(h *harness) {
	windows := []backend.Window{{Limit: 50, Period: time.Minute}, {Limit: 30, Period: time.Hour}}
	h.race(windows, 16, 10, 1, 30)
	// The 130 denied requests must not have charged the per-minute window.
	if r, ok := h.peek("hot:"+h.key, windows, 0); ok && (r.Windows[0].Remaining != 20 || r.Windows[1].Remaining != 0) {
		h.t.Errorf("after the race: Remaining = %d, %d, want 20, 0: a denied request charged a window",
			r.Windows[0].Remaining, r.Windows[1].Remaining)
	}
}

// race sends workers*attempts requests at once for one key at a frozen time
// and checks that exactly want are admitted.
func (h *harness) race(windows []backend.Window, workers, attempts int, cost, want int64) {
	h.t.Helper()
	key := "hot:" + h.key
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for range attempts {
				req := h.request(key, windows, 0, cost)
				req.Lease = nextLease.Add(1)
				res, err := h.b.Apply(h.ctx, req)
				if err != nil {
					h.t.Errorf("Apply: %v", err)
					return
				}
				if res.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if got := admitted.Load(); got != want {
		h.t.Errorf("%d concurrent requests of cost %d: admitted %d, want exactly %d", workers*attempts, cost, got, want)
	}
}

func testRelease(h *harness) {
	w := one(1, time.Minute)
	req := h.request("client", w, 0, 1)
	req.Lease = 7
	if r, ok := h.apply(req); ok && !r.Allowed {
		h.t.Fatal("first acquire denied")
	}
	for range 2 { // releasing twice is harmless
		if err := h.b.Release(h.ctx, req); err != nil {
			h.t.Errorf("Release: %v", err)
		}
	}
	other := req
	other.Lease = 8
	if r, ok := h.apply(other); ok && !r.Allowed {
		h.t.Error("acquire after release denied: the slot was not freed")
	}
	other.Lease = 99
	if err := h.b.Release(h.ctx, other); err != nil {
		h.t.Errorf("Release of an unknown lease: %v, want nil", err)
	}
	if r, ok := h.peek("client", w, 0); ok && r.Windows[0].Remaining != 0 {
		h.t.Errorf("releasing an unknown lease freed a slot: Remaining = %d, want 0", r.Windows[0].Remaining)
	}
}
