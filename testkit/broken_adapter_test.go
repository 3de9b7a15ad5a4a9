package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/testkit"
)

// The tests in this file prove that RunAdapterSuite can fail: each broken
// adapter below breaks one rule of the HTTP contract, and the suite must
// report it in the subtest that checks that rule, for the reason that rule
// gives, while subtests about other rules still pass.
//
// Like TestBrokenBackends, TestBrokenAdapters re-executes this test binary
// once per broken adapter, running only TestBrokenAdapterHelper with
// brokenAdapterEnv naming the adapter. To stay fast it runs only the subtests
// it checks.
//
// Each broken adapter is a net/http handler around an http.ServeMux, as
// sluicehttp builds it, with one thing done wrong. Where it can, it leaves the
// rest to httpcontract.Middleware, so that nothing but the breakage differs
// from a conforming adapter.

// brokenAdapterEnv names the broken adapter TestBrokenAdapterHelper runs the
// suite on.
const brokenAdapterEnv = "SLUICE_TESTKIT_BROKEN_ADAPTER"

// brokenAdapters are the broken adapters, the subtests each must fail with
// the message the suite gives for that rule, and subtests it must still
// pass, showing that the failure is specific.
var brokenAdapters = []struct {
	name string
	new  testkit.AdapterFactory
	fail string
	msg  string // in the failing subtest's output
	pass []string
}{
	{
		name: "no-release-on-panic",
		new:  byHand{deferRelease: false, wait: true}.adapter,
		fail: "concurrency-release-on-panic",
		msg:  "its slot was not released",
		pass: []string{"concurrency-release", "allow-then-deny", "route-template-shares-a-counter", "exempt", "head-and-options"},
	},
	{
		name: "ignores-route-template",
		new:  withoutServeMux,
		fail: "route-template-shares-a-counter",
		msg:  `reached the limiter with Route "", want "/users/{id}"`,
		pass: []string{"allow-then-deny", "exempt", "delay", "concurrency-release-on-panic", "fail-closed"},
	},
	{
		name: "headers-on-exempt",
		new:  alwaysSetsLimit,
		fail: "exempt",
		msg:  `exempt: X-RateLimit-Limit = "100", want ""`,
		pass: []string{"allow-then-deny", "multi-window", "route-template-shares-a-counter", "delay", "fail-open"},
	},
	{
		name: "leaks-backend-error",
		new:  leaksBackendError,
		fail: "fail-closed",
		msg:  "the 503 body leaks the backend error",
		pass: []string{"allow-then-deny", "exempt", "fail-open", "decide-error", "route-template-shares-a-counter"},
	},
	{
		name: "retry-after-rounded-down",
		new:  truncatesRetryAfter,
		fail: "retry-after-rounds-up",
		msg:  `denied 100ms early: Retry-After = "0", want "1"`,
		pass: []string{"allow-then-deny", "multi-window", "route-template-shares-a-counter", "head-and-options", "exempt"},
	},
	{
		name: "serves-after-canceled-delay",
		new:  servesAfterCanceledDelay,
		fail: "delay-canceled",
		msg:  "handler ran 2 times, want 1",
		pass: []string{"delay", "allow-then-deny", "exempt", "concurrency-release-on-panic"},
	},
	{
		name: "never-waits",
		new:  byHand{deferRelease: true, wait: false}.adapter,
		fail: "delay-canceled",
		msg:  "the Delayed request never reached the WithWait function",
		pass: []string{"allow-then-deny", "exempt", "concurrency-release", "concurrency-release-on-panic"},
	},
	{
		name: "first-header-line-only",
		new:  firstHeaderLineOnly,
		fail: "client-behind-trusted-proxy",
		msg:  "client A on a second header line: status 200, want 429",
		pass: []string{"allow-then-deny", "exempt", "route-template-shares-a-counter", "header-profiles"},
	},
	{
		// The suite waits 5s for the wait to end before it fails this one.
		name: "wait-outlives-client",
		new:  waitOutlivesClient,
		fail: "delay-canceled",
		msg:  "the wait did not end when the client went away",
		pass: []string{"delay", "allow-then-deny", "exempt", "concurrency-release-on-panic"},
	},
}

// TestBrokenAdapterHelper runs the suite on the broken adapter named by
// brokenAdapterEnv. It does nothing when brokenAdapterEnv is unset: it is
// meant to run only as TestBrokenAdapters's subprocess.
func TestBrokenAdapterHelper(t *testing.T) {
	name := os.Getenv(brokenAdapterEnv)
	if name == "" {
		return
	}
	for _, ba := range brokenAdapters {
		if ba.name == name {
			testkit.RunAdapterSuite(t, ba.new)
			return
		}
	}
	t.Fatalf("%s=%q: no such broken adapter", brokenAdapterEnv, name)
}

// adapterVerdictLine matches a subtest's verdict in -test.v output.
var adapterVerdictLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): TestBrokenAdapterHelper/(\S+) \(`)

func TestBrokenAdapters(t *testing.T) {
	for _, ba := range brokenAdapters {
		t.Run(ba.name, func(t *testing.T) {
			t.Parallel()
			subtests := append([]string{ba.fail}, ba.pass...)
			output, err := runChild(t, brokenAdapterEnv+"="+ba.name, "TestBrokenAdapterHelper", subtests)

			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Errorf("the suite passed an adapter that %s; it must fail", ba.name)
			case !errors.As(err, &exit):
				t.Fatalf("running %s: %v", os.Args[0], err)
			}
			if strings.Contains(output, "panic: ") {
				t.Errorf("the subprocess panicked or timed out instead of failing cleanly")
			}

			verdicts := map[string]string{}
			for _, m := range adapterVerdictLine.FindAllStringSubmatch(output, -1) {
				verdicts[m[2]] = m[1]
			}
			if got := verdicts[ba.fail]; got != "FAIL" {
				t.Errorf("subtest %s: %s, want FAIL", ba.fail, verdictText(got))
			} else if !strings.Contains(output, ba.msg) {
				t.Errorf("subtest %s failed, but not with %q", ba.fail, ba.msg)
			}
			for _, name := range ba.pass {
				if got := verdicts[name]; got != "PASS" {
					t.Errorf("subtest %s: %s, want PASS (the failure must be specific)", name, verdictText(got))
				}
			}
			if t.Failed() {
				t.Logf("subprocess output:\n%s", output)
			}
		})
	}
}

// runChild re-executes the test binary, running only the given subtests of
// the test named test, with env added to its environment, and returns its
// combined output and exit error.
func runChild(t *testing.T, env, test string, subtests []string) (string, error) {
	t.Helper()
	quoted := make([]string, len(subtests))
	for i, s := range subtests {
		quoted[i] = regexp.QuoteMeta(s)
	}
	run := "^" + regexp.QuoteMeta(test) + "$/^(" + strings.Join(quoted, "|") + ")$"
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run="+run, "-test.v", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func verdictText(v string) string {
	if v == "" {
		return "did not run"
	}
	return v
}

// brokenMux serves routes as sluicehttp's tests do: one "METHOD /path"
// pattern per route.
func brokenMux(routes []testkit.Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Method+" "+r.Pattern, r.Handler)
	}
	return mux
}

// byHand is an adapter written without Middleware.Serve: it calls Decide
// itself and uses the Middleware only for the request and the headers. It
// cannot see the WithWait, WithDenyHandler and WithErrorHandler options, so
// only subtests that need none of them are expected to pass.
type byHand struct {
	// deferRelease releases a concurrency slot with defer; without it the
	// slot is released after the handler returns, so a panic skips it and
	// the slot stays taken until its lease expires.
	deferRelease bool
	// wait waits a Delayed decision's delay, on a timer, until the client
	// goes away; without it a Delayed request is served at once.
	wait bool
}

func (a byHand) adapter(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := lim.Decide(r.Context(), core.Request{
			Method: r.Method, Path: r.URL.Path, Route: routeOf(mux, r), RemoteAddr: r.RemoteAddr, Header: r.Header,
		})
		if err != nil || d.Outcome == core.FailedClosed {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		switch d.Outcome {
		case core.Denied:
			writeByHand(w.Header(), &d)
			w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
			writeProblem(w, &d, ceilSeconds(d.RetryAfter))
			return
		case core.Delayed:
			if a.wait {
				timer := time.NewTimer(d.Delay)
				defer timer.Stop()
				select {
				case <-timer.C:
				case <-r.Context().Done():
					d.Release()
					return
				}
			}
		}
		writeByHand(w.Header(), &d)
		if a.deferRelease {
			defer d.Release()
		}
		mux.ServeHTTP(w, r)
		if !a.deferRelease {
			d.Release()
		}
	})
}

// writeByHand writes the draft-10 and X-RateLimit fields of a decision of a
// one-window rule, as the suite's serve asks a conforming adapter to.
func writeByHand(h http.Header, d *core.Decision) {
	if d.Outcome == core.Exempt || len(d.Windows()) == 0 {
		return
	}
	w := d.Windows()[0]
	h.Set("X-RateLimit-Limit", strconv.FormatInt(d.Limit, 10))
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(d.Remaining, 10))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.ResetAfter), 10))
	policy := fmt.Sprintf("%q;q=%d", w.Limit.Name, w.Limit.N)
	if d.Algorithm != backend.Concurrency {
		policy += fmt.Sprintf(";w=%d", ceilSeconds(w.Limit.Per))
	}
	h.Set("RateLimit-Policy", policy)
	t := w.NextAfter
	if d.Outcome == core.Denied {
		t = w.RetryAfter
	}
	h.Set("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", w.Limit.Name, max(0, w.Remaining), ceilSeconds(t)))
}

// writeProblem writes a 429 with the problem body of the contract, which
// says to retry after retry seconds.
func writeProblem(w http.ResponseWriter, d *core.Decision, retry int64) {
	var violated []string
	for _, ws := range d.Windows() {
		if ws.RetryAfter > 0 {
			violated = append(violated, strconv.Quote(ws.Limit.Name))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Too Many Requests","status":429,"detail":"Request rate limit exceeded; retry after %d seconds.","violated-policies":[%s],"limit":%d,"remaining":%d,"retry_after":%d,"rule":%q}`,
		retry, strings.Join(violated, ","), d.Limit, max(0, d.Remaining), retry, d.Rule)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// routeOf returns the pattern of mux that r matches, without its method,
// as a conforming net/http adapter finds it.
func routeOf(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	return pattern
}

// withoutServeMux hides the mux from the middleware, which runs before it
// and so knows only the path: every /users/{id} is a path of its own and
// matches no "/users/{id}" rule.
func withoutServeMux(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	return httpcontract.New(lim, opts...).Handler(http.HandlerFunc(brokenMux(routes).ServeHTTP))
}

// firstHeaderLineOnly hands the limiter only the first line of each
// header, as an adapter reading a framework's Header.Get would: the client
// named on a later X-Forwarded-For line is lost.
func firstHeaderLineOnly(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	next := httpcontract.New(lim, opts...).Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		for k, v := range r.Header {
			h[k] = v[:1]
		}
		r2 := r.Clone(r.Context())
		r2.Header = h
		next.ServeHTTP(w, r2)
	})
}

// alwaysSetsLimit writes X-RateLimit-Limit on every response, so the
// responses the contract leaves without rate-limit fields (exempt ones among
// them) carry one. Limited responses overwrite it with the real value.
func alwaysSetsLimit(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	next := httpcontract.New(lim, opts...).Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Limit", "100")
		next.ServeHTTP(w, r)
	})
}

// leaksBackendError sends the backend's error text in the 503 it answers
// when the backend fails and the rule fails closed. It learns the error with
// Peek, which charges nothing, and lets the Middleware decide, report the
// error to the error handler and build the 503, whose detail it then
// replaces.
func leaksBackendError(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	m := httpcontract.New(lim, opts...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peek, err := lim.Peek(r.Context(), core.Request{Method: r.Method, Path: r.URL.Path, Route: routeOf(mux, r), RemoteAddr: r.RemoteAddr, Header: r.Header})
		if err != nil || peek.Outcome != core.FailedClosed {
			m.Serve(w, r, routeOf(mux, r), func() { mux.ServeHTTP(w, r) })
			return
		}
		rec := httptest.NewRecorder()
		if m.Serve(rec, r, routeOf(mux, r), func() { mux.ServeHTTP(w, r) }) {
			return // the backend recovered in between; w has the response
		}
		body := strings.Replace(rec.Body.String(),
			"The service cannot apply its rate limits right now; retry later.",
			"rate limiter failed: "+strings.ReplaceAll(peek.Err.Error(), `"`, `'`), 1)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write([]byte(body))
	})
}

// truncatesRetryAfter writes Retry-After itself in its deny handler,
// truncating the wait to whole seconds: 100ms becomes 0, and a client
// retries too early. It replaces any deny handler the suite passes.
func truncatesRetryAfter(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	deny := httpcontract.WithDenyHandler(func(w http.ResponseWriter, r *http.Request, d *core.Decision) {
		truncated := int64(d.RetryAfter / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(truncated, 10))
		writeProblem(w, d, truncated)
	})
	return httpcontract.New(lim, append(opts, deny)...).Handler(mux)
}

// servesAfterCanceledDelay treats a Delayed request whose wait ended with
// the client as done waiting and runs the handler anyway.
func servesAfterCanceledDelay(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	m := httpcontract.New(lim, opts...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.Serve(w, r, routeOf(mux, r), func() { mux.ServeHTTP(w, r) }) {
			return
		}
		if r.Context().Err() != nil { // wrong: the client is gone
			mux.ServeHTTP(w, r)
		}
	})
}

// waitOutlivesClient decides and waits on a context detached from the
// request's, so a Delayed request keeps waiting after its client has gone.
func waitOutlivesClient(t *testing.T, lim *core.Limiter, routes []testkit.Route, opts ...httpcontract.Option) http.Handler {
	mux := brokenMux(routes)
	m := httpcontract.New(lim, opts...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		detached := r.WithContext(context.WithoutCancel(r.Context()))
		m.Serve(w, detached, routeOf(mux, r), func() { mux.ServeHTTP(w, r) })
	})
}
