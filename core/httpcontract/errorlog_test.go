package httpcontract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// errIdentify is the identifier's error in these tests: internal text that
// must reach the log and never the client.
var errIdentify = errors.New("token cache at 10.9.8.7 unreachable")

// failingIdentifier makes every Decide fail.
var failingIdentifier = core.WithIdentifier(identifierFunc(func(context.Context, core.Request) (core.Identity, error) {
	return core.Identity{}, errIdentify
}))

// identifierFunc adapts a function to a core.Identifier.
type identifierFunc func(ctx context.Context, r core.Request) (core.Identity, error)

func (f identifierFunc) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	return f(ctx, r)
}

// logBuffer is a JSON slog handler's output, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// records returns every line logged, decoded.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// serveUser sends GET /users/7 through m wrapped around a mux that routes
// "GET /users/{id}", and returns the response.
func serveUser(t *testing.T, lim *core.Limiter, opts ...Option) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := New(lim, opts...).Handler(mux)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/users/7", nil))
	resp := w.Result()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if body := w.Body.String(); strings.Contains(body, errIdentify.Error()) || strings.Contains(body, errBackend.Error()) {
		t.Fatalf("the 503 body carries the internal error: %s", body)
	}
	return resp
}

// TestDefaultErrorHandlerLogs checks that, without WithErrorHandler, an error
// the client does not see is logged to the Limiter's logger with the
// request's method, route and path.
func TestDefaultErrorHandlerLogs(t *testing.T) {
	var logs logBuffer
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), failingIdentifier, core.WithLogger(logs.logger()))
	serveUser(t, lim)
	recs := logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("logged %d lines, want 1: %v", len(recs), recs)
	}
	rec := recs[0]
	for k, want := range map[string]string{
		"level": "ERROR", "method": "GET", "route": "/users/{id}", "path": "/users/7",
	} {
		if got, _ := rec[k].(string); got != want {
			t.Errorf("log %s = %q, want %q; line: %v", k, got, want, rec)
		}
	}
	if got, _ := rec["error"].(string); !strings.Contains(got, errIdentify.Error()) {
		t.Errorf("log error = %q, want it to contain %q", got, errIdentify)
	}
}

// TestDefaultErrorHandlerRouteFallsBackToPath checks that a request with no
// route template is logged with its path as the route.
func TestDefaultErrorHandlerRouteFallsBackToPath(t *testing.T) {
	var logs logBuffer
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), failingIdentifier, core.WithLogger(logs.logger()))
	h := New(lim).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/upload", nil))
	recs := logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("logged %d lines, want 1: %v", len(recs), recs)
	}
	if got, _ := recs[0]["route"].(string); got != "/upload" {
		t.Errorf("log route = %q, want the path, /upload", got)
	}
	if got, _ := recs[0]["method"].(string); got != "POST" {
		t.Errorf("log method = %q, want POST", got)
	}
}

// TestDefaultErrorHandlerSilentWithoutLogger checks that a Limiter without a
// logger logs nothing, not even to slog's default logger. It replaces the
// default logger, so it does not run in parallel.
func TestDefaultErrorHandlerSilentWithoutLogger(t *testing.T) {
	var logs logBuffer
	old := slog.Default()
	slog.SetDefault(logs.logger())
	t.Cleanup(func() { slog.SetDefault(old) })
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), failingIdentifier)
	serveUser(t, lim)
	if recs := logs.records(t); len(recs) != 0 {
		t.Errorf("a Limiter without a logger logged %v", recs)
	}
}

// TestErrorHandlerReceivesErrors checks that WithErrorHandler receives the
// error; the Limiter's own log line stays.
func TestErrorHandlerReceivesErrors(t *testing.T) {
	var logs logBuffer
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), failingIdentifier, core.WithLogger(logs.logger()))
	var got []error
	serveUser(t, lim, WithErrorHandler(func(r *http.Request, err error) { got = append(got, err) }))
	if len(got) != 1 || !errors.Is(got[0], errIdentify) {
		t.Errorf("error handler got %v, want one error wrapping %v", got, errIdentify)
	}
	if recs := logs.records(t); len(recs) != 1 {
		t.Errorf("logged %v, want the Limiter's one line", recs)
	}
}

// TestDefaultErrorHandlerBackendFailureLoggedOnce checks that a backend
// failure behind fail-closed decisions reaches the log with its error, once:
// the Limiter logs it (at most once a second per rule), and the middleware
// does not add a line per request.
func TestDefaultErrorHandlerBackendFailureLoggedOnce(t *testing.T) {
	var logs logBuffer
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(10)), core.WithBackend(failingBackend{}),
		core.WithFailure(core.Failure{Mode: "closed"}), core.WithLogger(logs.logger()))
	for range 3 {
		serveUser(t, lim)
	}
	var lines int
	for _, rec := range logs.records(t) {
		if e, _ := rec["error"].(string); strings.Contains(e, errBackend.Error()) {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("the backend error is on %d log lines, want 1: %v", lines, logs.records(t))
	}
}

// TestDefaultErrorHandlerLogIsRateLimited: an identifier that fails on
// every request (as one may on clients' input) does not turn a flood of
// requests into a flood of lines: one a second on the Limiter's clock, and
// the next line counts the repeats left out.
func TestDefaultErrorHandlerLogIsRateLimited(t *testing.T) {
	var logs logBuffer
	lim, clk := newLimiter(t, core.WithDefault(core.PerMinute(10)), failingIdentifier, core.WithLogger(logs.logger()))
	for range 100 {
		serveUser(t, lim)
	}
	if recs := logs.records(t); len(recs) != 1 {
		t.Fatalf("100 failing requests logged %d lines, want 1", len(recs))
	}
	clk.Advance(time.Second)
	serveUser(t, lim)
	recs := logs.records(t)
	if len(recs) != 2 {
		t.Fatalf("a second later: %d lines, want 2", len(recs))
	}
	if n, _ := recs[1]["repeats"].(float64); n != 99 {
		t.Errorf("the second line counts %v repeats, want the 99 left out", n)
	}
}
