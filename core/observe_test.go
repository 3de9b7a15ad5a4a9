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

// event is what a recorder keeps of a decision.
type event struct {
	Rule    string
	Outcome core.Outcome
	Local   bool
	Cached  bool
}

// recorder is an Observer that keeps what it sees.
type recorder struct {
	mu       sync.Mutex
	events   []event
	backends []string // "backend/op/ok"
	breaker  []string // "backend/state"
}

func (r *recorder) ObserveDecision(_ core.Request, d core.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{d.Rule, d.Outcome, d.Local, d.Cached})
}

func (r *recorder) ObserveBackend(backend, op string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends = append(r.backends, backend+"/"+op+"/"+map[bool]string{true: "ok", false: "err"}[err == nil])
}

func (r *recorder) ObserveBreaker(backend, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.breaker = append(r.breaker, backend+"/"+state)
}

func TestObserverSeesEveryDecision(t *testing.T) {
	rec := &recorder{}
	f := newFlaky(t)
	lim, clk := newLimiter(t, core.WithObserver(rec), core.WithBackend(f), core.WithRules(
		core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(1)}},
		core.Rule{Name: "local", Path: "/local", Limits: []core.Limit{core.PerMinute(1)}, Failure: "local"},
		core.Rule{Name: "status", Path: "/internal/status", Exempt: true},
	), core.WithFailure(core.Failure{BreakerFailures: -1}))
	decide(t, lim, get("/", "192.0.2.1:1"))                // allowed
	decide(t, lim, get("/", "192.0.2.1:1"))                // denied by the backend
	decide(t, lim, get("/", "192.0.2.1:1"))                // denied by the deny cache
	decide(t, lim, get("/internal/status", "192.0.2.1:1")) // exempt
	f.down.Store(true)
	decide(t, lim, get("/", "192.0.2.2:1"))      // fail open
	decide(t, lim, get("/local", "192.0.2.2:1")) // local
	clk.Advance(time.Minute)
	lim.Peek(t.Context(), get("/", "192.0.2.1:1")) // a peek is not a decision
	want := []event{
		{Rule: "api", Outcome: core.Allowed},
		{Rule: "api", Outcome: core.Denied},
		{Rule: "api", Outcome: core.Denied, Cached: true},
		{Rule: "status", Outcome: core.Exempt},
		{Rule: "api", Outcome: core.FailedOpen},
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
	wantCalls := []string{"flaky/apply/ok", "flaky/apply/ok", "flaky/apply/err", "flaky/apply/err", "local/apply/ok", "flaky/apply/err"}
	if strings.Join(rec.backends, " ") != strings.Join(wantCalls, " ") {
		t.Errorf("backend calls %v, want %v", rec.backends, wantCalls)
	}
}

// TestObserverCannotRelease: the Observer gets a Decision whose Release and
// Settle do nothing, so it cannot free the caller's slot.
func TestObserverCannotRelease(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "one", Limits: []core.Limit{core.Concurrent(1)}}), core.WithObserver(releaser{}))
	req := get("/", "192.0.2.1:1")
	held := decide(t, lim, req)
	if d := decide(t, lim, req); d.Outcome != core.Denied {
		t.Errorf("a second request while the first holds the only slot: %v, want denied: the observer released it", d.Outcome)
	}
	held.Release()
	if d := decide(t, lim, req); d.Outcome != core.Allowed {
		t.Errorf("after the caller released: %v, want allowed", d.Outcome)
	}
}

// releaser is an Observer that tries to release and settle what it sees.
type releaser struct{ nopObserver }

func (releaser) ObserveDecision(_ core.Request, d core.Decision) {
	d.Release()
	d.Settle(context.Background(), 0)
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
	var lines []map[string]any
	for _, l := range logLines(t, &buf) {
		if l["outcome"] != nil { // decisions, not the breaker's state changes
			lines = append(lines, l)
		}
	}
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
	failing := core.WithIdentifier(identifierFunc(func(ctx context.Context, _ core.Request) (core.Identity, error) {
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

// identifierFunc adapts a function to a core.Identifier.
type identifierFunc func(ctx context.Context, r core.Request) (core.Identity, error)

func (f identifierFunc) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	return f(ctx, r)
}

// TestObserversAddUp: each WithObserver adds an observer, and every one of
// them sees every decision, backend call and breaker change; a nil one adds
// nothing.
func TestObserversAddUp(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	f := newFlaky(t)
	lim, _ := newLimiter(t, core.WithObserver(a), core.WithObserver(nil), core.WithObserver(b), core.WithBackend(f),
		core.WithDefault(core.PerMinute(1)), core.WithFailure(core.Failure{BreakerFailures: 1, NoDenyCache: true}))
	decide(t, lim, get("/", "192.0.2.1:1"))
	decide(t, lim, get("/", "192.0.2.1:1"))
	f.down.Store(true)
	decide(t, lim, get("/", "192.0.2.1:1"))
	want := []event{{Rule: "default", Outcome: core.Allowed}, {Rule: "default", Outcome: core.Denied}, {Rule: "default", Outcome: core.FailedOpen}}
	for name, rec := range map[string]*recorder{"first": a, "second": b} {
		rec.mu.Lock()
		if got := len(rec.events); got != len(want) {
			t.Errorf("%s observer: %d decisions %+v, want %+v", name, got, rec.events, want)
		} else {
			for i := range want {
				if rec.events[i] != want[i] {
					t.Errorf("%s observer: decision %d = %+v, want %+v", name, i, rec.events[i], want[i])
				}
			}
		}
		if got, want := strings.Join(rec.backends, " "), "flaky/apply/ok flaky/apply/ok flaky/apply/err"; got != want {
			t.Errorf("%s observer: backend calls %q, want %q", name, got, want)
		}
		if got, want := strings.Join(rec.breaker, " "), "flaky/closed flaky/open"; got != want {
			t.Errorf("%s observer: breaker states %q, want %q", name, got, want)
		}
		rec.mu.Unlock()
	}
}
