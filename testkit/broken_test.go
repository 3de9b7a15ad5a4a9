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
		fail: each("key-isolation"),
		pass: append(each("reset"), sequenceTests...),
	},
	{
		name: "peek-charges",
		new:  func(t *testing.T) backend.Backend { return peekCharges{newMemory(t)} },
		fail: each("peek"),
		pass: append(each("cost"), "concurrency/release"),
	},
	{
		name: "ignores-cost",
		new:  func(t *testing.T) backend.Backend { return ignoresCost{newMemory(t)} },
		fail: each("cost"),
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
}

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
