package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/core/identify"
)

// Route is one route the adapter under test must serve through its
// framework's own router.
type Route struct {
	// Method is the HTTP method: GET, HEAD, POST or OPTIONS.
	Method string
	// Pattern is the route in "/users/{id}" syntax; translate "{id}" to the
	// framework's own syntax (":id" for gin and echo; see ColonParams).
	Pattern string
	// Handler serves the route.
	Handler http.HandlerFunc
}

// AdapterFactory builds the handler under test: the framework's engine
// serving routes, with the adapter installed once for all routes (as users
// install it, e.g. r.Use) and configured with lim and opts.
type AdapterFactory func(t *testing.T, lim *core.Limiter, routes []Route, opts ...httpcontract.Option) http.Handler

// ColonParams rewrites "{name}" route parameters as ":name".
func ColonParams(pattern string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		j := strings.IndexByte(pattern, '}')
		if i < 0 || j < i {
			b.WriteString(pattern)
			return b.String()
		}
		b.WriteString(pattern[:i])
		b.WriteByte(':')
		b.WriteString(pattern[i+1 : j])
		pattern = pattern[j+1:]
	}
}

// RunAdapterSuite checks that an HTTP adapter applies the Sluice HTTP
// contract (package httpcontract) exactly: the same status, headers and body
// for allow, deny, delay, exempt, shadow, fail-open, fail-closed, concurrency
// release on return and on panic, HEAD and OPTIONS, route templates sharing a
// counter, header sets, a custom denial, and context cancellation during a
// delay. Every request goes over a real connection to an httptest server.
// Run it under -race.
func RunAdapterSuite(t *testing.T, newAdapter AdapterFactory) {
	for _, tc := range adapterCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(newAdapterHarness(t, newAdapter))
		})
	}
}

// adapterHarness serves the standard routes through the adapter under test.
type adapterHarness struct {
	t          *testing.T
	newAdapter AdapterFactory
	clock      clock.Fake
	calls      sync.Map // pattern -> *atomic.Int64
	slow       chan struct{}
	entered    chan struct{}
	errs       chan error
	srv        *httptest.Server // the last server started
}

func newAdapterHarness(t *testing.T, f AdapterFactory) *adapterHarness {
	return &adapterHarness{
		t: t, newAdapter: f, clock: clock.NewFake(Epoch),
		slow: make(chan struct{}), entered: make(chan struct{}, 16), errs: make(chan error, 64),
	}
}

func (h *adapterHarness) counter(pattern string) *atomic.Int64 {
	c, _ := h.calls.LoadOrStore(pattern, new(atomic.Int64))
	return c.(*atomic.Int64)
}

func (h *adapterHarness) routes() []Route {
	hello := func(w http.ResponseWriter, r *http.Request) {
		h.counter("/hello").Add(1)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello\n")
	}
	var routes []Route
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions} {
		routes = append(routes, Route{Method: m, Pattern: "/hello", Handler: hello})
	}
	return append(routes,
		Route{Method: http.MethodGet, Pattern: "/users/{id}", Handler: func(w http.ResponseWriter, r *http.Request) {
			h.counter("/users/{id}").Add(1)
			io.WriteString(w, "user\n")
		}},
		Route{Method: http.MethodGet, Pattern: "/healthz", Handler: func(w http.ResponseWriter, r *http.Request) {
			h.counter("/healthz").Add(1)
			io.WriteString(w, "ok\n")
		}},
		Route{Method: http.MethodGet, Pattern: "/panic", Handler: func(w http.ResponseWriter, r *http.Request) {
			h.counter("/panic").Add(1)
			panic("testkit: deliberate panic")
		}},
		Route{Method: http.MethodGet, Pattern: "/slow", Handler: func(w http.ResponseWriter, r *http.Request) {
			h.counter("/slow").Add(1)
			h.entered <- struct{}{}
			select {
			case <-h.slow:
			case <-r.Context().Done():
			}
			io.WriteString(w, "slow\n")
		}},
	)
}

// serve starts the adapter with a limiter built from opts and returns its
// URL. The limiter runs on the harness's fake clock unless opts set another.
func (h *adapterHarness) serve(limOpts []core.Option, opts ...httpcontract.Option) string {
	h.t.Helper()
	return h.start(limOpts, true, opts...)
}

// start is serve, which sends both the draft-10 and the X-RateLimit fields
// unless opts say otherwise, or, with both false, the adapter's default
// fields.
func (h *adapterHarness) start(limOpts []core.Option, both bool, opts ...httpcontract.Option) string {
	h.t.Helper()
	if both {
		opts = append([]httpcontract.Option{httpcontract.WithHeaders(httpcontract.HeadersDraft10 | httpcontract.HeadersX)}, opts...)
	}
	lim, err := core.New(append([]core.Option{core.WithClock(h.clock)}, limOpts...)...)
	if err != nil {
		h.t.Fatalf("core.New: %v", err)
	}
	h.t.Cleanup(func() { lim.Close() })
	opts = append([]httpcontract.Option{httpcontract.WithErrorHandler(func(_ *http.Request, err error) {
		select {
		case h.errs <- err:
		default:
		}
	})}, opts...)
	srv := httptest.NewUnstartedServer(h.newAdapter(h.t, lim, h.routes(), opts...))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the /panic route logs otherwise
	srv.Start()
	h.t.Cleanup(srv.Close)
	h.srv = srv
	return srv.URL
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   string
	err    error
}

// client opens a connection per request, so the transport never retries a
// request on a connection the server closed (after a handler panic).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func (h *adapterHarness) do(ctx context.Context, method, url string) response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(body), err: err}
}

func (h *adapterHarness) get(url string) response {
	h.t.Helper()
	r := h.do(h.t.Context(), http.MethodGet, url)
	if r.err != nil {
		h.t.Fatalf("GET %s: %v", url, r.err)
	}
	return r
}

// expect checks a response: status, exact header values ("" means absent),
// and the body unless wantBody is nil.
func (h *adapterHarness) expect(what string, r response, status int, headers map[string]string, wantBody *string) {
	h.t.Helper()
	if r.status != status {
		h.t.Errorf("%s: status %d, want %d (body %q)", what, r.status, status, r.body)
	}
	for k, want := range headers {
		if got := strings.Join(r.header.Values(k), ", "); got != want {
			h.t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
	if wantBody != nil && r.body != *wantBody {
		h.t.Errorf("%s: body %q, want %q", what, r.body, *wantBody)
	}
	h.checkStructuredFields(what, r.header)
}

// checkStructuredFields parses the IETF fields with a structured-fields
// parser: RateLimit-Policy and RateLimit are lists of quoted-string items
// with integer parameters.
func (h *adapterHarness) checkStructuredFields(what string, hdr http.Header) {
	h.t.Helper()
	for field, params := range map[string][]string{
		"RateLimit-Policy": {"q", "w"},
		"RateLimit":        {"r", "t"},
	} {
		v := hdr.Values(field)
		if len(v) == 0 {
			continue
		}
		list, err := httpsfv.UnmarshalList(v)
		if err != nil {
			h.t.Errorf("%s: %s %q is not a structured-field list: %v", what, field, v, err)
			continue
		}
		for _, m := range list {
			item, ok := m.(httpsfv.Item)
			if !ok {
				h.t.Errorf("%s: %s member %v is not an item", what, field, m)
				continue
			}
			if _, ok := item.Value.(string); !ok {
				h.t.Errorf("%s: %s item %v is not a quoted string", what, field, item.Value)
			}
			for _, p := range params {
				if pv, ok := item.Params.Get(p); ok {
					if n, isInt := pv.(int64); !isInt || n < 0 {
						h.t.Errorf("%s: %s parameter %s=%v is not a non-negative integer", what, field, p, pv)
					}
				} else if p != "w" {
					h.t.Errorf("%s: %s item %v lacks parameter %s", what, field, item.Value, p)
				}
			}
		}
	}
}

// noLimitHeaders is the header expectation of a response that must carry no
// rate-limit fields.
var noLimitHeaders = map[string]string{
	"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": "",
	"RateLimit-Policy": "", "RateLimit": "", "Retry-After": "",
}

func ptr(s string) *string { return &s }

// problem is the 429 body.
type problem struct {
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Status           int      `json:"status"`
	Detail           string   `json:"detail"`
	ViolatedPolicies []string `json:"violated-policies"`
	Limit            int64    `json:"limit"`
	Remaining        int64    `json:"remaining"`
	RetryAfter       int64    `json:"retry_after"`
	Rule             string   `json:"rule"`
}

func (h *adapterHarness) expectProblem(what, body string, want problem) {
	h.t.Helper()
	var got problem
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		h.t.Errorf("%s: body %q is not the problem JSON: %v", what, body, err)
		return
	}
	want.Type, want.Title, want.Status = "https://iana.org/assignments/http-problem-types#quota-exceeded", "Too Many Requests", 429
	want.Detail = got.Detail
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Errorf("%s: problem = %+v, want %+v", what, got, want)
	}
	if !strings.Contains(got.Detail, fmt.Sprint(want.RetryAfter)) {
		h.t.Errorf("%s: detail %q does not say when to retry", what, got.Detail)
	}
}

// failingBackend fails every call with a message that must never reach a
// client.
type failingBackend struct{}

const secretError = "dial tcp 10.1.2.3:6379: secret internal detail"

func (failingBackend) Apply(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, errors.New(secretError)
}
func (failingBackend) Release(context.Context, backend.Request) error { return errors.New(secretError) }
func (failingBackend) Settle(context.Context, backend.Settlement) error {
	return errors.New(secretError)
}
func (failingBackend) Reset(context.Context, string, string) error { return errors.New(secretError) }

func defaultRule(limits ...core.Limit) core.Option { return core.WithDefault(limits...) }

var adapterCases = []struct {
	name string
	run  func(h *adapterHarness)
}{
	{"allow-then-deny", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(3))})
		// t is when more quota comes: the next token, every 20s; the
		// X-RateLimit-Reset is when all of it is back.
		for i, want := range []struct{ remaining, reset, t string }{{"2", "20", "20"}, {"1", "40", "20"}, {"0", "60", "20"}} {
			r := h.get(url + "/hello")
			h.expect(fmt.Sprintf("request %d", i+1), r, 200, map[string]string{
				"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": want.remaining, "X-RateLimit-Reset": want.reset,
				"RateLimit-Policy": `"default";q=3;w=60`,
				"RateLimit":        `"default";r=` + want.remaining + `;t=` + want.t,
				"Retry-After":      "",
			}, ptr("hello\n"))
		}
		r := h.get(url + "/hello")
		h.expect("denied", r, 429, map[string]string{
			"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60",
			"RateLimit-Policy": `"default";q=3;w=60`, "RateLimit": `"default";r=0;t=20`,
			"Retry-After": "20", "Content-Type": "application/problem+json", "Cache-Control": "no-store",
		}, nil)
		h.expectProblem("denied", r.body, problem{ViolatedPolicies: []string{"default"}, Limit: 3, Remaining: 0, RetryAfter: 20, Rule: "default"})
		if got := h.counter("/hello").Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3: a denied request reached it", got)
		}
		h.clock.Advance(20 * time.Second)
		h.expect("after Retry-After", h.get(url+"/hello"), 200, map[string]string{"X-RateLimit-Remaining": "0"}, nil)
	}},
	{"t-per-algorithm", func(h *adapterHarness) {
		// draft-10's t is the seconds until more quota is available, not
		// until all of it is: a client that slows down on r=0 must not
		// wait longer than it has to. 4 per minute, two requests, then a
		// third 10 seconds later.
		for _, tc := range []struct {
			alg        backend.Algorithm
			first, now string // RateLimit after the second request, and 10s later
		}{
			{backend.TokenBucket, `"default";r=2;t=15`, `"default";r=1;t=5`},    // a token every 15s
			{backend.FixedWindow, `"default";r=2;t=60`, `"default";r=1;t=50`},   // the window's end
			{backend.SlidingLog, `"default";r=2;t=60`, `"default";r=1;t=50`},    // the oldest entry leaves
			{backend.SlidingWindow, `"default";r=2;t=90`, `"default";r=1;t=70`}, // the next window, once its previous count weighs less
		} {
			url := h.serve([]core.Option{core.WithRules(core.Rule{Algorithm: tc.alg, Limits: []core.Limit{core.PerMinute(4)}})})
			h.get(url + "/hello")
			h.expect(tc.alg.String()+" second request", h.get(url+"/hello"), 200, map[string]string{"RateLimit": tc.first}, nil)
			h.clock.Advance(10 * time.Second)
			h.expect(tc.alg.String()+" 10s later", h.get(url+"/hello"), 200, map[string]string{"RateLimit": tc.now}, nil)
			h.clock.Advance(-10 * time.Second)
		}
	}},
	{"retry-after-rounds-up", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.Limit{N: 2, Per: 3 * time.Second})}) // a token every 1.5s
		h.get(url + "/hello")
		h.get(url + "/hello")
		h.clock.Advance(1400 * time.Millisecond) // 100ms to wait
		r := h.get(url + "/hello")
		h.expect("denied 100ms early", r, 429, map[string]string{
			"Retry-After": "1", "RateLimit": `"default";r=0;t=1`,
		}, nil)
	}},
	{"multi-window", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(2), core.Limit{N: 1000, Per: 24 * time.Hour, Name: "daily"}}})})
		h.expect("first", h.get(url+"/hello"), 200, map[string]string{
			"RateLimit-Policy":  `"api-s";q=2;w=1, "daily";q=1000;w=86400`,
			"RateLimit":         `"api-s";r=1;t=1, "daily";r=999;t=86400`,
			"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1",
		}, nil)
		h.get(url + "/hello")
		r := h.get(url + "/hello")
		h.expect("denied by the per-second window", r, 429, map[string]string{
			"RateLimit": `"api-s";r=0;t=1`, "Retry-After": "1",
		}, nil)
		h.expectProblem("denied", r.body, problem{ViolatedPolicies: []string{"api-s"}, Limit: 2, Remaining: 0, RetryAfter: 1, Rule: "api"})
	}},
	{"delay", func(h *adapterHarness) {
		var waited []time.Duration
		var mu sync.Mutex
		wait := httpcontract.WithWait(func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			waited = append(waited, d)
			return nil
		})
		url := h.serve([]core.Option{core.WithRules(core.Rule{Limits: []core.Limit{core.PerSecond(2)}, MaxDelay: time.Second})}, wait)
		h.get(url + "/hello")
		h.get(url + "/hello")
		h.expect("delayed", h.get(url+"/hello"), 200, map[string]string{"X-RateLimit-Remaining": "0"}, ptr("hello\n"))
		mu.Lock()
		defer mu.Unlock()
		if len(waited) != 1 || waited[0] != 500*time.Millisecond {
			h.t.Errorf("waits = %v, want one of 500ms", waited)
		}
		if got := h.counter("/hello").Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3", got)
		}
	}},
	{"delay-canceled", func(h *adapterHarness) {
		waiting, returned, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
		defer close(stop) // frees a handler stuck in a wait whose context never ends
		wait := httpcontract.WithWait(func(ctx context.Context, d time.Duration) error {
			close(waiting)
			select {
			case <-ctx.Done():
				close(returned)
				return ctx.Err()
			case <-stop:
				return errors.New("testkit: the test gave up waiting")
			}
		})
		url := h.serve([]core.Option{core.WithRules(core.Rule{Limits: []core.Limit{core.PerSecond(1)}, MaxDelay: time.Minute})}, wait)
		h.get(url + "/hello")
		ctx, cancel := context.WithCancel(h.t.Context())
		defer cancel()
		go func() {
			select {
			case <-waiting:
				cancel()
			case <-ctx.Done():
			}
		}()
		if r := h.do(ctx, http.MethodGet, url+"/hello"); r.err == nil {
			h.t.Errorf("canceled request got a response: %d", r.status)
		}
		// An adapter that never calls the WithWait function, or calls it
		// with a context that outlives the client, must fail here, not hang.
		select {
		case <-waiting:
		default:
			h.t.Fatalf("the Delayed request never reached the WithWait function")
		}
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			h.t.Fatalf("the wait did not end when the client went away: wait with the request's context")
		}
		// The wait ended with the client; Close waits for the request to
		// finish, and the handler must not have run for it.
		h.srv.Close()
		if got := h.counter("/hello").Load(); got != 1 {
			h.t.Errorf("handler ran %d times, want 1", got)
		}
	}},
	{"exempt", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1)), core.WithRules(core.Rule{Name: "health", Path: "/healthz", Exempt: true})})
		for range 3 {
			h.expect("exempt", h.get(url+"/healthz"), 200, noLimitHeaders, ptr("ok\n"))
		}
	}},
	{"no-rule-matches", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(1)}})})
		for range 3 {
			h.expect("unlimited", h.get(url+"/hello"), 200, noLimitHeaders, ptr("hello\n"))
		}
	}},
	{"shadow", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Shadow: true, Limits: []core.Limit{core.PerMinute(1)}})})
		for range 3 {
			h.expect("shadow", h.get(url+"/hello"), 200, noLimitHeaders, ptr("hello\n"))
		}
	}},
	{"shadow-headers", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Shadow: true, Limits: []core.Limit{core.PerMinute(1)}})},
			httpcontract.WithShadowHeaders(true))
		h.get(url + "/hello")
		h.expect("shadow-denied", h.get(url+"/hello"), 200, map[string]string{
			"X-RateLimit-Remaining": "0", "RateLimit": `"default";r=0;t=60`, "Retry-After": "",
		}, ptr("hello\n"))
	}},
	{"fail-open", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1)), core.WithBackend(failingBackend{})})
		for range 2 {
			r := h.get(url + "/hello")
			h.expect("fail-open", r, 200, map[string]string{
				"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": "",
				"RateLimit-Policy": "", "RateLimit": "", "Retry-After": "",
			}, ptr("hello\n"))
		}
		h.expectReported(core.ErrBackendUnavailable)
	}},
	{"fail-closed", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1)), core.WithBackend(failingBackend{}), core.WithFailure(core.Failure{Mode: "closed"})})
		r := h.get(url + "/hello")
		h.expect("fail-closed", r, 503, map[string]string{
			"Retry-After": "1", "Content-Type": "application/problem+json", "Cache-Control": "no-store",
			"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "RateLimit": "",
		}, nil)
		if strings.Contains(r.body, "secret") || strings.Contains(r.body, "6379") {
			h.t.Errorf("the 503 body leaks the backend error: %q", r.body)
		}
		if got := h.counter("/hello").Load(); got != 0 {
			h.t.Errorf("handler ran %d times, want 0", got)
		}
		h.expectReported(core.ErrBackendUnavailable)
	}},
	{"decide-error", func(h *adapterHarness) {
		lim, err := core.New(core.WithDefault(core.PerMinute(5)))
		if err != nil {
			h.t.Fatal(err)
		}
		srv := httptest.NewServer(h.newAdapter(h.t, lim, h.routes(), httpcontract.WithErrorHandler(func(_ *http.Request, err error) { h.errs <- err })))
		h.t.Cleanup(srv.Close)
		lim.Close()
		r := h.get(srv.URL + "/hello")
		h.expect("closed limiter", r, 503, map[string]string{"Retry-After": "1"}, nil)
		if strings.Contains(r.body, "closed") {
			h.t.Errorf("the 503 body leaks the error: %q", r.body)
		}
		h.expectReported(core.ErrClosed)
	}},
	{"concurrency-release", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(1)}})})
		done := make(chan response, 1)
		go func() { done <- h.do(h.t.Context(), http.MethodGet, url+"/slow") }()
		<-h.entered
		r := h.get(url + "/slow")
		h.expect("second while the first runs", r, 429, map[string]string{"Retry-After": "1",
			"RateLimit-Policy": `"default";q=1`}, nil)
		close(h.slow)
		if first := <-done; first.err != nil || first.status != 200 {
			h.t.Fatalf("first request: %d %v", first.status, first.err)
		}
		for i := range 3 {
			r := h.get(url + "/slow")
			h.expect(fmt.Sprintf("after release %d", i), r, 200, map[string]string{"X-RateLimit-Remaining": "0"}, ptr("slow\n"))
			<-h.entered
		}
	}},
	{"concurrency-release-on-panic", func(h *adapterHarness) {
		url := h.serve([]core.Option{core.WithRules(core.Rule{Algorithm: backend.Concurrency, Limits: []core.Limit{core.Concurrent(1)}})})
		for i := range 3 {
			r := h.do(h.t.Context(), http.MethodGet, url+"/panic")
			if r.err == nil && r.status != 500 {
				h.t.Errorf("panic %d: status %d, want a 500 or a dropped connection", i, r.status)
			}
		}
		if got := h.counter("/panic").Load(); got != 3 {
			h.t.Errorf("the panicking handler ran %d times, want 3: its slot was not released", got)
		}
	}},
	{"head-and-options", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(2))})
		r := h.do(h.t.Context(), http.MethodHead, url+"/hello")
		h.expect("HEAD", r, 200, map[string]string{"X-RateLimit-Remaining": "1", "X-RateLimit-Limit": "2"}, ptr(""))
		r = h.do(h.t.Context(), http.MethodOptions, url+"/hello")
		h.expect("OPTIONS", r, 200, map[string]string{"X-RateLimit-Remaining": "0"}, ptr("hello\n"))
		r = h.do(h.t.Context(), http.MethodHead, url+"/hello")
		h.expect("HEAD denied", r, 429, map[string]string{"Retry-After": "30", "X-RateLimit-Remaining": "0"}, ptr(""))
		r = h.do(h.t.Context(), http.MethodOptions, url+"/hello")
		h.expect("OPTIONS denied", r, 429, map[string]string{"Retry-After": "30", "Content-Type": "application/problem+json"}, nil)
	}},
	{"route-template-shares-a-counter", func(h *adapterHarness) {
		// The rule pattern alone may match every user's path, so the
		// identifier also checks that the limiter was given the route.
		var mu sync.Mutex
		var seen []string
		record := core.WithIdentifier(identifierFunc(func(_ context.Context, r core.Request) (core.Identity, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.Route)
			return core.Identity{Kind: core.KindCustom, Value: "client"}, nil
		}))
		url := h.serve([]core.Option{record, defaultRule(core.PerMinute(100)),
			core.WithRules(core.Rule{Name: "users", Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(2)}})})
		h.expect("/users/1", h.get(url+"/users/1"), 200, map[string]string{"X-RateLimit-Remaining": "1"}, nil)
		h.expect("/users/2", h.get(url+"/users/2"), 200, map[string]string{"X-RateLimit-Remaining": "0"}, nil)
		h.expect("/users/3", h.get(url+"/users/3"), 429, map[string]string{"Retry-After": "30"}, nil)
		mu.Lock()
		defer mu.Unlock()
		for i, route := range seen {
			if route != "/users/{id}" {
				h.t.Errorf("request %d reached the limiter with Route %q, want %q", i+1, route, "/users/{id}")
			}
		}
	}},
	{"header-profiles", func(h *adapterHarness) {
		xTrio := []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
		trio := []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
		draft10 := []string{"RateLimit-Policy", "RateLimit"}
		all := append(append(append([]string(nil), xTrio...), trio...), draft10...)
		for _, tc := range []struct {
			name    string
			set     httpcontract.Headers
			dflt    bool // no WithHeaders: the default
			present []string
		}{
			{"default", 0, true, draft10},
			{"draft10", httpcontract.HeadersDraft10, false, draft10},
			{"triple", httpcontract.HeadersTriple, false, trio},
			{"x", httpcontract.HeadersX, false, xTrio},
			{"x-unix", httpcontract.HeadersXUnix, false, xTrio},
			{"draft10+x", httpcontract.HeadersDraft10 | httpcontract.HeadersX, false, append(append([]string(nil), draft10...), xTrio...)},
			{"all", httpcontract.HeadersDraft10 | httpcontract.HeadersTriple | httpcontract.HeadersX, false, all},
			{"none", 0, false, nil},
		} {
			var url string
			if tc.dflt {
				url = h.start([]core.Option{defaultRule(core.PerMinute(1))}, false)
			} else {
				url = h.serve([]core.Option{defaultRule(core.PerMinute(1))}, httpcontract.WithHeaders(tc.set))
			}
			for i, status := range []int{200, 429} {
				r := h.get(url + "/hello")
				want := map[string]string{}
				for _, k := range all {
					if !slices.Contains(tc.present, k) {
						want[k] = ""
					}
				}
				h.expect(fmt.Sprintf("%s request %d", tc.name, i), r, status, want, nil)
				for _, k := range tc.present {
					if r.header.Get(k) == "" {
						h.t.Errorf("%s request %d: %s missing", tc.name, i, k)
					}
				}
				if status == 429 && r.header.Get("Retry-After") != "60" {
					h.t.Errorf("%s: a denial lacks Retry-After", tc.name)
				}
			}
		}
	}},
	{"reset-unix", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1))}, httpcontract.WithHeaders(httpcontract.HeadersXUnix))
		h.expect("unix reset", h.get(url+"/hello"), 200, map[string]string{
			"X-RateLimit-Reset": fmt.Sprint(Epoch.Add(time.Minute).Unix()),
		}, nil)
	}},
	{"problem-type", func(h *adapterHarness) {
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1))}, httpcontract.WithProblemType("https://example.com/probs/slow-down"))
		h.get(url + "/hello")
		r := h.get(url + "/hello")
		var p struct{ Type string }
		if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 429 || p.Type != "https://example.com/probs/slow-down" {
			h.t.Errorf("429 with WithProblemType: status %d, type %q (%v), want the configured type", r.status, p.Type, err)
		}
	}},
	{"client-behind-trusted-proxy", func(h *adapterHarness) {
		// The test client is the proxy (127.0.0.1, trusted): each client
		// named in X-Forwarded-For has its own counter, and a forged
		// leftmost entry does not make one client into another. The
		// adapter must hand the connection's address and every header
		// line to the limiter untouched.
		id, err := identify.New(identify.WithTrustedProxies("127.0.0.1/32", "::1/128"))
		if err != nil {
			h.t.Fatal(err)
		}
		url := h.serve([]core.Option{core.WithIdentifier(id), defaultRule(core.PerMinute(1))})
		as := func(xff ...string) response {
			h.t.Helper()
			req, err := http.NewRequestWithContext(h.t.Context(), http.MethodGet, url+"/hello", nil)
			if err != nil {
				h.t.Fatal(err)
			}
			for _, v := range xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			res, err := client.Do(req)
			if err != nil {
				h.t.Fatal(err)
			}
			res.Body.Close()
			return response{status: res.StatusCode, header: res.Header}
		}
		h.expect("client A", as("198.51.100.7"), 200, nil, nil)
		h.expect("client A again", as("198.51.100.7"), 429, nil, nil)
		h.expect("client B", as("198.51.100.8"), 200, nil, nil)
		h.expect("client A forging a leftmost B", as("198.51.100.8, 198.51.100.7"), 429, nil, nil)
		h.expect("client A on a second header line", as("203.0.113.1", "198.51.100.7"), 429, nil, nil)
		h.expect("client C", as("203.0.113.1", "198.51.100.9"), 200, nil, nil)
	}},
	{"custom-deny", func(h *adapterHarness) {
		deny := httpcontract.WithDenyHandler(func(w http.ResponseWriter, r *http.Request, d *core.Decision) {
			w.WriteHeader(http.StatusTeapot)
			fmt.Fprintf(w, "slow down, %s", d.Rule)
		})
		url := h.serve([]core.Option{defaultRule(core.PerMinute(1))}, deny)
		h.get(url + "/hello")
		// The handler sets no header: the contract's own, Cache-Control
		// included, are set before it runs, so that no handler can forget
		// them and let a cache keep a 429.
		h.expect("custom", h.get(url+"/hello"), http.StatusTeapot, map[string]string{
			"Retry-After": "60", "X-RateLimit-Remaining": "0", "Cache-Control": "no-store",
		}, ptr("slow down, default"))
	}},
}

// expectReported checks that the error handler received an error wrapping
// target.
func (h *adapterHarness) expectReported(target error) {
	h.t.Helper()
	select {
	case err := <-h.errs:
		if !errors.Is(err, target) {
			h.t.Errorf("error handler got %v, want it to wrap %v", err, target)
		}
	case <-time.After(5 * time.Second):
		h.t.Errorf("error handler was not called with %v", target)
	}
}

// identifierFunc adapts a function to a core.Identifier.
type identifierFunc func(ctx context.Context, r core.Request) (core.Identity, error)

func (f identifierFunc) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	return f(ctx, r)
}
