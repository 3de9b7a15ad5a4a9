package httpcontract

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newLimiter returns a Limiter on a fake clock at epoch, closed when the test
// ends.
func newLimiter(t testing.TB, opts ...core.Option) (*core.Limiter, clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	lim, err := core.New(append([]core.Option{core.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	t.Cleanup(func() { lim.Close() })
	return lim, clk
}

// decideN makes n requests to GET path from one client and returns the last
// decision.
func decideN(t testing.TB, lim *core.Limiter, path string, n int) core.Decision {
	t.Helper()
	var d core.Decision
	for i := range n {
		var err error
		d, err = lim.Decide(context.Background(), core.Request{Method: "GET", Path: path, RemoteAddr: "203.0.113.7:1234"})
		if err != nil {
			t.Fatalf("Decide %d: %v", i, err)
		}
	}
	return d
}

// failingBackend fails every call.
type failingBackend struct{}

var _ backend.Backend = failingBackend{}

var errBackend = errors.New("dial tcp 10.1.2.3:6379: connection refused")

func (failingBackend) Apply(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, errBackend
}
func (failingBackend) Release(context.Context, backend.Request) error   { return errBackend }
func (failingBackend) Settle(context.Context, backend.Settlement) error { return errBackend }
func (failingBackend) Reset(context.Context, string, string) error      { return errBackend }

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		want int64
	}{
		{"zero", 0, 0},
		{"negative nanosecond", -1, 0},
		{"negative seconds", -5 * time.Second, 0},
		{"most negative", math.MinInt64, 0},
		{"one nanosecond", 1, 1},
		{"300ms", 300 * time.Millisecond, 1},
		{"one second", time.Second, 1},
		{"just over a second", time.Second + 1, 2},
		{"1.5s", 1500 * time.Millisecond, 2},
		{"just under a minute", time.Minute - time.Millisecond, 60},
		{"a day", 24 * time.Hour, 86400},
		{"largest duration", math.MaxInt64, math.MaxInt64/int64(time.Second) + 1},
		{"largest whole seconds", math.MaxInt64 / time.Second * time.Second, math.MaxInt64 / int64(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := seconds(tc.d); got != tc.want {
				t.Errorf("seconds(%d) = %d, want %d", int64(tc.d), got, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       int64
	}{
		{"zero", 0, 1},
		{"negative", -3 * time.Second, 1},
		{"one nanosecond", 1, 1},
		{"100ms", 100 * time.Millisecond, 1},
		{"one second", time.Second, 1},
		{"1001ms", 1001 * time.Millisecond, 2},
		{"20s", 20 * time.Second, 20},
		{"just under an hour", time.Hour - time.Nanosecond, 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfter(&core.Decision{RetryAfter: tc.retryAfter}); got != tc.want {
				t.Errorf("RetryAfter(%v) = %d, want %d", tc.retryAfter, got, tc.want)
			}
		})
	}
}

func TestRetryAfterOfRealDenial(t *testing.T) {
	lim, clk := newLimiter(t, core.WithDefault(core.Limit{N: 2, Per: 3 * time.Second})) // a token every 1.5s
	decideN(t, lim, "/", 2)
	clk.Advance(1400 * time.Millisecond)
	d := decideN(t, lim, "/", 1)
	if d.Outcome != core.Denied || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("decision = %v after %v, want denied after 100ms", d.Outcome, d.RetryAfter)
	}
	if got, want := retryAfter(&d), int64(1); got != want {
		t.Errorf("RetryAfter = %d, want %d", got, want)
	}
}

func TestRouteTemplate(t *testing.T) {
	for _, tc := range []struct {
		name, route, want string
	}{
		{"empty", "", ""},
		{"root", "/", "/"},
		{"static", "/users", "/users"},
		{"colon param", "/users/:id", "/users/{id}"},
		{"two params", "/orgs/:org/repos/:repo", "/orgs/{org}/repos/{repo}"},
		{"param then static", "/users/:id/posts", "/users/{id}/posts"},
		{"named catch-all", "/files/*path", "/files/{path...}"},
		{"param and catch-all", "/users/:id/*rest", "/users/{id}/{rest...}"},
		{"anonymous catch-all", "/*", "/{...}"},
		{"anonymous catch-all below", "/static/*", "/static/{...}"},
		{"brace param unchanged", "/users/{id}", "/users/{id}"},
		{"brace catch-all unchanged", "/files/{path...}", "/files/{path...}"},
		{"lone colon unchanged", "/a/:", "/a/:"},
		{"colon inside a segment unchanged", "/v1/items:batch", "/v1/items:batch"},
		{"star inside a segment unchanged", "/a/b*c", "/a/b*c"},
		{"trailing slash kept", "/users/:id/", "/users/{id}/"},
		{"relative", ":id", "{id}"},
		{"chi regex param", "/users/{id:[0-9]+}", "/users/{id}"},
		{"chi regex param with slash class", "/d/{date:\\d+-\\d+}/x", "/d/{date}/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RouteTemplate(tc.route)
			if got != tc.want {
				t.Errorf("RouteTemplate(%q) = %q, want %q", tc.route, got, tc.want)
			}
			if again := RouteTemplate(tc.route); again != got {
				t.Errorf("RouteTemplate(%q) from the cache = %q, first %q", tc.route, again, got)
			}
			if twice := RouteTemplate(got); twice != got {
				t.Errorf("RouteTemplate(%q) = %q: not idempotent", got, twice)
			}
		})
	}
}

func TestRouteTemplateCachedDoesNotAllocate(t *testing.T) {
	// Build the routes at run time, as a framework does, so they are not
	// constants the compiler could box for free.
	colon := strings.Repeat("/users/:id", 1)
	brace := strings.Repeat("/users/{id}", 1)
	RouteTemplate(colon)
	for _, route := range []string{colon, brace} {
		if allocs := testing.AllocsPerRun(100, func() { RouteTemplate(route) }); allocs != 0 {
			t.Errorf("RouteTemplate(%q) allocates %v times, want 0", route, allocs)
		}
	}
}

func TestRoute(t *testing.T) {
	mux := http.NewServeMux()
	for _, p := range []string{
		"GET /users/{id}",
		"GET example.com/x",
		"/static/",
		"/{$}",
		"POST /files/{path...}",
		"GET /exact/{$}",
	} {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(1)))
	m := New(lim)

	for _, tc := range []struct {
		name, method, url string
		pattern           string // http.Request.Pattern, as set when the mux runs first
		mux               router // the handler the middleware wraps, when it is a router
		want              string
	}{
		{name: "method and wildcard", method: "GET", url: "/users/7", mux: mux, want: "/users/{id}"},
		{name: "HEAD matches GET", method: "HEAD", url: "/users/7", mux: mux, want: "/users/{id}"},
		{name: "host pattern", method: "GET", url: "http://example.com/x", mux: mux, want: "/x"},
		{name: "subtree", method: "GET", url: "/static/css/site.css", mux: mux, want: "/static/"},
		{name: "subtree root", method: "GET", url: "/static/", mux: mux, want: "/static/"},
		{name: "exact root", method: "GET", url: "/", mux: mux, want: "/"},
		{name: "exact below", method: "GET", url: "/exact/", mux: mux, want: "/exact/"},
		{name: "catch-all", method: "POST", url: "/files/a/b", mux: mux, want: "/files/{path...}"},
		{name: "no match", method: "GET", url: "/nowhere", mux: mux, want: ""},
		{name: "method not allowed", method: "DELETE", url: "/users/7", mux: mux, want: ""},
		{name: "no mux", method: "GET", url: "/users/7", want: ""},
		{name: "pattern already matched", method: "GET", url: "/users/7", pattern: "GET /users/{id}", want: "/users/{id}"},
		{name: "matched host pattern", method: "GET", url: "/x", pattern: "GET example.com/x", want: "/x"},
		{name: "matched pattern without method", method: "GET", url: "/static/a", pattern: "/static/", want: "/static/"},
		{name: "matched exact root", method: "GET", url: "/", pattern: "/{$}", want: "/"},
		// An outer mux that mounted the middleware set its own pattern;
		// the mux the middleware wraps knows the route.
		{name: "wrapped mux wins over an outer mux's pattern", method: "GET", url: "/users/7", pattern: "/", mux: mux, want: "/users/{id}"},
		{name: "wrapped mux, no match, outer pattern ignored", method: "GET", url: "/nowhere", pattern: "/", mux: mux, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, nil)
			r.Pattern = tc.pattern
			if got := m.request(r, "", tc.mux, nil).Route; got != tc.want {
				t.Errorf("request(%s %s, Pattern %q).Route = %q, want %q", tc.method, tc.url, tc.pattern, got, tc.want)
			}
		})
	}
	if got, want := m.request(httptest.NewRequest("GET", "/users/7", nil), "/given", mux, nil).Route, "/given"; got != want {
		t.Errorf("request with a route: Route = %q, want %q", got, want)
	}
}

// TestHandlerFindsTheMuxRoute: Handler of a ServeMux gives the limiter
// the mux's route pattern, with no option; the same mux hidden behind a
// plain handler gives only the path.
func TestHandlerFindsTheMuxRoute(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		name string
		h    http.Handler
		want string
	}{
		{"a ServeMux", mux, "/users/{id}"},
		{"a plain handler", http.HandlerFunc(mux.ServeHTTP), ""},
	} {
		var route string
		id := identifierFunc(func(_ context.Context, r core.Request) (core.Identity, error) {
			route = r.Route
			return core.Identity{Kind: core.KindIP, Value: "192.0.2.1"}, nil
		})
		lim, _ := newLimiter(t, core.WithIdentifier(id), core.WithDefault(core.PerMinute(10)))
		New(lim).Handler(tc.h).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/7", nil))
		if route != tc.want {
			t.Errorf("%s: the limiter got Route %q, want %q", tc.name, route, tc.want)
		}
	}
}

// allHeaders are the fields WriteHeaders may write.
var allHeaders = []string{keyXLimit, keyXRemaining, keyXReset, keyPolicy, keyRateLimit, keyRetryAfter}

// only returns a header expectation with every field of allHeaders absent
// except the given key/value pairs.
func only(kv ...string) map[string]string {
	want := make(map[string]string, len(allHeaders))
	for _, k := range allHeaders {
		want[k] = ""
	}
	for i := 0; i < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	return want
}

func TestWriteHeaders(t *testing.T) {
	long := strings.Repeat("window-", 10) // three of them overflow headerBlock.buf
	perMinute3 := []core.Option{core.WithDefault(core.PerMinute(3))}
	shadow := []core.Option{core.WithRules(core.Rule{Shadow: true, Limits: []core.Limit{core.PerMinute(1)}})}
	failing := func(mode string) []core.Option {
		return []core.Option{core.WithDefault(core.PerMinute(3)), core.WithBackend(failingBackend{}), core.WithFailure(core.Failure{Mode: mode})}
	}
	allowed := only(keyXLimit, "3", keyXRemaining, "2", keyXReset, "20",
		keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=2;t=20`)
	denied := only(keyXLimit, "3", keyXRemaining, "0", keyXReset, "60",
		keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=0;t=20`, keyRetryAfter, "20")

	for _, tc := range []struct {
		name     string
		limOpts  []core.Option
		path     string // "/" when empty
		requests int    // the decision of the last one is written
		opts     []Option
		outcome  core.Outcome
		want     map[string]string
	}{
		{name: "allowed", limOpts: perMinute3, requests: 1, outcome: core.Allowed, want: allowed},
		{name: "allowed legacy", limOpts: perMinute3, requests: 1, opts: []Option{WithHeaders(HeadersX)}, outcome: core.Allowed,
			want: only(keyXLimit, "3", keyXRemaining, "2", keyXReset, "20")},
		{name: "allowed IETF", limOpts: perMinute3, requests: 1, opts: []Option{WithHeaders(HeadersDraft10)}, outcome: core.Allowed,
			want: only(keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=2;t=20`)},
		{name: "allowed none", limOpts: perMinute3, requests: 1, opts: []Option{WithHeaders(0)}, outcome: core.Allowed, want: only()},
		{name: "allowed unix reset", limOpts: perMinute3, requests: 1, opts: []Option{WithHeaders(HeadersDraft10 | HeadersXUnix)}, outcome: core.Allowed,
			want: only(keyXLimit, "3", keyXRemaining, "2", keyXReset, strconv.FormatInt(epoch.Unix()+20, 10),
				keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=2;t=20`)},
		{name: "last allowed", limOpts: perMinute3, requests: 3, outcome: core.Allowed,
			want: only(keyXLimit, "3", keyXRemaining, "0", keyXReset, "60",
				keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=0;t=20`)}, // the next token in 20s, not the whole quota in 60s
		{name: "denied", limOpts: perMinute3, requests: 4, outcome: core.Denied, want: denied},
		{name: "denied legacy", limOpts: perMinute3, requests: 4, opts: []Option{WithHeaders(HeadersX)}, outcome: core.Denied,
			want: only(keyXLimit, "3", keyXRemaining, "0", keyXReset, "60", keyRetryAfter, "20")},
		{name: "denied IETF", limOpts: perMinute3, requests: 4, opts: []Option{WithHeaders(HeadersDraft10)}, outcome: core.Denied,
			want: only(keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=0;t=20`, keyRetryAfter, "20")},
		{name: "denied none keeps Retry-After", limOpts: perMinute3, requests: 4, opts: []Option{WithHeaders(0)}, outcome: core.Denied,
			want: only(keyRetryAfter, "20")},
		{name: "denied unix reset", limOpts: perMinute3, requests: 4, opts: []Option{WithHeaders(HeadersDraft10 | HeadersXUnix)}, outcome: core.Denied,
			want: only(keyXLimit, "3", keyXRemaining, "0", keyXReset, strconv.FormatInt(epoch.Unix()+60, 10),
				keyPolicy, `"default";q=3;w=60`, keyRateLimit, `"default";r=0;t=20`, keyRetryAfter, "20")},
		{name: "delayed", limOpts: []core.Option{core.WithRules(core.Rule{Limits: []core.Limit{core.PerSecond(2)}, MaxDelay: time.Second})},
			requests: 3, outcome: core.Delayed,
			want: only(keyXLimit, "2", keyXRemaining, "0", keyXReset, "2",
				keyPolicy, `"default";q=2;w=1`, keyRateLimit, `"default";r=0;t=1`)},
		{name: "multi-window allowed", limOpts: []core.Option{core.WithRules(core.Rule{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(2), core.Limit{N: 1000, Per: 24 * time.Hour, Name: "daily"}}})},
			requests: 1, outcome: core.Allowed,
			want: only(keyXLimit, "2", keyXRemaining, "1", keyXReset, "1",
				keyPolicy, `"api-s";q=2;w=1, "daily";q=1000;w=86400`, keyRateLimit, `"api-s";r=1;t=1, "daily";r=999;t=86400`)},
		{name: "multi-window denied lists only the violated window", limOpts: []core.Option{core.WithRules(core.Rule{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(2), core.Limit{N: 1000, Per: 24 * time.Hour, Name: "daily"}}})},
			requests: 3, outcome: core.Denied,
			want: only(keyXLimit, "2", keyXRemaining, "0", keyXReset, "1",
				keyPolicy, `"api-s";q=2;w=1, "daily";q=1000;w=86400`, keyRateLimit, `"api-s";r=0;t=1`, keyRetryAfter, "1")},
		{name: "long window names spill past the header block", limOpts: []core.Option{core.WithRules(core.Rule{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.Limit{N: 2, Per: time.Second, Name: long + "1"}, core.Limit{N: 20, Per: time.Minute, Name: long + "2"}, core.Limit{N: 1000, Per: 24 * time.Hour, Name: long + "3"}}})},
			requests: 1, outcome: core.Allowed,
			want: only(keyXLimit, "2", keyXRemaining, "1", keyXReset, "1",
				keyPolicy, `"`+long+`1";q=2;w=1, "`+long+`2";q=20;w=60, "`+long+`3";q=1000;w=86400`,
				keyRateLimit, `"`+long+`1";r=1;t=1, "`+long+`2";r=19;t=60, "`+long+`3";r=999;t=86400`)},
		{name: "concurrency has no window", limOpts: []core.Option{core.WithRules(core.Rule{Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(2)}})},
			requests: 1, outcome: core.Allowed,
			want: only(keyXLimit, "2", keyXRemaining, "1", keyXReset, "30",
				keyPolicy, `"default";q=2`, keyRateLimit, `"default";r=1;t=1`)}, // a slot comes back when a request ends: at most 1s
		{name: "quoted policy name", limOpts: []core.Option{core.WithRules(core.Rule{Name: `a"b\c`, Limits: []core.Limit{core.PerMinute(3)}})},
			requests: 1, outcome: core.Allowed,
			want: only(keyXLimit, "3", keyXRemaining, "2", keyXReset, "20",
				keyPolicy, `"a\"b\\c";q=3;w=60`, keyRateLimit, `"a\"b\\c";r=2;t=20`)},
		{name: "exempt rule", limOpts: []core.Option{core.WithDefault(core.PerMinute(3)), core.WithRules(core.Rule{Path: "/healthz", Exempt: true})},
			path: "/healthz", requests: 5, outcome: core.Exempt, want: only()},
		{name: "no rule matches", limOpts: []core.Option{core.WithRules(core.Rule{Path: "/login", Limits: []core.Limit{core.PerMinute(1)}})},
			requests: 5, outcome: core.Exempt, want: only()},
		{name: "shadow allowed", limOpts: shadow, requests: 1, outcome: core.Allowed, want: only()},
		{name: "shadow denied", limOpts: shadow, requests: 2, outcome: core.ShadowDenied, want: only()},
		{name: "shadow allowed with shadow headers", limOpts: shadow, requests: 1, opts: []Option{WithShadowHeaders(true)}, outcome: core.Allowed,
			want: only(keyXLimit, "1", keyXRemaining, "0", keyXReset, "60",
				keyPolicy, `"default";q=1;w=60`, keyRateLimit, `"default";r=0;t=60`)},
		{name: "shadow denied with shadow headers has no Retry-After", limOpts: shadow, requests: 2, opts: []Option{WithShadowHeaders(true)},
			outcome: core.ShadowDenied,
			want: only(keyXLimit, "1", keyXRemaining, "0", keyXReset, "60",
				keyPolicy, `"default";q=1;w=60`, keyRateLimit, `"default";r=0;t=60`)},
		{name: "shadow headers off explicitly", limOpts: shadow, requests: 2, opts: []Option{WithShadowHeaders(true), WithShadowHeaders(false)},
			outcome: core.ShadowDenied, want: only()},
		{name: "fail open", limOpts: failing("open"), requests: 1, outcome: core.FailedOpen, want: only(keyXLimit, "3")},
		{name: "fail open legacy", limOpts: failing("open"), requests: 1, opts: []Option{WithHeaders(HeadersX)}, outcome: core.FailedOpen,
			want: only(keyXLimit, "3")},
		{name: "fail open IETF", limOpts: failing("open"), requests: 1, opts: []Option{WithHeaders(HeadersDraft10)}, outcome: core.FailedOpen, want: only()},
		{name: "fail open none", limOpts: failing("open"), requests: 1, opts: []Option{WithHeaders(0)}, outcome: core.FailedOpen, want: only()},
		{name: "fail closed", limOpts: failing("closed"), requests: 1, outcome: core.FailedClosed, want: only()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim, _ := newLimiter(t, tc.limOpts...)
			path := tc.path
			if path == "" {
				path = "/"
			}
			d := decideN(t, lim, path, tc.requests)
			if d.Outcome != tc.outcome {
				t.Fatalf("outcome = %v, want %v", d.Outcome, tc.outcome)
			}
			h := http.Header{}
			both := WithHeaders(HeadersDraft10 | HeadersX) // the cases with no WithHeaders expect both
			New(lim, append([]Option{both}, tc.opts...)...).writeHeaders(h, &d)
			for _, k := range allHeaders {
				if got, want := strings.Join(h.Values(k), ", "), tc.want[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if len(h) > len(allHeaders) {
				t.Errorf("unexpected fields in %v", h)
			}
		})
	}
}

// TestWriteHeadersReplaces checks that WriteHeaders replaces values already
// set rather than adding to them, and that the values it writes do not share
// storage that a later append could overwrite.
func TestWriteHeadersReplaces(t *testing.T) {
	lim, _ := newLimiter(t, core.WithDefault(core.PerMinute(3)))
	d := decideN(t, lim, "/", 1)
	h := http.Header{}
	for _, k := range allHeaders {
		h.Set(k, "stale")
	}
	New(lim, WithHeaders(HeadersDraft10|HeadersX)).writeHeaders(h, &d)
	if got, want := h.Values(keyXLimit), []string{"3"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s = %q, want %q", keyXLimit, got, want)
	}
	if got := h.Values(keyRetryAfter); len(got) != 1 || got[0] != "stale" {
		t.Errorf("%s = %q: an allowed decision must leave it alone", keyRetryAfter, got)
	}
	h.Add(keyXLimit, "appended")
	if got, want := h.Get(keyXRemaining), "2"; got != want {
		t.Errorf("after adding a value to %s, %s = %q, want %q", keyXLimit, keyXRemaining, got, want)
	}
}

// TestWriteHeadersUnixResetRoundsUp checks that a Unix reset time is never
// earlier than the moment the quota resets, when the decision was made
// between two whole seconds.
func TestWriteHeadersUnixResetRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // of the decision from epoch
		want   int64         // Unix seconds
	}{
		{"whole second", 0, epoch.Unix() + 20},
		{"half a second in", 500 * time.Millisecond, epoch.Unix() + 21},
		{"a nanosecond in", time.Nanosecond, epoch.Unix() + 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, clk := newLimiter(t, core.WithDefault(core.PerMinute(3)))
			clk.Advance(epoch.Add(tc.offset).Sub(clk.Now()))
			d := decideN(t, lim, "/", 1)
			if d.ResetAfter != 20*time.Second {
				t.Fatalf("ResetAfter = %v, want 20s", d.ResetAfter)
			}
			h := http.Header{}
			New(lim, WithHeaders(HeadersDraft10|HeadersXUnix)).writeHeaders(h, &d)
			got, err := strconv.ParseInt(h.Get(keyXReset), 10, 64)
			if err != nil {
				t.Fatalf("%s = %q: %v", keyXReset, h.Get(keyXReset), err)
			}
			if got != tc.want {
				t.Errorf("%s = %d, want %d", keyXReset, got, tc.want)
			}
			if reset := d.At.Add(d.ResetAfter); time.Unix(got, 0).Before(reset) {
				t.Errorf("%s = %v is before the reset at %v", keyXReset, time.Unix(got, 0).UTC(), reset)
			}
		})
	}
}

// policyOf decides one request and returns the RateLimit-Policy m writes.
func policyOf(t *testing.T, m *Middleware, lim *core.Limiter) string {
	t.Helper()
	d := decideN(t, lim, "/", 1)
	h := http.Header{}
	m.writeHeaders(h, &d)
	return h.Get(keyPolicy)
}

func TestPolicyCacheFollowsRuleChanges(t *testing.T) {
	lim, _ := newLimiter(t, core.WithRules(core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(3)}}))
	m := New(lim)
	for i, tc := range []struct {
		rule core.Rule
		want string
	}{
		{core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(3)}}, `"api";q=3;w=60`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.PerMinute(30)}}, `"api";q=30;w=60`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.PerHour(30)}}, `"api";q=30;w=3600`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.Limit{N: 30, Per: time.Hour, Name: "hourly"}}}, `"hourly";q=30;w=3600`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.PerSecond(5), core.PerHour(30)}}, `"api-s";q=5;w=1, "api-h";q=30;w=3600`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.PerSecond(5)}}, `"api";q=5;w=1`},
		// Same limits, new algorithm: a token bucket of 5 per 30s has the
		// same Limit as a concurrency limit of 5 with the default 30s lease,
		// but a concurrency limit has no window.
		{core.Rule{Name: "api", Limits: []core.Limit{core.Limit{N: 5, Per: 30 * time.Second}}}, `"api";q=5;w=30`},
		{core.Rule{Name: "api", Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(5)}}, `"api";q=5`},
		{core.Rule{Name: "api", Limits: []core.Limit{core.Limit{N: 5, Per: 30 * time.Second}}}, `"api";q=5;w=30`},
	} {
		if err := lim.SetRules(tc.rule); err != nil {
			t.Fatalf("step %d: SetRules: %v", i, err)
		}
		if got := policyOf(t, m, lim); got != tc.want {
			t.Errorf("step %d: %s = %q, want %q", i, keyPolicy, got, tc.want)
		}
		if got := policyOf(t, m, lim); got != tc.want {
			t.Errorf("step %d, cached: %s = %q, want %q", i, keyPolicy, got, tc.want)
		}
	}
}

func TestWriteHeadersAllocs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    core.Limit
		requests int
		opts     []Option
	}{
		{"default", core.PerMinute(3), 1, nil},
		{"all profiles", core.PerMinute(3), 1, []Option{WithHeaders(HeadersDraft10 | HeadersTriple | HeadersX)}},
		{"large numbers", core.Limit{N: 1_000_000, Per: 24 * time.Hour}, 1, nil},
		{"unix reset", core.PerHour(5000), 1, []Option{WithHeaders(HeadersDraft10 | HeadersXUnix)}},
		{"legacy", core.PerMinute(3), 1, []Option{WithHeaders(HeadersX)}},
		{"IETF", core.PerMinute(3), 1, []Option{WithHeaders(HeadersDraft10)}},
		{"none", core.PerMinute(3), 1, []Option{WithHeaders(0)}},
		{"denied", core.PerMinute(3), 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, _ := newLimiter(t, core.WithDefault(tc.limit))
			d := decideN(t, lim, "/", tc.requests)
			if len(d.Windows()) != 1 {
				t.Fatalf("decision has %d windows, want 1", len(d.Windows()))
			}
			m := New(lim, tc.opts...)
			h := http.Header{}
			m.writeHeaders(h, &d) // fills the policy cache and the map
			if allocs := testing.AllocsPerRun(100, func() { m.writeHeaders(h, &d) }); allocs > 1 {
				t.Errorf("WriteHeaders of a %v decision allocates %v times, want at most 1", d.Outcome, allocs)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "api-s", `"api-s"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"controls", "a\nb\tc\x00\x1f\x7f", `"a\u000ab\u0009c\u0000\u001f\u007f"`},
		{"html", "<script>&", `"\u003cscript\u003e\u0026"`},
		{"valid UTF-8 kept", "café ☕", `"café ☕"`},
		{"line separators escaped", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence", "caf\xc3", `"caf\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"literal replacement character", "\ufffd", "\"\ufffd\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendJSONString(nil, tc.in)); got != tc.want {
				t.Errorf("appendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendSFString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "api-s", `"api-s"`},
		{"space", "a b", `"a b"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"controls", "a\nb\x7f", `"a_b_"`},
		{"non-ASCII byte by byte", "café", `"caf__"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendSFString(nil, tc.in)); got != tc.want {
				t.Errorf("appendSFString(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
