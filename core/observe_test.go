package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// recorder is an Observer that keeps what it sees.
type recorder struct {
	mu       sync.Mutex
	events   []core.DecisionEvent
	backends []string // "backend/op/ok"
}

func (r *recorder) ObserveDecision(e core.DecisionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) ObserveBackend(backend, op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends = append(r.backends, backend+"/"+op+"/"+map[bool]string{true: "ok", false: "err"}[err == nil])
}

func TestObserverSeesEveryDecision(t *testing.T) {
	rec := &recorder{}
	f := newFlaky(t)
	lim, clk := newLimiter(t, core.WithObserver(rec), core.WithBackend(f), core.WithRules(
		core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(1)}},
		core.Rule{Name: "local", Path: "/local", Limits: []core.Limit{core.PerMinute(1)}, Failure: core.FailModeLocal},
		core.Rule{Name: "status", Path: "/internal/status", Exempt: true},
	))
	decide(t, lim, get("/", "192.0.2.1:1"))                // allowed
	decide(t, lim, get("/", "192.0.2.1:1"))                // denied by the backend
	decide(t, lim, get("/", "192.0.2.1:1"))                // denied by the deny cache
	decide(t, lim, get("/internal/status", "192.0.2.1:1")) // exempt
	f.down.Store(true)
	decide(t, lim, get("/", "192.0.2.2:1"))      // fail open
	decide(t, lim, get("/local", "192.0.2.2:1")) // local
	clk.Advance(time.Minute)
	lim.Peek(t.Context(), get("/", "192.0.2.1:1")) // a peek is not a decision
	want := []core.DecisionEvent{
		{Rule: "api", Outcome: core.Allowed},
		{Rule: "api", Outcome: core.Denied},
		{Rule: "api", Outcome: core.Denied, Cached: true},
		{Rule: "status", Outcome: core.Exempt},
		{Rule: "api", Outcome: core.FailOpen},
		{Rule: "local", Outcome: core.Allowed, Local: true},
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != len(want) {
		t.Fatalf("events %+v, want %+v", rec.events, want)
	}
	for i := range want {
		if rec.events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, rec.events[i], want[i])
		}
	}
	wantCalls := []string{"custom/apply/ok", "custom/apply/ok", "custom/apply/err", "custom/apply/err", "local/apply/ok", "custom/apply/err"}
	if strings.Join(rec.backends, " ") != strings.Join(wantCalls, " ") {
		t.Errorf("backend calls %v, want %v", rec.backends, wantCalls)
	}
}

// logLines parses JSON log output.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestDenialsAreLoggedOncePerPeriod(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	lim, clk := newLimiter(t, core.WithLogger(logger), core.WithDefault(core.PerMinute(1)))
	for range 100 {
		decide(t, lim, get("/x", "192.0.2.1:1"))
	}
	decide(t, lim, get("/x", "192.0.2.9:1")) // another client: allowed, not logged
	decide(t, lim, get("/x", "192.0.2.9:1")) // denied: its own line
	lines := logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("99 denials of one client and 1 of another logged %d lines, want 2: %v", len(lines), lines)
	}
	l := lines[0]
	for k, want := range map[string]any{
		"level": "WARN", "rule": "default", "outcome": "denied", "client": "ip:192.0.2.1",
		"method": "GET", "route": "/x", "limit": 1.0, "remaining": 0.0, "retry_after": 60.0,
	} {
		if l[k] != want {
			t.Errorf("log %s = %v, want %v", k, l[k], want)
		}
	}
	// After the denial lifts, a new flood logs again.
	clk.Advance(61 * time.Second)
	buf.Reset()
	for range 5 {
		decide(t, lim, get("/x", "192.0.2.1:1"))
	}
	if n := len(logLines(t, &buf)); n != 1 {
		t.Errorf("the next flood logged %d lines, want 1", n)
	}
}

// TestShadowDenialsAreLoggedOncePerPeriod: a flood of shadow 429s is one
// INFO line per client and rule per retry period, as real denials are.
func TestShadowDenialsAreLoggedOncePerPeriod(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	lim, clk := newLimiter(t, core.WithLogger(logger), core.WithRules(
		core.Rule{Name: "trial", Limits: []core.Limit{core.PerMinute(1)}, Shadow: true},
	))
	for range 100 {
		if d := decide(t, lim, get("/x", "192.0.2.1:1")); d.Outcome == core.Denied {
			t.Fatal("a shadow rule denied")
		}
	}
	decide(t, lim, get("/x", "192.0.2.9:1")) // another client: allowed, not logged at INFO
	decide(t, lim, get("/x", "192.0.2.9:1")) // shadow-denied: its own line
	lines := logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("99 shadow denials of one client and 1 of another logged %d lines, want 2", len(lines))
	}
	for i, client := range []string{"ip:192.0.2.1", "ip:192.0.2.9"} {
		l := lines[i]
		for k, want := range map[string]any{
			"level": "INFO", "rule": "trial", "outcome": "shadow_denied", "client": client,
			"method": "GET", "route": "/x", "limit": 1.0, "remaining": 0.0, "retry_after": 60.0,
		} {
			if l[k] != want {
				t.Errorf("line %d: %s = %v, want %v", i, k, l[k], want)
			}
		}
	}
	// After the period, a new flood logs again, once.
	clk.Advance(61 * time.Second)
	buf.Reset()
	for range 5 {
		decide(t, lim, get("/x", "192.0.2.1:1"))
	}
	if n := len(logLines(t, &buf)); n != 1 {
		t.Errorf("the next shadow flood logged %d lines, want 1", n)
	}
}

func TestFailuresAreLoggedWithRepeats(t *testing.T) {
	var buf bytes.Buffer
	f := newFlaky(t)
	f.down.Store(true)
	lim, clk := newLimiter(t, core.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))), core.WithBackend(f), core.WithDefault(core.PerMinute(1)))
	for range 50 {
		decide(t, lim, get("/", "192.0.2.1:1"))
	}
	clk.Advance(time.Second)
	decide(t, lim, get("/", "192.0.2.1:1"))
	lines := logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("51 fail-open decisions over 1s logged %d lines, want 2", len(lines))
	}
	if lines[0]["level"] != "ERROR" || lines[0]["outcome"] != "fail_open" || !strings.Contains(lines[0]["error"].(string), "connection refused") {
		t.Errorf("first failure line: %v", lines[0])
	}
	if lines[1]["repeats"] != 49.0 {
		t.Errorf("second line repeats = %v, want 49", lines[1]["repeats"])
	}
}

// TestDecideErrorsAreLogged: an error Decide returns instead of a decision
// is logged once a second with its repeats, and a caller that went away is
// not an error.
func TestDecideErrorsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	errID := errors.New("token service unreachable")
	failing := core.WithIdentifier(core.IdentifierFunc(func(ctx context.Context, _ core.Request) (core.Identity, error) {
		if err := ctx.Err(); err != nil {
			return core.Identity{}, err
		}
		return core.Identity{}, errID
	}))
	lim, clk := newLimiter(t, core.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))), failing, core.WithDefault(core.PerMinute(1)))
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := lim.Decide(gone, get("/x", "192.0.2.1:1")); err == nil {
		t.Fatal("Decide with a canceled context: no error")
	}
	if lines := logLines(t, &buf); len(lines) != 0 {
		t.Fatalf("a caller that went away was logged: %v", lines)
	}
	for range 10 {
		if _, err := lim.Decide(t.Context(), get("/x", "192.0.2.1:1")); !errors.Is(err, errID) {
			t.Fatalf("Decide error = %v, want %v", err, errID)
		}
	}
	clk.Advance(time.Second)
	lim.Decide(t.Context(), get("/x", "192.0.2.1:1"))
	lines := logLines(t, &buf)
	if len(lines) != 2 || lines[0]["level"] != "ERROR" || lines[0]["path"] != "/x" || !strings.Contains(lines[0]["error"].(string), errID.Error()) {
		t.Fatalf("11 failed decisions over 1s logged %v, want 2 lines with the error and path", lines)
	}
	if lines[1]["repeats"] != 9.0 {
		t.Errorf("second line repeats = %v, want 9", lines[1]["repeats"])
	}
}

func TestLogKeyHash(t *testing.T) {
	var buf bytes.Buffer
	lim, _ := newLimiter(t, core.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))),
		core.WithLogKeyHash([]byte("secret")), core.WithDefault(core.PerMinute(0)))
	decide(t, lim, get("/", "192.0.2.1:1"))
	out := buf.String()
	if strings.Contains(out, "192.0.2.1") {
		t.Errorf("hashed log still names the client: %s", out)
	}
	lines := logLines(t, &buf)
	if c, _ := lines[0]["client"].(string); !strings.HasPrefix(c, "ip:") || len(c) != len("ip:")+16 {
		t.Errorf("client = %q, want ip: and 16 hex digits", c)
	}
}

func TestOnDecisionHook(t *testing.T) {
	var mu sync.Mutex
	var got []string
	lim, err := core.New(core.WithDefault(core.PerMinute(2)), core.WithOnDecision(func(r core.Request, d core.Decision) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Path+" "+d.Outcome.String())
	}, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		decide(t, lim, get(p, "192.0.2.1:1"))
	}
	lim.Close() // drains the queue
	mu.Lock()
	defer mu.Unlock()
	if want := "/a allowed,/b allowed,/c denied"; strings.Join(got, ",") != want {
		t.Errorf("hook saw %q, want %q", strings.Join(got, ","), want)
	}
}

func TestOnDecisionHookNeverBlocks(t *testing.T) {
	var buf bytes.Buffer
	release := make(chan struct{})
	lim, err := core.New(core.WithDefault(core.PerMinute(1000)),
		core.WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))),
		core.WithOnDecision(func(core.Request, core.Decision) { <-release }, 4))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 { // the hook is stuck; decisions must not wait for it
			if _, err := lim.Decide(t.Context(), get("/", "192.0.2.1:1")); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("decisions blocked on a stuck hook")
	}
	close(release)
	lim.Close()
	if !strings.Contains(buf.String(), "falling behind") {
		t.Errorf("dropped events were not logged: %s", buf.String())
	}
}

// TestLimiterLoggerAndObserver: the accessors return what the options set,
// and nil when none was.
func TestLimiterLoggerAndObserver(t *testing.T) {
	bare, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)))
	if bare.Logger() != nil || bare.Observer() != nil {
		t.Errorf("a Limiter without options: Logger %v, Observer %v; want nil, nil", bare.Logger(), bare.Observer())
	}
	logger, rec := slog.New(slog.DiscardHandler), &recorder{}
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)), core.WithLogger(logger), core.WithObserver(rec))
	if lim.Logger() != logger || lim.Observer() != core.Observer(rec) {
		t.Errorf("Logger %p, Observer %v; want %p, %v", lim.Logger(), lim.Observer(), logger, rec)
	}
	onlyLog, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)), core.WithLogger(logger))
	if onlyLog.Observer() != nil {
		t.Errorf("Observer = %v with only a logger, want nil", onlyLog.Observer())
	}
}
