package sluiceconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type harness struct {
	path    string
	svc     *Service
	w       *Watcher
	reloads atomic.Int64
	fails   atomic.Int64
	lastErr atomic.Value
}

func newHarness(t *testing.T, text string) *harness {
	t.Helper()
	h := &harness{path: write(t, t.TempDir(), "sluice.toml", text)}
	svc, err := New(h.path, WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	w, err := Watch(svc.Limiter, h.path, svc.Config,
		WithDebounce(20*time.Millisecond),
		WithWatchLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		WithReloadHook(func(err error) {
			if err != nil {
				h.fails.Add(1)
				h.lastErr.Store(err.Error())
				return
			}
			h.reloads.Add(1)
		}))
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	h.w = w
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
		svc.Close()
	})
	return h
}

func (h *harness) decide(t *testing.T, path, client string) core.Decision {
	t.Helper()
	d, err := h.svc.Limiter.Decide(t.Context(), core.Request{Method: "GET", Path: path, RemoteAddr: client + ":1"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (h *harness) ruleNames() map[string]core.Rule {
	m := map[string]core.Rule{}
	for _, r := range h.svc.Limiter.Rules() {
		m[r.Name] = r
	}
	return m
}

func TestReloadChangeLimitKeepsUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "api"`+"\nalgorithm = \"sliding_log\"\nwindows = [\"10/h\"]"))
	// Traffic runs during the reload.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				h.svc.Limiter.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "198.51.100.9:1"})
			}
		}
	}()
	for range 5 {
		h.decide(t, "/", "192.0.2.1")
	}
	replace(t, h.path, rulesFile(`name = "api"`+"\nalgorithm = \"sliding_log\"\nwindows = [\"8/h\"]"))
	waitFor(t, "limit 8", func() bool { return h.ruleNames()["api"].Limits[0].N == 8 })
	close(stop)
	wg.Wait()
	if got, want := h.decide(t, "/", "192.0.2.1").Remaining, int64(2); got != want {
		// 5 used before, 1 now: 8-6 = 2 left, so 3 were left before this one.
		t.Errorf("remaining = %d, want %d", got, want)
	}
	if h.fails.Load() != 0 {
		t.Errorf("failed reloads: %v", h.lastErr.Load())
	}
}

func TestReloadRemoveAndAddRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]", `name = "login"`+"\npath = \"/login\"\nwindows = [\"5/minute\"]"))
	if got := h.decide(t, "/login", "192.0.2.1").Rule; got != "login" {
		t.Fatalf("rule = %q", got)
	}
	replace(t, h.path, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]"))
	waitFor(t, "login removed", func() bool { _, ok := h.ruleNames()["login"]; return !ok })
	if got := h.decide(t, "/login", "192.0.2.1").Rule; got != "default" {
		t.Errorf("after removal rule = %q, want default", got)
	}
	replace(t, h.path, rulesFile(`name = "default"`+"\nwindows = [\"100/minute\"]", `name = "search"`+"\npath = \"/search\"\nwindows = [\"1/minute\"]"))
	waitFor(t, "search added", func() bool { _, ok := h.ruleNames()["search"]; return ok })
	h.decide(t, "/search", "192.0.2.1")
	if d := h.decide(t, "/search", "192.0.2.1"); d.Rule != "search" || d.Outcome != core.Denied {
		t.Errorf("second /search: rule %q outcome %v, want search Denied", d.Rule, d.Outcome)
	}
}

func TestReloadBrokenFileKeepsRunningConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`name = "api"`+"\nwindows = [\"10/minute\"]"))
	replace(t, h.path, rulesFile(`name = "api"`+"\nwindows = [\"10/x\"]"))
	waitFor(t, "failed reload", func() bool { return h.fails.Load() > 0 })
	if got := h.lastErr.Load().(string); !contains(got, `rules[0].windows[0]: "10/x": unknown unit "x"`) {
		t.Errorf("error = %s", got)
	}
	replace(t, h.path, "this is not [ toml")
	waitFor(t, "second failed reload", func() bool { return h.fails.Load() > 1 })
	if got := h.ruleNames()["api"].Limits[0].N; got != 10 {
		t.Errorf("limit = %d, want the running 10", got)
	}
	if got := h.w.Config().Rules[0].Windows[0].Text; got != "10/minute" {
		t.Errorf("running config window = %q", got)
	}
}

func TestReloadRestartOnlyRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["10/minute"]`))
	text := "[failure]\nmode = \"closed\"\n" + rulesFile(`windows = ["20/minute"]`)
	replace(t, h.path, text)
	waitFor(t, "rejected reload", func() bool { return h.fails.Load() > 0 })
	err := h.w.Reload()
	if !errors.Is(err, ErrRestartRequired) || !contains(err.Error(), "failure") {
		t.Errorf("Reload = %v, want ErrRestartRequired naming failure", err)
	}
	if got := h.svc.Limiter.Rules()[0].Limits[0].N; got != 10 {
		t.Errorf("limit = %d, want 10", got)
	}
}

func TestReloadRapidWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`))
	for i := 2; i <= 50; i++ {
		if err := os.WriteFile(h.path, []byte(rulesFile(fmt.Sprintf(`windows = ["%d/minute"]`, i))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "final state", func() bool { return h.svc.Limiter.Rules()[0].Limits[0].N == 50 })
}

func TestReloadSIGHUP(t *testing.T) {
	// Not parallel: the signal reaches every watcher of the process.
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`))
	h.w.fsw.Remove(filepath.Dir(h.path)) // only the signal can trigger now
	if err := os.WriteFile(h.path, []byte(rulesFile(`windows = ["7/minute"]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGHUP reload", func() bool { return h.svc.Limiter.Rules()[0].Limits[0].N == 7 })
}

func TestReloadGlobalShadow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`))
	replace(t, h.path, "shadow = true\n"+rulesFile(`windows = ["1/minute"]`))
	waitFor(t, "shadow on", func() bool { return h.svc.Limiter.Rules()[0].Shadow })
	h.decide(t, "/", "192.0.2.1")
	if d := h.decide(t, "/", "192.0.2.1"); d.Outcome != core.ShadowDenied {
		t.Errorf("outcome = %v, want ShadowDenied", d.Outcome)
	}
}

func TestWatcherCloseIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, rulesFile(`windows = ["1/minute"]`))
	if err := h.w.Close(); err != nil {
		t.Fatal(err)
	}
	h.w.Close()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestReloadCountedInMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	path := write(t, t.TempDir(), "sluice.toml", "[metrics]\nenabled = true\n"+rulesFile(`windows = ["1/minute"]`))
	svc, err := New(path, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	w, err := Watch(svc.Limiter, path, svc.Config, WithDebounce(10*time.Millisecond),
		WithWatchLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	replace(t, path, "[metrics]\nenabled = true\n"+rulesFile(`windows = ["1/x"]`))
	waitFor(t, "failure counted", func() bool { return reloadCount(t, reg, "failure") == 1 })
	replace(t, path, "[metrics]\nenabled = true\n"+rulesFile(`windows = ["2/minute"]`))
	waitFor(t, "success counted", func() bool { return reloadCount(t, reg, "success") == 1 })
}

// TestBreakerStateInMetrics builds a Service whose Redis is unreachable with
// the breaker and metrics enabled, and checks that the breaker's opening
// reaches sluice_circuit_breaker_state{backend="redis"}.
func TestBreakerStateInMetrics(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	path := write(t, t.TempDir(), "sluice.toml", `[metrics]
enabled = true
[backend]
type = "redis"
[backend.redis]
addr = "`+addr+`"
[failure.breaker]
enabled = true
consecutive_failures = 2
[[rules]]
windows = ["10/minute"]
`)
	reg := prometheus.NewRegistry()
	svc, err := New(path, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	state := func() float64 {
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
	for range 3 {
		d, _ := svc.Limiter.Decide(context.Background(), core.Request{Method: "GET", Path: "/api/x", RemoteAddr: "192.0.2.1:1"})
		if d.Outcome != core.FailedOpen {
			t.Fatalf("outcome %v with Redis unreachable, want fail-open", d.Outcome)
		}
	}
	if got := state(); got != 2 {
		t.Fatalf("sluice_circuit_breaker_state{backend=\"redis\"} = %v after 3 failures, want 2 (open)", got)
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

// lockedBuffer is a bytes.Buffer safe for concurrent use.
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

const metricsOn = "[metrics]\nenabled = true\n"

// manualReloads builds a Service from text and watches its file with a
// debounce long enough that only Reload and SIGHUP reload.
func manualReloads(t *testing.T, text string, bopts []BuildOption, wopts ...WatchOption) (string, *Service, *Watcher) {
	t.Helper()
	path := write(t, t.TempDir(), "sluice.toml", text)
	svc, err := New(path, bopts...)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Watch(svc.Limiter, path, svc.Config, append([]WatchOption{WithDebounce(time.Hour)}, wopts...)...)
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		svc.Close()
	})
	return path, svc, w
}

// TestReloadCountedWithoutHook: a Service with metrics.enabled counts its
// watcher's reloads in sluice_config_reloads_total with no hook passed.
func TestReloadCountedWithoutHook(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	path, _, w := manualReloads(t, metricsOn+rulesFile(`windows = ["1/minute"]`), []BuildOption{WithRegisterer(reg)})
	replace(t, path, metricsOn+rulesFile(`windows = ["1/x"]`))
	if w.Reload() == nil {
		t.Fatal("a broken file reloaded")
	}
	replace(t, path, metricsOn+rulesFile(`windows = ["2/minute"]`))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if f, s := reloadCount(t, reg, "failure"), reloadCount(t, reg, "success"); f != 1 || s != 2 {
		t.Errorf("sluice_config_reloads_total failure=%v success=%v, want 1 and 2", f, s)
	}
}

// TestReloadHookAndCount: a user hook sees every attempt, and the
// Service's metrics count each one once, hook or not.
func TestReloadHookAndCount(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	path := write(t, t.TempDir(), "sluice.toml", metricsOn+rulesFile(`windows = ["1/minute"]`))
	svc, err := New(path, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var seen []error
	w, err := Watch(svc.Limiter, path, svc.Config, WithDebounce(time.Hour), WithReloadHook(func(err error) { seen = append(seen, err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	replace(t, path, metricsOn+rulesFile(`windows = ["1/x"]`))
	w.Reload()
	replace(t, path, metricsOn+rulesFile(`windows = ["2/minute"]`))
	w.Reload()
	if f, s := reloadCount(t, reg, "failure"), reloadCount(t, reg, "success"); f != 1 || s != 1 {
		t.Errorf("sluice_config_reloads_total failure=%v success=%v, want 1 and 1", f, s)
	}
	if len(seen) != 2 || seen[0] == nil || seen[1] != nil {
		t.Errorf("hook saw %v, want a failure then a success", seen)
	}
}

// TestReloadSIGHUPCounted: a reload by SIGHUP is counted without a hook.
func TestReloadSIGHUPCounted(t *testing.T) {
	// Not parallel: the signal reaches every watcher of the process.
	reg := prometheus.NewRegistry()
	path, svc, _ := manualReloads(t, metricsOn+rulesFile(`windows = ["1/minute"]`), []BuildOption{WithRegisterer(reg)})
	replace(t, path, metricsOn+rulesFile(`windows = ["7/minute"]`))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGHUP reload counted", func() bool { return reloadCount(t, reg, "success") == 1 })
	if got := svc.Limiter.Rules()[0].Limits[0].N; got != 7 {
		t.Errorf("limit = %d after SIGHUP, want 7", got)
	}
}

// TestWatcherLogsToServiceLogger: with no WithWatchLogger, reloads are
// logged to the logger the Service logs to, the one passed with
// WithCoreOptions(core.WithLogger) or else the file's logging section.
func TestWatcherLogsToServiceLogger(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	path, _, w := manualReloads(t, rulesFile(`windows = ["1/minute"]`),
		[]BuildOption{WithCoreOptions(core.WithLogger(logger))})
	replace(t, path, rulesFile(`windows = ["1/x"]`))
	w.Reload()
	replace(t, path, rulesFile(`windows = ["2/minute"]`))
	w.Reload()
	out := buf.String()
	if !contains(out, `"level":"ERROR","msg":"sluice: config reload rejected`) || !contains(out, `"level":"INFO","msg":"sluice: config reloaded"`) {
		t.Errorf("the Service's logger got %q, want a rejected and a successful reload", out)
	}

	_, svc, w := manualReloads(t, "[logging]\nlevel = \"error\"\n"+rulesFile(`windows = ["1/minute"]`), nil)
	if l := svc.Limiter.Logger(); l == nil || w.logger != l {
		t.Errorf("watcher logger %p, want the logging section's %p", w.logger, l)
	}

	var mine lockedBuffer
	_, _, w = manualReloads(t, rulesFile(`windows = ["1/minute"]`),
		[]BuildOption{WithCoreOptions(core.WithLogger(logger))}, WithWatchLogger(slog.New(slog.NewTextHandler(&mine, nil))))
	before := buf.String()
	w.Reload()
	if !contains(mine.String(), "sluice: config reloaded") || buf.String() != before {
		t.Errorf("WithWatchLogger: it got %q, the Service's logger got %q more", mine.String(), strings.TrimPrefix(buf.String(), before))
	}
}

// TestWatcherLogsNothingByDefault: with no logger anywhere, a reload logs
// nothing, not even to slog.Default().
func TestWatcherLogsNothingByDefault(t *testing.T) {
	// Not parallel: it replaces slog.Default().
	var buf lockedBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	path, _, w := manualReloads(t, rulesFile(`windows = ["1/minute"]`), nil)
	replace(t, path, rulesFile(`windows = ["1/x"]`))
	w.Reload()
	replace(t, path, rulesFile(`windows = ["2/minute"]`))
	w.Reload()
	if out := buf.String(); out != "" {
		t.Errorf("a watcher with no logger logged to slog.Default(): %q", out)
	}
}
