package sluiceredis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// gateHook is a go-redis hook that counts the scripts a client sends, alone
// and in pipelines, and, while held, stops each script command or pipeline
// before it is sent until released.
type gateHook struct {
	mu        sync.Mutex
	gate      chan struct{}
	entered   chan int     // the number of scripts of each held send
	alone     atomic.Int64 // scripts sent as a command of their own
	piped     atomic.Int64 // scripts sent in pipelines
	pipelines atomic.Int64 // pipelines sent
	largest   atomic.Int64 // the most scripts in one pipeline
}

func newGateHook() *gateHook { return &gateHook{entered: make(chan int, 1024)} }

// hold makes script sends wait until the returned func is first called.
func (h *gateHook) hold() (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.gate = ch
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			if h.gate == ch {
				h.gate = nil
			}
			h.mu.Unlock()
			close(ch)
		})
	}
}

func (h *gateHook) wait(n int) {
	h.mu.Lock()
	g := h.gate
	h.mu.Unlock()
	if g != nil {
		h.entered <- n
		<-g
	}
}

func isScriptCmd(cmd redis.Cmder) bool { return cmd.Name() == "evalsha" || cmd.Name() == "eval" }

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScriptCmd(cmd) {
			h.alone.Add(1)
			h.wait(1)
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, c := range cmds {
			if isScriptCmd(c) {
				n++
			}
		}
		if n > 0 {
			h.pipelines.Add(1)
			h.piped.Add(int64(n))
			for {
				l := h.largest.Load()
				if int64(n) <= l || h.largest.CompareAndSwap(l, int64(n)) {
					break
				}
			}
			h.wait(n)
		}
		return next(ctx, cmds)
	}
}

// queuedCalls returns the number of calls waiting on the backend's lanes.
func queuedCalls(b *Backend) int {
	n := 0
	for i := range b.batch.lanes {
		l := &b.batch.lanes[i]
		l.mu.Lock()
		for _, c := range l.queue {
			if c.state == queued {
				n++
			}
		}
		l.mu.Unlock()
	}
	return n
}

// awaitQueued waits until n calls wait on b's lanes.
func awaitQueued(t *testing.T, b *Backend, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d queued calls", n), func() bool { return queuedCalls(b) == n })
}

// awaitHeld waits until sends of n scripts in all are held by h.
func awaitHeld(t *testing.T, h *gateHook, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for n > 0 {
		select {
		case k := <-h.entered:
			n -= k
		case <-timeout:
			t.Fatalf("still waiting for %d held scripts", n)
		}
	}
}

type applyResult struct {
	res backend.Result
	err error
}

// applyAll runs one Apply per request concurrently, with every script held
// until all those that find no idle lane are queued, so that they leave in
// pipelines, and returns the results in the order of reqs.
func applyAll(t *testing.T, b *Backend, h *gateHook, reqs []backend.Request, beforeRelease func()) []applyResult {
	t.Helper()
	release := h.hold()
	defer release()
	out := make([]applyResult, len(reqs))
	var wg sync.WaitGroup
	lanes := len(b.batch.lanes)
	// One call per lane finds it idle and is held before it is sent; the
	// others queue behind it.
	for i := range reqs[:lanes] {
		wg.Go(func() { out[i].res, out[i].err = b.Apply(t.Context(), reqs[i]) })
	}
	awaitHeld(t, h, lanes)
	for i := lanes; i < len(reqs); i++ {
		wg.Go(func() { out[i].res, out[i].err = b.Apply(t.Context(), reqs[i]) })
	}
	awaitQueued(t, b, len(reqs)-lanes)
	if beforeRelease != nil {
		beforeRelease()
	}
	release()
	wg.Wait()
	return out
}

// TestBatchRacingCallers races 256 callers on one key of limit 100 through
// four lanes, on a standalone server and on a Cluster: exactly 100 are
// admitted, each with its own result (the admitted see every remaining
// count from 99 down to 0 once), the queued ones were pipelined, and a
// second round on 256 keys spread over the Cluster's nodes admits every
// caller with its key's own count.
func TestBatchRacingCallers(t *testing.T) {
	srv := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) pipeClient
	}{
		{"standalone", func(t *testing.T) pipeClient { return newClient(t, srv.Addr) }},
		{"cluster", func(t *testing.T) pipeClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client(t)
			h := newGateHook()
			client.(interface{ AddHook(redis.Hook) }).AddHook(h)
			b := New(client, WithBatching(4))
			const callers, limit = 256, 100
			w := []backend.Window{{Limit: limit, Period: time.Hour}}
			reqs := make([]backend.Request, callers)
			for i := range reqs {
				reqs[i] = backend.Request{Namespace: "race-" + tc.name, Key: "one", Windows: w, Cost: 1}
			}
			out := applyAll(t, b, h, reqs, nil)
			var remaining []int64
			for i, r := range out {
				if r.err != nil {
					t.Fatalf("caller %d: %v", i, r.err)
				}
				if r.res.Allowed {
					remaining = append(remaining, r.res.Windows[0].Remaining)
				} else if r.res.Windows[0].Remaining != 0 || r.res.Windows[0].RetryAfter <= 0 {
					t.Errorf("caller %d denied with %+v, want Remaining 0 and a RetryAfter", i, r.res.Windows[0])
				}
			}
			if got := len(remaining); got != limit {
				t.Errorf("%d of %d callers admitted, want exactly %d", got, callers, limit)
			}
			slices.Sort(remaining)
			for i, r := range remaining {
				if r != int64(i) {
					t.Errorf("admitted callers' Remaining = %v, want 0 to %d once each", remaining, limit-1)
					break
				}
			}
			if got, want := h.piped.Load(), int64(callers-4); got != want {
				t.Errorf("%d scripts sent in pipelines, want the %d that queued", got, want)
			}
			t.Logf("%d pipelines, the largest of %d scripts", h.pipelines.Load(), h.largest.Load())

			// Many keys: on a Cluster, a pipeline spans every node.
			for i := range reqs {
				reqs[i].Key = fmt.Sprintf("key-%d", i)
			}
			for i, r := range applyAll(t, b, h, reqs, nil) {
				if r.err != nil || !r.res.Allowed || r.res.Windows[0].Remaining != limit-1 {
					t.Errorf("caller %d on its own key: %+v, %v, want allowed with Remaining %d", i, r.res, r.err, limit-1)
				}
			}
		})
	}
}

// TestBatchNoScript flushes the server's scripts while a batch waits to be
// sent: every script of the batch gets NOSCRIPT, and each is sent again
// with EVAL, so that every caller still gets its own result.
func TestBatchNoScript(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	h := newGateHook()
	client.AddHook(h)
	b := New(client, WithBatching(2))
	const callers = 64
	w := []backend.Window{{Limit: callers, Period: time.Hour}}
	reqs := make([]backend.Request, callers)
	for i := range reqs {
		reqs[i] = backend.Request{Namespace: "noscript-batch", Key: "one", Windows: w, Cost: 1}
	}
	// Load the script, so that the batch below is sent with EVALSHA.
	if _, err := b.Apply(t.Context(), backend.Request{Namespace: "noscript-batch", Key: "warm", Windows: w, Cost: 1}); err != nil {
		t.Fatal(err)
	}
	out := applyAll(t, b, h, reqs, func() {
		if err := newClient(t, srv.Addr).ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	})
	var remaining []int64
	for i, r := range out {
		if r.err != nil || !r.res.Allowed {
			t.Fatalf("caller %d after SCRIPT FLUSH: %+v, %v", i, r.res, r.err)
		}
		remaining = append(remaining, r.res.Windows[0].Remaining)
	}
	slices.Sort(remaining)
	for i, r := range remaining {
		if r != int64(i) {
			t.Fatalf("Remaining after SCRIPT FLUSH = %v, want 0 to %d once each", remaining, callers-1)
		}
	}
	if h.pipelines.Load() == 0 {
		t.Error("no pipeline was sent")
	}
}

// TestBatchLoneCaller checks that calls one after another are each sent at
// once as a command of their own: no pipeline, nothing queued.
func TestBatchLoneCaller(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	h := newGateHook()
	client.AddHook(h)
	b := New(client)
	if b.batch == nil || len(b.batch.lanes) != defaultBatchLanes {
		t.Fatalf("New batches on %v lanes, want defaultBatchLanes (%d)", b.batch, defaultBatchLanes)
	}
	w := []backend.Window{{Limit: 100, Period: time.Hour}}
	// Load the script, so that what follows is EVALSHA alone.
	if _, err := b.Apply(t.Context(), backend.Request{Namespace: "lone", Key: "warm", Windows: w, Cost: 1}); err != nil {
		t.Fatal(err)
	}
	h.alone.Store(0)
	for i := range 20 {
		res, err := b.Apply(t.Context(), backend.Request{Namespace: "lone", Key: "k", Windows: w, Cost: 1})
		if err != nil || res.Windows[0].Remaining != int64(99-i) {
			t.Fatalf("call %d: %+v, %v", i, res, err)
		}
	}
	if got := h.alone.Load(); got != 20 {
		t.Errorf("%d scripts sent alone, want 20", got)
	}
	if got := h.pipelines.Load(); got != 0 {
		t.Errorf("%d pipelines sent for one caller, want 0", got)
	}
	for i := range b.batch.lanes {
		if b.batch.lanes[i].busy.Load() {
			t.Errorf("lane %d still busy", i)
		}
	}
}

// TestBatchCancel checks that callers who give up do not fail the others:
// one cancelled while queued returns at once and its script is never sent;
// one cancelled while its pipeline is in flight returns at once, and the
// pipeline's other scripts, that of the leader included, succeed.
func TestBatchCancel(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	h := newGateHook()
	client.AddHook(h)
	b := New(client, WithBatching(1))
	w := []backend.Window{{Limit: 10, Period: time.Hour}}
	req := func(key string) backend.Request {
		return backend.Request{Namespace: "cancel", Key: key, Windows: w, Cost: 1}
	}
	type result struct {
		res backend.Result
		err error
	}
	apply := func(ctx context.Context, key string) chan result {
		ch := make(chan result, 1)
		go func() {
			res, err := b.Apply(ctx, req(key))
			ch <- result{res, err}
		}()
		return ch
	}
	got := func(ch chan result, what string) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return", what)
			return result{}
		}
	}

	// Load the script, so that every send below is one EVALSHA.
	if _, err := b.Apply(t.Context(), req("warm")); err != nil {
		t.Fatal(err)
	}
	release := h.hold()
	first := apply(t.Context(), "first")
	awaitHeld(t, h, 1)
	// The leader of the next batch is the call with the latest deadline:
	// the one with none.
	lead := apply(context.WithoutCancel(t.Context()), "lead")
	long, cancelLong := context.WithTimeout(t.Context(), time.Hour)
	defer cancelLong()
	inFlight, cancelInFlight := context.WithCancel(long)
	follower := apply(long, "follower")
	flying := apply(inFlight, "in-flight")
	inQueue, cancelInQueue := context.WithCancel(long)
	queuedCall := apply(inQueue, "in-queue")
	awaitQueued(t, b, 4)

	cancelInQueue()
	if r := got(queuedCall, "the call cancelled in the queue"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("call cancelled in the queue = %+v, %v, want context.Canceled", r.res, r.err)
	}
	awaitQueued(t, b, 3)

	// Hold the pipeline the leader sends next, then cancel one of its
	// callers while it is in flight.
	releasePipe := h.hold()
	defer releasePipe()
	release()
	if r := got(first, "the first call"); r.err != nil || !r.res.Allowed {
		t.Fatalf("first call = %+v, %v", r.res, r.err)
	}
	awaitHeld(t, h, 3)
	cancelInFlight()
	if r := got(flying, "the call cancelled in flight"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("call cancelled in flight = %+v, %v, want context.Canceled", r.res, r.err)
	}
	releasePipe()
	for _, c := range []struct {
		ch   chan result
		name string
	}{{lead, "leader"}, {follower, "follower"}} {
		if r := got(c.ch, c.name); r.err != nil || !r.res.Allowed || r.res.Windows[0].Remaining != 9 {
			t.Errorf("%s = %+v, %v, want allowed with Remaining 9", c.name, r.res, r.err)
		}
	}

	// The script of the call cancelled in flight ran; that of the call
	// cancelled in the queue never left.
	peek := New(newClient(t, srv.Addr), WithBatching(0))
	for key, want := range map[string]int64{"in-flight": 9, "in-queue": 10} {
		r := req(key)
		r.Cost = 0
		res, err := peek.Apply(t.Context(), r)
		if err != nil || res.Windows[0].Remaining != want {
			t.Errorf("%s afterwards: %+v, %v, want Remaining %d", key, res, err, want)
		}
	}
}

// TestBatchChurn runs 64 callers whose contexts end at random (cancelled
// before the call, during it, at short deadlines, or never) through two
// lanes: every call returns its own result or its context's error, the
// calls that succeeded were all charged, and no goroutine is left behind
// (TestMain checks).
func TestBatchChurn(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client, WithBatching(2))
	// A bucket that refills by about one token during the test.
	const limit = 1_000_000
	w := []backend.Window{{Limit: limit, Period: 100 * 24 * time.Hour}}
	var ok, tried atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				ctx, cancel := context.WithCancel(t.Context())
				switch rng.IntN(4) {
				case 0:
					ctx, cancel = context.WithTimeout(t.Context(), time.Duration(rng.IntN(500))*time.Microsecond)
				case 1:
					time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, cancel)
				case 2:
					ctx = context.WithoutCancel(ctx)
				}
				tried.Add(1)
				res, err := b.Apply(ctx, backend.Request{Namespace: "churn", Key: "one", Windows: w, Cost: 1})
				cancel()
				switch {
				case err == nil && res.Allowed:
					ok.Add(1)
				case err == nil:
					t.Errorf("denied: %+v", res)
				case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Errorf("Apply = %v, want a result or the context's error", err)
					}
				}
			}
		})
	}
	wg.Wait()
	peek := New(client, WithBatching(0))
	res, err := peek.Apply(t.Context(), backend.Request{Namespace: "churn", Key: "one", Windows: w, Cost: 0})
	if err != nil {
		t.Fatal(err)
	}
	charged := limit - res.Windows[0].Remaining
	if charged+1 < ok.Load() || charged > tried.Load() {
		t.Errorf("%d charged for %d successful calls of %d", charged, ok.Load(), tried.Load())
	}
	t.Logf("%d of %d calls succeeded, %d charged", ok.Load(), tried.Load(), charged)
	for i := range b.batch.lanes {
		l := &b.batch.lanes[i]
		if l.busy.Load() || len(l.queue) != 0 {
			t.Errorf("lane %d busy or not empty after the load", i)
		}
	}
}

// TestBatchNoDoubleCharge loses the reply of a whole pipeline after its
// scripts ran, on a client with go-redis's default retries: every caller
// of the batch gets an error, and no script ran twice.
func TestBatchNoDoubleCharge(t *testing.T) {
	srv := redistest.Start(t)
	proxy := newDropProxy(t, srv.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { viaProxy.Close() })
	h := newGateHook()
	viaProxy.AddHook(h)
	b := New(viaProxy, WithBatching(1))
	w := []backend.Window{{Limit: 10, Period: time.Hour}}
	req := func(key string) backend.Request {
		return backend.Request{Namespace: "batch-retry", Key: key, Windows: w, Cost: 3}
	}
	// A warm connection, and the script loaded.
	if _, err := b.Apply(t.Context(), req("warm-up")); err != nil {
		t.Fatal(err)
	}
	release := h.hold()
	defer release()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := b.Apply(t.Context(), req("first")); err != nil {
			t.Errorf("first call: %v", err)
		}
	})
	awaitHeld(t, h, 1)
	const batch = 8
	errs := make([]error, batch)
	for i := range batch {
		wg.Go(func() { _, errs[i] = b.Apply(t.Context(), req(fmt.Sprint(i))) })
	}
	awaitQueued(t, b, batch)
	releasePipe := h.hold()
	defer releasePipe()
	release()
	awaitHeld(t, h, batch)
	proxy.armed.Store(true)
	releasePipe()
	wg.Wait()
	if proxy.dropped.Load() != 1 {
		t.Fatal("the proxy dropped no reply")
	}
	direct := New(newClient(t, srv.Addr), WithBatching(0))
	for i, err := range errs {
		if err == nil {
			t.Errorf("caller %d: no error although its reply was lost", i)
		}
		peek := req(fmt.Sprint(i))
		peek.Cost = 0
		res, err := direct.Apply(t.Context(), peek)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Windows[0].Remaining; got != 7 {
			t.Errorf("key %d after a lost pipeline: Remaining = %d, want 7 (charged once)", i, got)
		}
	}
}

// TestBatchLeaderGaveUp: when the caller chosen to send a batch has
// already given up, the batch still goes, so the others get their results,
// but without the leader's own command: its caller returned ctx.Err() and
// is not charged.
func TestBatchLeaderGaveUp(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	bt := newBatcher(client, 1)
	l := &bt.lanes[0]
	l.busy.Store(true) // as handoff leaves it for a leader
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	newCall := func(ctx context.Context, key string) *call {
		return &call{ctx: ctx, cmd: redis.NewCmd(ctx, "SET", key, "1"), done: make(chan struct{}, 1)}
	}
	leader, other := newCall(gone, "leader"), newCall(t.Context(), "other")
	leader.state, other.state = leading, taken
	leader.lead = []*call{leader, other}
	bt.sendWithout(l, leader)
	select {
	case <-other.done:
	default:
		t.Fatal("the other caller was not woken")
	}
	if err := other.cmd.Err(); err != nil {
		t.Fatalf("the other caller's command: %v", err)
	}
	if n, err := client.Exists(t.Context(), "leader").Result(); err != nil || n != 0 {
		t.Fatalf("the leader's command ran (EXISTS = %d, %v); its caller had given up", n, err)
	}
	if n, _ := client.Exists(t.Context(), "other").Result(); n != 1 {
		t.Fatal("the other caller's command did not run")
	}
	if l.busy.Load() {
		t.Error("the lane was not handed on")
	}
	// A leader alone in its batch sends nothing and hands the lane on.
	l.busy.Store(true)
	alone := newCall(gone, "alone")
	alone.state, alone.lead = leading, []*call{alone}
	bt.sendWithout(l, alone)
	if n, _ := client.Exists(t.Context(), "alone").Result(); n != 0 || l.busy.Load() {
		t.Errorf("a lone leader that gave up: EXISTS = %d, lane busy %v; want nothing sent and the lane idle", n, l.busy.Load())
	}
}
