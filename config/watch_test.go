package sluiceconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rulesFile returns a config file text with the given [[rules]] blocks.
func rulesFile(rules ...string) string {
	s := "[backend]\ntype = \"memory\"\n"
	for _, r := range rules {
		s += "\n[[rules]]\n" + r + "\n"
	}
	return s
}

// replace writes text to path atomically, as editors and config managers do.
func replace(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// harness is a Service built from a file it watches, with no debounce,
// reporting each reload's result on a channel.
type harness struct {
	path    string
	svc     *Service
	reg     *prometheus.Registry
	results chan error
}

func newHarness(t *testing.T, text string, opts ...Option) *harness {
	t.Helper()
	h := &harness{path: write(t, t.TempDir(), "sluice.toml", text), reg: prometheus.NewRegistry(), results: make(chan error, 1000)}
	opts = append([]Option{WithRegisterer(h.reg), withLogOutput(&lockedBuffer{}), withDebounce(0),
		WithReloadObserver(func(err error) { h.results <- err })}, opts...)
	svc, err := New(h.path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func (h *harness) watch(t *testing.T) *harness {
	t.Helper()
	if err := h.svc.Watch(); err != nil {
		t.Fatal(err)
	}
	return h
}

// until receives reload results until cond holds, and returns the last.
// It fails the test when none comes for ten seconds: a reload that never
// happens.
func (h *harness) until(t *testing.T, what string, cond func(err error) bool) error {
	t.Helper()
	for {
		select {
		case err := <-h.results:
			if cond(err) {
				return err
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reload brought %s", what)
		}
	}
}

func (h *harness) decide(t *testing.T, path, client string) core.Decision {
	t.Helper()
	return decide(t, h.svc, core.Request{Method: "GET", Path: path, RemoteAddr: client + ":1"})
}

func (h *harness) rule(name string) (core.Rule, bool) {
	for _, r := range h.svc.Limiter.Rules() {
		if r.Name == name {
			return r, true
		}
	}
	return core.Rule{}, false
}

func (h *harness) limit() int64 { return h.svc.Limiter.Rules()[0].Limits[0].N }

func TestReloadChangeLimitKeepsUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "api"`+"\nalgorithm = \"sliding_log\"\nwindows = [\"10/h\"]")).watch(t)
	// Traffic runs during the reload.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				h.svc.Limiter.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "198.51.100.9:1"})
			}
		}
	})
	for range 5 {
		h.decide(t, "/", "192.0.2.1")
	}
	replace(t, h.path, rulesFile(`name = "api"`+"\nalgorithm = \"sliding_log\"\nwindows = [\"8/h\"]"))
	if err := h.until(t, "limit 8", func(error) bool { r, _ := h.rule("api"); return r.Limits[0].N == 8 }); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if got, want := h.decide(t, "/", "192.0.2.1").Remaining, int64(2); got != want {
		// 5 used before, 1 now: 8-6 = 2 left, so 3 were left before this one.
		t.Errorf("remaining = %d, want %d", got, want)
	}
}

func TestReloadRemoveAndAddRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]", `name = "login"`+"\npath = \"/login\"\nwindows = [\"5/minute\"]")).watch(t)
	if got := h.decide(t, "/login", "192.0.2.1").Rule; got != "login" {
		t.Fatalf("rule = %q", got)
	}
	replace(t, h.path, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]"))
	h.until(t, "login removed", func(error) bool { _, ok := h.rule("login"); return !ok })
	if got := h.decide(t, "/login", "192.0.2.1").Rule; got != "default" {
		t.Errorf("after removal rule = %q, want default", got)
	}
	replace(t, h.path, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]", `name = "search"`+"\npath = \"/search\"\nwindows = [\"1/minute\"]"))
	h.until(t, "search added", func(error) bool { _, ok := h.rule("search"); return ok })
	h.decide(t, "/search", "192.0.2.1")
	if d := h.decide(t, "/search", "192.0.2.1"); d.Rule != "search" || d.Outcome != core.Denied {
		t.Errorf("second /search: rule %q outcome %v, want search Denied", d.Rule, d.Outcome)
	}
}

func TestReloadBrokenFileKeepsRunningConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "api"`+"\nwindows = [\"10/minute\"]")).watch(t)
	replace(t, h.path, rulesFile(`name = "api"`+"\nwindows = [\"10/x\"]"))
	err := h.until(t, "a failed reload", func(err error) bool { return err != nil })
	if !strings.Contains(err.Error(), `rules[0].windows[0]: "10/x": unknown unit "x"`) {
		t.Errorf("error = %v", err)
	}
	var ce *core.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("a rejected reload's error %v holds no *core.ConfigError", err)
	}
	replace(t, h.path, "this is not [ toml")
	h.until(t, "a second failed reload", func(err error) bool { return err != nil && strings.Contains(err.Error(), "read") })
	if got := h.limit(); got != 10 {
		t.Errorf("limit = %d, want the running 10", got)
	}
	// The running configuration is the one reloads compare with.
	h.svc.mu.Lock()
	defer h.svc.mu.Unlock()
	if got := h.svc.current.Rules[0].Windows[0].Text; got != "10/minute" {
		t.Errorf("running config window = %q", got)
	}
}

func TestReloadRestartOnlyRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["10/minute"]`)).watch(t)
	replace(t, h.path, "[failure]\nmode = \"closed\"\n"+rulesFile(`windows = ["20/minute"]`))
	err := h.until(t, "a rejected reload", func(err error) bool { return err != nil })
	if !errors.Is(err, ErrRestartRequired) || !strings.Contains(err.Error(), "failure") {
		t.Errorf("reload error = %v, want ErrRestartRequired naming failure", err)
	}
	if got := h.limit(); got != 10 {
		t.Errorf("limit = %d, want 10", got)
	}
}

func TestReloadRapidWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`)).watch(t)
	for i := 2; i <= 50; i++ {
		if err := os.WriteFile(h.path, []byte(rulesFile(fmt.Sprintf(`windows = ["%d/minute"]`, i))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.until(t, "the last write", func(error) bool { return h.limit() == 50 })
}

func TestReloadSIGHUP(t *testing.T) {
	// Not parallel: the signal reaches every watcher of the process.
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`)).watch(t)
	h.svc.watcher.fsw.Remove(filepath.Dir(h.path)) // only the signal can trigger now
	if err := os.WriteFile(h.path, []byte(rulesFile(`windows = ["7/minute"]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := h.until(t, "limit 7", func(error) bool { return h.limit() == 7 }); err != nil {
		t.Fatal(err)
	}
	if got := reloadCount(t, h.reg, "success"); got != 0 {
		t.Errorf("%v reloads counted without metrics.enabled", got)
	}
}

func TestReloadGlobalShadow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`)).watch(t)
	replace(t, h.path, "shadow = true\n"+rulesFile(`windows = ["1/minute"]`))
	h.until(t, "shadow on", func(error) bool { return h.svc.Limiter.Rules()[0].Shadow })
	h.decide(t, "/", "192.0.2.1")
	if d := h.decide(t, "/", "192.0.2.1"); d.Outcome != core.ShadowDenied {
		t.Errorf("outcome = %v, want ShadowDenied", d.Outcome)
	}
}

// TestReloadExemptEndpointsKept: exempt endpoints stay exempt across a
// reload of the rules.
func TestReloadExemptEndpointsKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "[exempt]\nendpoints = [\"/metrics\"]\n"+rulesFile(`windows = ["1/minute"]`))
	replace(t, h.path, "[exempt]\nendpoints = [\"/metrics\"]\n"+rulesFile(`windows = ["2/minute"]`))
	if err := h.svc.Reload(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if d := h.decide(t, "/metrics", "192.0.2.1"); d.Outcome != core.Exempt {
			t.Fatalf("/metrics after a reload: %v", d.Outcome)
		}
	}
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`)).watch(t)
	if err := h.svc.Watch(); err == nil || !strings.Contains(err.Error(), "already watching") {
		t.Errorf("second Watch = %v", err)
	}
	if err := h.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := h.svc.Reload(); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	if err := h.svc.Watch(); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
}

func TestWatchWithoutFile(t *testing.T) {
	t.Setenv("SLUICE_RULES_0_WINDOWS", "1/s")
	env, err := New("", WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := env.Watch(); err == nil || !strings.Contains(err.Error(), "no file to watch") {
		t.Errorf("Watch of a Service from the environment = %v", err)
	}
}

// reloadCount reads sluice_config_reloads_total{result} from reg.
func reloadCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sluice_config_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

const metricsOn = "[metrics]\nenabled = true\n"

// TestReloadCounted: with metrics.enabled, every reload attempt, by
// Reload, a file change or SIGHUP, is counted once, as the observers see it.
func TestReloadCounted(t *testing.T) {
	// Not parallel: it sends SIGHUP.
	var failures, successes atomic.Int64
	h := newHarness(t, metricsOn+rulesFile(`windows = ["1/minute"]`), WithReloadObserver(func(err error) {
		if err != nil {
			failures.Add(1)
		} else {
			successes.Add(1)
		}
	}))
	replace(t, h.path, metricsOn+rulesFile(`windows = ["1/x"]`))
	if h.svc.Reload() == nil {
		t.Fatal("a broken file reloaded")
	}
	replace(t, h.path, metricsOn+rulesFile(`windows = ["2/minute"]`))
	if err := h.svc.Reload(); err != nil {
		t.Fatal(err)
	}
	h.watch(t)
	replace(t, h.path, metricsOn+rulesFile(`windows = ["3/minute"]`))
	h.until(t, "limit 3", func(error) bool { return h.limit() == 3 })
	h.svc.watcher.fsw.Remove(filepath.Dir(h.path)) // only the signal can trigger now
	if err := os.WriteFile(h.path, []byte(metricsOn+rulesFile(`windows = ["4/minute"]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.until(t, "limit 4", func(error) bool { return h.limit() == 4 })
	h.svc.Close() // no reload after this
	f, s := reloadCount(t, h.reg, "failure"), reloadCount(t, h.reg, "success")
	if f != 1 || f != float64(failures.Load()) || s != float64(successes.Load()) || s < 3 {
		t.Errorf("sluice_config_reloads_total failure=%v success=%v; observers saw %d and %d", f, s, failures.Load(), successes.Load())
	}
}

// TestReloadObservers: every observer sees every attempt.
func TestReloadObservers(t *testing.T) {
	t.Parallel()
	var seen []error
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`), WithReloadObserver(func(err error) { seen = append(seen, err) }))
	replace(t, h.path, rulesFile(`windows = ["1/x"]`))
	h.svc.Reload()
	replace(t, h.path, rulesFile(`windows = ["2/minute"]`))
	h.svc.Reload()
	if len(seen) != 2 || seen[0] == nil || seen[1] != nil || len(h.results) != 2 {
		t.Errorf("observers saw %v and %d results, want a failure then a success, twice", seen, len(h.results))
	}
}

// lockedBuffer is a strings.Builder safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestReloadLoggedToServiceLogger: with a logging section, reloads are
// logged to its logger.
func TestReloadLoggedToServiceLogger(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	const logging = "[logging]\nlevel = \"info\"\nformat = \"json\"\n"
	h := newHarness(t, logging+rulesFile(`windows = ["1/minute"]`), withLogOutput(&logs))
	replace(t, h.path, logging+rulesFile(`windows = ["1/x"]`))
	h.svc.Reload()
	replace(t, h.path, logging+rulesFile(`windows = ["2/minute"]`))
	h.svc.Reload()
	out := logs.String()
	if !strings.Contains(out, `"level":"ERROR","msg":"sluiceconfig: reload rejected`) || !strings.Contains(out, `"level":"INFO","msg":"sluiceconfig: configuration reloaded"`) {
		t.Errorf("the Service's logger got %q, want a rejected and a successful reload", out)
	}
}

// TestReloadLoggedToDefault: with logging off, a rejected reload is still
// logged, to slog.Default().
func TestReloadLoggedToDefault(t *testing.T) {
	// Not parallel: it replaces slog.Default().
	var logs lockedBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`))
	replace(t, h.path, rulesFile(`windows = ["1/x"]`))
	h.svc.Reload()
	if out := logs.String(); !strings.Contains(out, "level=ERROR msg=\"sluiceconfig: reload rejected") || !strings.Contains(out, `unknown unit \"x\"`) {
		t.Errorf("slog.Default() got %q, want the rejected reload and why", out)
	}
}
