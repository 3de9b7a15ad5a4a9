package sluiceadmin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sluiceadmin "github.com/sluicehq/sluice/admin"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit/redistest"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const token = "s3cret"

// counting is a backend that counts the calls it gets.
type counting struct {
	backend.Backend
	calls atomic.Int64
}

func (c *counting) Apply(ctx context.Context, req backend.Request) (backend.Result, error) {
	c.calls.Add(1)
	return c.Backend.Apply(ctx, req)
}

func (c *counting) Reset(ctx context.Context, ns, key string) error {
	c.calls.Add(1)
	return c.Backend.Reset(ctx, ns, key)
}

func (c *counting) Penalize(ctx context.Context, req backend.PenaltyRequest) (backend.PenaltyResult, error) {
	c.calls.Add(1)
	return c.Backend.(backend.Penalizer).Penalize(ctx, req)
}

// rules are the rules every harness serves.
var rules = []core.Rule{
	{Name: "api", Limits: []core.Limit{core.PerMinute(3), core.PerHour(100)}},
	{Name: "login", Path: "/login", Methods: []string{"POST"}, Algorithm: backend.SlidingLog,
		Limits:  []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 2, Window: time.Minute, Base: 10 * time.Minute}},
	{Name: "health", Path: "/status", Exempt: true},
}

// harness is a Limiter on a backend, observed by Denials, with its admin
// API served over HTTP.
type harness struct {
	t       *testing.T
	lim     *core.Limiter
	clk     clock.Fake
	backend *counting
	url     string
}

// backends are the backends every admin test runs on: memory, and a real
// redis-server of the test's own.
var backends = map[string]func(t *testing.T, clk clock.Clock) backend.Backend{
	"memory": func(t *testing.T, clk clock.Clock) backend.Backend {
		m := memory.New(memory.WithClock(clk))
		t.Cleanup(func() { m.Close() })
		return m
	},
	"redis": func(t *testing.T, _ clock.Clock) backend.Backend {
		srv := redistest.Start(t)
		b, err := sluiceredis.NewFromURL("redis://"+srv.Addr, sluiceredis.WithCallerClock())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	},
}

// forEachBackend runs test once per backend.
func forEachBackend(t *testing.T, test func(t *testing.T, h *harness)) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newHarness(t, newBackend, sluiceadmin.BearerToken(token)))
		})
	}
}

func newHarness(t *testing.T, newBackend func(*testing.T, clock.Clock) backend.Backend, auth sluiceadmin.Authorizer) *harness {
	t.Helper()
	clk := clock.NewFake(epoch)
	b := &counting{Backend: newBackend(t, clk)}
	denials := sluiceadmin.NewDenials(0)
	lim, err := core.New(core.WithClock(clk), core.WithBackend(b), core.WithObserver(denials), core.WithRules(rules...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	h, err := sluiceadmin.Handler(lim, auth, sluiceadmin.WithDenials(denials))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, lim: lim, clk: clk, backend: b, url: srv.URL + "/admin"}
}

// decide sends one request of client to path and returns its outcome.
func (h *harness) decide(method, path, client string) core.Decision {
	h.t.Helper()
	d, err := h.lim.Decide(h.t.Context(), core.Request{Method: method, Path: path, RemoteAddr: client + ":1234"})
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// call makes one admin request with the token and decodes the JSON answer
// into out; it returns the status.
func (h *harness) call(method, path, body string, out any) int {
	h.t.Helper()
	return call(h.t, method, h.url+path, body, "Bearer "+token, out)
}

func call(t *testing.T, method, url, body, auth string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, got)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

// The answers, as a client of the API reads them.
type (
	client struct{ Kind, Key, Tier string }
	window struct {
		Limit struct {
			Limit string
			N     int64
			Per   float64
		}
		Remaining                         int64
		ResetAfter, RetryAfter, NextAfter float64 `json:"-"`
	}
	state struct {
		Rule, Outcome string
		Blocked       bool
		RetryAfter    float64 `json:"retry_after"`
		Windows       []window
	}
	peekAnswer struct {
		Client client
		Rules  []state
	}
	changeAnswer struct {
		Client client
		Rules  []string
	}
	deniedAnswer struct {
		Clients []struct {
			Rule       string
			Client     client
			Blocked    bool
			RetryAfter float64   `json:"retry_after"`
			LastDenied time.Time `json:"last_denied"`
		}
		Dropped uint64
	}
	errorAnswer struct{ Error string }
)

func TestHandlerNeedsAnAuthorizer(t *testing.T) {
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	if h, err := sluiceadmin.Handler(lim, nil); err == nil || h != nil {
		t.Errorf("Handler(lim, nil) = %v, %v; want an error and no handler", h, err)
	}
	if _, err := sluiceadmin.Handler(nil, sluiceadmin.BearerToken(token)); err == nil {
		t.Error("Handler(nil, auth): no error")
	}
}

// TestRefused: a request the authorizer refuses gets 403, whatever it
// asks, and the backend sees no call; the authorizer is told the op.
func TestRefused(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var asked []string
			h := newHarness(t, newBackend, func(r *http.Request, op string) bool {
				asked = append(asked, op) // the test's requests are sequential
				return false
			})
			h.decide("GET", "/", "192.0.2.1")
			calls := h.backend.calls.Load()
			reqs := []struct{ method, path, body string }{
				{"GET", "/rules", ""},
				{"GET", "/peek?key=192.0.2.1", ""},
				{"GET", "/denied", ""},
				{"POST", "/reset", `{"key":"192.0.2.1"}`},
				{"POST", "/unblock", `{"key":"192.0.2.1"}`},
				{"GET", "/reset", ""}, // refused before the method is checked
			}
			for _, r := range reqs {
				var e errorAnswer
				if got := call(t, r.method, h.url+r.path, r.body, "Bearer "+token, &e); got != http.StatusForbidden {
					t.Errorf("%s %s: status %d, want 403", r.method, r.path, got)
				}
				if e.Error != "sluiceadmin: forbidden" {
					t.Errorf("%s %s: error %q", r.method, r.path, e.Error)
				}
			}
			if got := h.backend.calls.Load() - calls; got != 0 {
				t.Errorf("refused requests made %d backend calls, want 0", got)
			}
			if got, want := strings.Join(asked, " "), "rules peek denied reset unblock reset"; got != want {
				t.Errorf("the authorizer was asked %q, want %q", got, want)
			}
			if d := h.decide("GET", "/", "192.0.2.1"); d.Remaining != 1 {
				t.Errorf("after refused resets: remaining %d, want 1 (nothing was reset)", d.Remaining)
			}
		})
	}
}

// TestBearerToken: only the exact token passes; an empty token passes
// nobody.
func TestBearerToken(t *testing.T) {
	auth := sluiceadmin.BearerToken(token)
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"Bearer " + token, true},
		{"Bearer " + token + "x", false},
		{"bearer " + token, false},
		{token, false},
		{"", false},
	} {
		r := httptest.NewRequest("GET", "/rules", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if got := auth(r, "rules"); got != c.want {
			t.Errorf("Authorization %q: %v, want %v", c.header, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "/rules", nil)
	r.Header.Set("Authorization", "Bearer ")
	if sluiceadmin.BearerToken("")(r, "rules") {
		t.Error(`BearerToken(""): "Bearer " passes`)
	}
}

func TestRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		var got struct {
			Rules []struct {
				Name, Path, Algorithm string
				Methods               []string
				Exempt                bool
				Limits                []struct{ Limit string }
				Penalty               *struct {
					Threshold    int64
					Window, Base float64
					Max          float64
				}
			}
		}
		if s := h.call("GET", "/rules", "", &got); s != 200 {
			t.Fatalf("status %d", s)
		}
		if len(got.Rules) != 3 {
			t.Fatalf("%d rules, want 3: %+v", len(got.Rules), got.Rules)
		}
		login, health, api := got.Rules[0], got.Rules[1], got.Rules[2] // precedence order: paths first
		if api.Name != "api" || api.Algorithm != "token_bucket" || len(api.Limits) != 2 || api.Limits[0].Limit != "3/m" || api.Limits[1].Limit != "100/h" {
			t.Errorf("api: %+v", api)
		}
		if login.Path != "/login" || login.Algorithm != "sliding_log" || strings.Join(login.Methods, ",") != "POST" ||
			login.Penalty == nil || login.Penalty.Threshold != 2 || login.Penalty.Base != 600 || login.Penalty.Max != 3600 {
			t.Errorf("login: %+v (penalty %+v)", login, login.Penalty)
		}
		if health.Name != "health" || !health.Exempt {
			t.Errorf("health: %+v", health)
		}
	})
}

func TestPeek(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		h.decide("GET", "/", "192.0.2.1")
		h.decide("GET", "/", "192.0.2.1")
		for range 2 { // a peek charges nothing
			var got peekAnswer
			if s := h.call("GET", "/peek?kind=ip&key=192.0.2.1&rule=api", "", &got); s != 200 {
				t.Fatalf("status %d", s)
			}
			if got.Client != (client{"ip", "192.0.2.1", "anonymous"}) || len(got.Rules) != 1 {
				t.Fatalf("peek: %+v", got)
			}
			s := got.Rules[0]
			if s.Rule != "api" || s.Outcome != "allowed" || len(s.Windows) != 2 ||
				s.Windows[0].Remaining != 1 || s.Windows[0].Limit.Limit != "3/m" || s.Windows[0].Limit.Per != 60 || s.Windows[1].Remaining != 98 {
				t.Errorf("peek api: %+v", s)
			}
		}
		// Without a rule: every rule that limits, the exempt one left out.
		var all peekAnswer
		h.call("GET", "/peek?key=192.0.2.1", "", &all)
		var names []string
		for _, s := range all.Rules {
			names = append(names, s.Rule+"="+s.Outcome)
		}
		if got, want := strings.Join(names, " "), "login=allowed api=allowed"; got != want {
			t.Errorf("peek every rule: %s, want %s", got, want)
		}
		h.decide("GET", "/", "192.0.2.1")
		var denied peekAnswer
		h.call("GET", "/peek?key=192.0.2.1&rule=api", "", &denied)
		if s := denied.Rules[0]; s.Outcome != "denied" || s.RetryAfter != 20 {
			t.Errorf("peek of a client over its limit: %+v, want denied, retry after 20s", s)
		}
	})
}

func TestReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		for range 4 {
			h.decide("GET", "/", "192.0.2.1")
		}
		h.decide("GET", "/", "192.0.2.2")
		if d := h.decide("GET", "/", "192.0.2.1"); d.Outcome != core.Denied {
			t.Fatalf("before the reset: %v", d.Outcome)
		}
		var got changeAnswer
		if s := h.call("POST", "/reset", `{"kind":"ip","key":"192.0.2.1","rule":"api"}`, &got); s != 200 {
			t.Fatalf("status %d", s)
		}
		if got.Client.Key != "192.0.2.1" || strings.Join(got.Rules, ",") != "api" {
			t.Errorf("reset answered %+v", got)
		}
		if d := h.decide("GET", "/", "192.0.2.1"); d.Outcome != core.Allowed || d.Remaining != 2 {
			t.Errorf("after the reset: %v, remaining %d; want allowed, 2", d.Outcome, d.Remaining)
		}
		if d := h.decide("GET", "/", "192.0.2.2"); d.Remaining != 1 {
			t.Errorf("another client after the reset: remaining %d, want 1 (untouched)", d.Remaining)
		}
		// Without a rule: every rule.
		h.call("POST", "/reset", `{"key":"192.0.2.2"}`, &got)
		if strings.Join(got.Rules, ",") != "login,api" {
			t.Errorf("reset of every rule: %v", got.Rules)
		}
		if d := h.decide("GET", "/", "192.0.2.2"); d.Remaining != 2 {
			t.Errorf("after the reset of every rule: remaining %d, want 2", d.Remaining)
		}
	})
}

func TestUnblock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		for range 3 { // allowed, denied, denied: the second denial blocks
			h.decide("POST", "/login", "192.0.2.1")
		}
		h.clk.Advance(time.Minute) // the window is free again, the block is not
		if d := h.decide("POST", "/login", "192.0.2.1"); !d.Blocked {
			t.Fatalf("before the unblock: %+v, want blocked", d)
		}
		var peek peekAnswer
		h.call("GET", "/peek?key=192.0.2.1&rule=login", "", &peek)
		if s := peek.Rules[0]; !s.Blocked || s.Outcome != "denied" || s.RetryAfter != 540 {
			t.Errorf("peek of a blocked client: %+v, want blocked for 540s", s)
		}
		var got changeAnswer
		if s := h.call("POST", "/unblock", `{"key":"192.0.2.1"}`, &got); s != 200 {
			t.Fatalf("status %d", s)
		}
		if strings.Join(got.Rules, ",") != "login" {
			t.Errorf("unblock answered %+v, want login", got)
		}
		if d := h.decide("POST", "/login", "192.0.2.1"); d.Outcome != core.Allowed {
			t.Errorf("after the unblock: %v, want allowed", d.Outcome)
		}
		// Nothing to lift: no rule is named.
		h.call("POST", "/unblock", `{"key":"192.0.2.1","rule":"login"}`, &got)
		if len(got.Rules) != 0 {
			t.Errorf("unblock of a client not blocked: %v, want none", got.Rules)
		}
		var e errorAnswer
		if s := h.call("POST", "/unblock", `{"key":"192.0.2.1","rule":"api"}`, &e); s != 400 || !strings.Contains(e.Error, "no penalty") {
			t.Errorf("unblock in a rule without a penalty: %d %q, want 400", s, e.Error)
		}
	})
}

func TestDenied(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		for range 4 {
			h.decide("GET", "/", "192.0.2.1") // denied by api, 20s
		}
		h.clk.Advance(time.Second)
		for range 3 {
			h.decide("POST", "/login", "192.0.2.2") // blocked by login, 10m
		}
		h.decide("GET", "/", "192.0.2.3") // allowed
		var got deniedAnswer
		if s := h.call("GET", "/denied", "", &got); s != 200 {
			t.Fatalf("status %d", s)
		}
		var list []string
		for _, c := range got.Clients {
			list = append(list, c.Rule+"/"+c.Client.Kind+":"+c.Client.Key+"/"+map[bool]string{true: "blocked", false: "denied"}[c.Blocked])
		}
		if got, want := strings.Join(list, " "), "login/ip:192.0.2.2/blocked api/ip:192.0.2.1/denied"; got != want {
			t.Errorf("denied: %s, want %s (most recent first)", got, want)
		}
		if len(got.Clients) == 2 && (got.Clients[0].RetryAfter != 600 || !got.Clients[0].LastDenied.Equal(epoch.Add(time.Second))) {
			t.Errorf("the blocked client: %+v, want retry after 600s, last denied at %v", got.Clients[0], epoch.Add(time.Second))
		}
		// A reset client is denied no more.
		h.call("POST", "/reset", `{"key":"192.0.2.1"}`, nil)
		h.call("GET", "/denied", "", &got)
		if len(got.Clients) != 1 || got.Clients[0].Client.Key != "192.0.2.2" {
			t.Errorf("after a reset: %+v, want only 192.0.2.2", got.Clients)
		}
		// A block that ended is no longer listed.
		h.clk.Advance(11 * time.Minute)
		h.decide("GET", "/", "192.0.2.3")
		h.call("GET", "/denied", "", &got)
		if len(got.Clients) != 0 || got.Dropped != 0 {
			t.Errorf("after the block ended: %+v, want none", got)
		}
	})
}

// TestDeniedBound: Denials keeps its bound, forgets the client denied
// least recently, and says how many it dropped.
func TestDeniedBound(t *testing.T) {
	clk := clock.NewFake(epoch)
	denials := sluiceadmin.NewDenials(2)
	lim, err := core.New(core.WithClock(clk), core.WithObserver(denials), core.WithDefault(core.PerHour(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	for _, c := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.3"} {
		for range 2 {
			lim.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: c + ":1"})
		}
		clk.Advance(time.Second)
	}
	h, _ := sluiceadmin.Handler(lim, sluiceadmin.BearerToken(token), sluiceadmin.WithDenials(denials))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var got deniedAnswer
	call(t, "GET", srv.URL+"/denied", "", "Bearer "+token, &got)
	var keys []string
	for _, c := range got.Clients {
		keys = append(keys, c.Client.Key)
	}
	if strings.Join(keys, " ") != "192.0.2.3 192.0.2.1" || got.Dropped != 1 {
		t.Errorf("denied %v, dropped %d; want 192.0.2.3 192.0.2.1, 1 dropped (192.0.2.2, denied least recently)", keys, got.Dropped)
	}
}

// TestBadRequests: every malformed request is a 4xx with a JSON error,
// and none reaches the backend.
func TestBadRequests(t *testing.T) {
	h := newHarness(t, backends["memory"], sluiceadmin.BearerToken(token))
	calls := h.backend.calls.Load()
	for _, c := range []struct {
		method, path, body, contentType string
		status                          int
		msg                             string
	}{
		{"GET", "/nowhere", "", "", 404, "no such endpoint"},
		{"GET", "/peek?kind=mac&key=x", "", "", 400, "unknown kind"},
		{"GET", "/peek?kind=ip", "", "", 400, "key is required"},
		{"GET", "/peek?key=192.0.2.1&rule=nope", "", "", 404, `no rule named "nope"`},
		{"GET", "/reset", "", "", 405, "reset takes POST"},
		{"POST", "/rules", "", "", 405, "rules takes GET"},
		{"POST", "/reset", `key=192.0.2.1`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"POST", "/reset", `{"key":"192.0.2.1","extra":1}`, "application/json", 400, "JSON object"},
		{"POST", "/reset", `{"key":"192.0.2.1","rule":"nope"}`, "application/json", 404, "no rule named"},
		{"POST", "/unblock", `{"kind":"ip"}`, "application/json", 400, "key is required"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), c.method, h.url+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+token)
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorAnswer
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s %s %s: %d %q, want %d with %q", c.method, c.path, c.body, resp.StatusCode, e.Error, c.status, c.msg)
		}
	}
	if got := h.backend.calls.Load() - calls; got != 0 {
		t.Errorf("bad requests made %d backend calls, want 0", got)
	}
}

// TestDeniedWithoutDenials: listing denials needs a Denials.
func TestDeniedWithoutDenials(t *testing.T) {
	lim, _ := core.New(core.WithDefault(core.PerMinute(1)))
	defer lim.Close()
	h, _ := sluiceadmin.Handler(lim, sluiceadmin.BearerToken(token))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var e errorAnswer
	if s := call(t, "GET", srv.URL+"/denied", "", "Bearer "+token, &e); s != http.StatusNotImplemented || !strings.Contains(e.Error, "WithDenials") {
		t.Errorf("GET /denied without Denials: %d %q, want 501 naming WithDenials", s, e.Error)
	}
}
