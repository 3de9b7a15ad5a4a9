package testkit_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit"
)

// The tests in this file prove that RunBackendSuite can fail: each broken
// backend below breaks one rule of the backend contract, and the suite must
// report it in the subtests that check that rule, and only there.
//
// RunBackendSuite takes a real *testing.T, so a failing run cannot be
// observed from inside the same test. TestBrokenBackends re-executes this
// test binary once per broken backend, running only TestBrokenHelper with
// brokenEnv naming the backend, and reads the verdicts from the -test.v
// output.

// brokenEnv names the broken backend TestBrokenHelper runs the suite on.
const brokenEnv = "SLUICE_TESTKIT_BROKEN_BACKEND"

var algorithms = []string{"token_bucket", "sliding_log", "sliding_window", "fixed_window", "concurrency"}

// each returns "<algorithm>/<test>" for every algorithm, or for the given
// ones.
func each(test string, algs ...string) []string {
	if len(algs) == 0 {
		algs = algorithms
	}
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = a + "/" + test
	}
	return names
}

// sequenceTests are the subtests that check the exact sequences of
// sequences.go.
var sequenceTests = []string{
	"token_bucket/sequence/burst",
	"token_bucket/sequence/throttle",
	"fixed_window/sequence/aligned",
	"sliding_window/sequence/weighted",
	"sliding_log/sequence/exact",
	"concurrency/sequence/leases",
}

// multiWindowAlgorithms are the algorithms that take more than one window.
var multiWindowAlgorithms = algorithms[:4]

// brokenBackends are the broken backends, the subtests each must fail and
// some that it must still pass, showing that the failures are specific.
var brokenBackends = []struct {
	name string
	new  func(t *testing.T) backend.Backend
	fail []string
	pass []string
}{
	{
		name: "non-atomic-multi-window",
		new: func(t *testing.T) backend.Backend {
			var b nonAtomic
			for i := range b.stores {
				b.stores[i] = newMemory(t)
			}
			return &b
		},
		fail: each("multi-window-atomicity", multiWindowAlgorithms...),
		pass: append(each("cost"), sequenceTests...),
	},
	{
		name: "racy-check-then-act",
		new:  func(t *testing.T) backend.Backend { return racy{newMemory(t)} },
		fail: each("concurrent-exactness"),
		pass: append(each("cost"), sequenceTests...),
	},
	{
		name: "key-truncation",
		new:  func(t *testing.T) backend.Backend { return truncating{newMemory(t)} },
		fail: append(each("key-isolation"), each("keyed/take")...),
		pass: append(each("reset"), sequenceTests...),
	},
	{
		name: "peek-charges",
		new:  func(t *testing.T) backend.Backend { return peekCharges{newMemory(t)} },
		fail: append(each("peek"), each("keyed/take")...),
		pass: append(each("cost"), "concurrency/release"),
	},
	{
		name: "ignores-cost",
		new:  func(t *testing.T) backend.Backend { return ignoresCost{newMemory(t)} },
		fail: append(each("cost"), each("keyed/wait", multiWindowAlgorithms...)...),
		pass: append(each("zero-limit"), "concurrency/release"),
	},
	{
		// Only tests that never depend on time can be expected to pass
		// with the real clock.
		name: "wrong-clock",
		new:  func(t *testing.T) backend.Backend { return wrongClock{newMemory(t)} },
		fail: sequenceTests,
		pass: each("zero-limit"),
	},
	{
		name: "reset-no-op",
		new:  func(t *testing.T) backend.Backend { return noReset{newMemory(t)} },
		fail: each("reset"),
		pass: append(each("cost"), sequenceTests...),
	},
	{
		name: "settle-no-op",
		new:  func(t *testing.T) backend.Backend { return noSettle{newMemory(t)} },
		fail: append(append(each("settle/refund", settleAlgorithms...), each("settle/extra", multiWindowAlgorithms...)...),
			append(each("settle/multi-window", settleAlgorithms...), each("keyed/settle", settleAlgorithms...)...)...),
		pass: append([]string{"concurrency/settle", "sliding_log/settle/refund-keeps-estimate"}, sequenceTests...),
	},
	{
		name: "refund-as-if-latest",
		new:  func(t *testing.T) backend.Backend { return asIfLatest{newMemory(t)} },
		fail: append(each("settle/refund-after-others", settleAlgorithms...), "token_bucket/settle/out-of-order"),
		pass: each("settle/refund", settleAlgorithms...),
	},
	{
		name: "refund-forgets-earlier-refunds",
		new:  func(t *testing.T) backend.Backend { return forgetsRefunds{newMemory(t)} },
		fail: []string{"token_bucket/settle/out-of-order"},
		pass: []string{"token_bucket/settle/refund", "token_bucket/settle/refund-after-others"},
	},
	{
		name: "extra-through-apply",
		new:  func(t *testing.T) backend.Backend { return extraByApply{newMemory(t)} },
		fail: each("settle/extra", multiWindowAlgorithms...),
		pass: each("settle/refund", settleAlgorithms...),
	},
	{
		name: "settle-first-window-only",
		new:  func(t *testing.T) backend.Backend { return settleFirstWindow{newMemory(t)} },
		fail: each("settle/multi-window", settleAlgorithms...),
		pass: each("settle/refund", settleAlgorithms...),
	},
	{
		name: "settle-releases",
		new:  func(t *testing.T) backend.Backend { return settleReleases{newMemory(t)} },
		fail: []string{"concurrency/settle"},
		pass: []string{"concurrency/release", "token_bucket/settle/refund"},
	},
	{
		name: "refund-resets",
		new:  func(t *testing.T) backend.Backend { return refundResets{newMemory(t)} },
		fail: []string{"sliding_log/settle/refund-keeps-estimate"},
		pass: each("settle/extra", multiWindowAlgorithms...),
	},
	{
		name: "settle-read-modify-write",
		new:  func(t *testing.T) backend.Backend { return rmwSettle{newMemory(t)} },
		fail: []string{"fixed_window/settle/concurrent"},
		pass: []string{"fixed_window/settle/refund"},
	},
}

// settleAlgorithms are the algorithms whose refunds give units back.
var settleAlgorithms = []string{"token_bucket", "fixed_window", "sliding_window"}

func newMemory(t *testing.T) *memory.Backend {
	b := memory.New()
	t.Cleanup(func() { b.Close() })
	return b
}

// TestBrokenHelper runs the suite on the broken backend named by brokenEnv.
// It does nothing when brokenEnv is unset: it is meant to run only as
// TestBrokenBackends's subprocess.
func TestBrokenHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		return
	}
	for _, bb := range brokenBackends {
		if bb.name == name {
			testkit.RunBackendSuite(t, bb.new, testkit.WithTimeout(30*time.Second))
			return
		}
	}
	t.Fatalf("%s=%q: no such broken backend", brokenEnv, name)
}

// verdictLine matches a subtest's verdict in -test.v output.
var verdictLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): TestBrokenHelper/(\S+) \(`)

func TestBrokenBackends(t *testing.T) {
	for _, bb := range brokenBackends {
		t.Run(bb.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0],
				"-test.run=^TestBrokenHelper$", "-test.v", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), brokenEnv+"="+bb.name)
			out, err := cmd.CombinedOutput()
			output := string(out)

			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Errorf("the suite passed a backend that is %s; it must fail", bb.name)
			case !errors.As(err, &exit):
				t.Fatalf("running %s: %v", os.Args[0], err)
			}
			if strings.Contains(output, "panic: ") {
				t.Errorf("the subprocess panicked or timed out instead of failing cleanly")
			}

			verdicts := map[string]string{}
			for _, m := range verdictLine.FindAllStringSubmatch(output, -1) {
				verdicts[m[2]] = m[1]
			}
			for _, name := range bb.fail {
				if got := verdicts[name]; got != "FAIL" {
					t.Errorf("subtest %s: %s, want FAIL", name, verdictOf(got))
				}
			}
			for _, name := range bb.pass {
				if got := verdicts[name]; got != "PASS" {
					t.Errorf("subtest %s: %s, want PASS (the failure must be specific)", name, verdictOf(got))
				}
			}
			if t.Failed() {
				t.Logf("subprocess output:\n%s", output)
			}
		})
	}
}

func verdictOf(v string) string {
	if v == "" {
		return "did not run"
	}
	return v
}

// nonAtomic applies each window of a request to a store of its own, one
// single-window call per window, so a window that admits the cost is charged
// even when another window denies it.
type nonAtomic struct {
	stores [backend.MaxWindows]backend.Backend
}

var _ backend.Backend = (*nonAtomic)(nil)

func (b *nonAtomic) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if n := len(req.Windows); n == 0 || n > backend.MaxWindows {
		return b.stores[0].Apply(ctx, req) // let the store reject it
	}
	res := backend.Result{Allowed: true}
	for i, w := range req.Windows {
		single := req
		single.Windows = []backend.Window{w}
		r, err := b.stores[i].Apply(ctx, single)
		if err != nil {
			return backend.Result{}, err
		}
		res.Allowed = res.Allowed && r.Allowed
		res.Delay = max(res.Delay, r.Delay)
		res.Windows[i] = r.Windows[0]
	}
	return res, nil
}

func (b *nonAtomic) Release(ctx context.Context, req backend.Request) error {
	return b.stores[0].Release(ctx, req)
}

func (b *nonAtomic) Settle(ctx context.Context, s backend.Settlement) error {
	if n := len(s.Windows); n == 0 || n > backend.MaxWindows {
		return b.stores[0].Settle(ctx, s) // let the store reject it
	}
	for i, st := range b.stores[:len(s.Windows)] {
		one := s
		one.Windows = s.Windows[i : i+1]
		one.Charge = [backend.MaxWindows]backend.WindowResult{s.Charge[i]}
		if err := st.Settle(ctx, one); err != nil {
			return err
		}
	}
	return nil
}

func (b *nonAtomic) Reset(ctx context.Context, namespace, key string) error {
	for _, s := range b.stores {
		if err := s.Reset(ctx, namespace, key); err != nil {
			return err
		}
	}
	return nil
}

// racy decides from a peek and charges in a separate call: when the peek
// shows room for the whole cost in every window, it admits the request
// whatever the later charge says, as a read-then-write store would. Run
// alone it behaves exactly like its store; concurrent requests all see the
// same room and are all admitted.
type racy struct{ backend.Backend }

func (b racy) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if req.Cost == 0 {
		return b.Backend.Apply(ctx, req)
	}
	peek := req
	peek.Cost = 0
	p, err := b.Backend.Apply(ctx, peek)
	if err != nil {
		return backend.Result{}, err
	}
	room := p.Allowed
	for i := range req.Windows {
		room = room && p.Windows[i].Remaining >= req.Cost
	}
	if !room {
		return b.Backend.Apply(ctx, req)
	}
	runtime.Gosched() // widen the gap between check and act
	res, err := b.Backend.Apply(ctx, req)
	res.Allowed = true
	return res, err
}

// truncating keeps only the first 8 bytes of every key, so long keys that
// share a prefix share state.
type truncating struct{ backend.Backend }

func truncate(key string) string { return key[:min(len(key), 8)] }

func (b truncating) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	req.Key = truncate(req.Key)
	return b.Backend.Apply(ctx, req)
}

func (b truncating) Release(ctx context.Context, req backend.Request) error {
	req.Key = truncate(req.Key)
	return b.Backend.Release(ctx, req)
}

func (b truncating) Settle(ctx context.Context, s backend.Settlement) error {
	s.Key = truncate(s.Key)
	return b.Backend.Settle(ctx, s)
}

func (b truncating) Reset(ctx context.Context, namespace, key string) error {
	return b.Backend.Reset(ctx, namespace, truncate(key))
}

// peekCharges treats a peek (cost 0) as a cost of 1.
type peekCharges struct{ backend.Backend }

func (b peekCharges) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if req.Cost == 0 {
		req.Cost = 1
	}
	return b.Backend.Apply(ctx, req)
}

// ignoresCost charges 1 for every request that is not a peek.
type ignoresCost struct{ backend.Backend }

func (b ignoresCost) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	if req.Cost > 0 {
		req.Cost = 1
	}
	return b.Backend.Apply(ctx, req)
}

// wrongClock reads the wall clock instead of Request.Now.
type wrongClock struct{ backend.Backend }

func (b wrongClock) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	req.Now = time.Now()
	return b.Backend.Apply(ctx, req)
}

// noReset forgets nothing on Reset.
type noReset struct{ backend.Backend }

func (noReset) Reset(context.Context, string, string) error { return nil }

// noSettle never corrects a charge.
type noSettle struct{ backend.Backend }

func (noSettle) Settle(context.Context, backend.Settlement) error { return nil }

// asIfLatest refunds as if the charge were the latest one: it takes the
// windows' state now for the charge's, so a refund gives back units that
// later charges hold.
type asIfLatest struct{ backend.Backend }

func (b asIfLatest) Settle(ctx context.Context, s backend.Settlement) error {
	if s.Cost < s.Charged {
		peek := s.Request
		peek.Cost = 0
		r, err := b.Backend.Apply(ctx, peek)
		if err != nil {
			return err
		}
		s.Elapsed, s.Charge = 0, r.Windows
	}
	return b.Backend.Settle(ctx, s)
}

// forgetsRefunds takes the token bucket's refund total now for the
// charge's, as if no refund had moved the charge's units since.
type forgetsRefunds struct{ backend.Backend }

func (b forgetsRefunds) Settle(ctx context.Context, s backend.Settlement) error {
	peek := s.Request
	peek.Cost = 0
	r, err := b.Backend.Apply(ctx, peek)
	if err != nil {
		return err
	}
	for i := range s.Windows {
		s.Charge[i].Refunded = r.Windows[i].Refunded
	}
	return b.Backend.Settle(ctx, s)
}

// extraByApply charges an extra as a request, which a window at its limit
// denies.
type extraByApply struct{ backend.Backend }

func (b extraByApply) Settle(ctx context.Context, s backend.Settlement) error {
	if s.Cost <= s.Charged {
		return b.Backend.Settle(ctx, s)
	}
	req := s.Request
	req.Cost = s.Cost - s.Charged
	_, err := b.Backend.Apply(ctx, req)
	return err
}

// settleFirstWindow corrects only the first window.
type settleFirstWindow struct{ backend.Backend }

func (b settleFirstWindow) Settle(ctx context.Context, s backend.Settlement) error {
	s.Windows = s.Windows[:min(1, len(s.Windows))]
	return b.Backend.Settle(ctx, s)
}

// settleReleases treats a concurrency settlement as a release.
type settleReleases struct{ backend.Backend }

func (b settleReleases) Settle(ctx context.Context, s backend.Settlement) error {
	if s.Algorithm == backend.Concurrency {
		return b.Backend.Release(ctx, s.Request)
	}
	return b.Backend.Settle(ctx, s)
}

// refundResets forgets the key on a refund.
type refundResets struct{ backend.Backend }

func (b refundResets) Settle(ctx context.Context, s backend.Settlement) error {
	if s.Cost < s.Charged {
		return b.Backend.Reset(ctx, s.Namespace, s.Key)
	}
	return b.Backend.Settle(ctx, s)
}

// rmwSettle refunds a fixed window by reading its count, forgetting the
// key and charging the new count: right alone, but concurrent settlements
// overwrite each other.
type rmwSettle struct{ backend.Backend }

func (b rmwSettle) Settle(ctx context.Context, s backend.Settlement) error {
	if s.Algorithm != backend.FixedWindow || s.Cost >= s.Charged {
		return b.Backend.Settle(ctx, s)
	}
	peek := s.Request
	peek.Cost = 0
	r, err := b.Backend.Apply(ctx, peek)
	if err != nil {
		return err
	}
	count := s.Windows[0].Limit - r.Windows[0].Remaining - (s.Charged - s.Cost)
	runtime.Gosched() // widen the gap between read and write
	if err := b.Backend.Reset(ctx, s.Namespace, s.Key); err != nil || count <= 0 {
		return err
	}
	req := s.Request
	req.Cost = count
	_, err = b.Backend.Apply(ctx, req)
	return err
}
