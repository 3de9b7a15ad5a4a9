package sluiceclient_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core/clock"
)

// github is a test server that limits as GitHub's REST API does: a quota
// per fixed window (an hour there, a minute here), reported on every
// response as X-RateLimit-Limit, -Remaining, -Used, -Resource and -Reset (a
// Unix time); a request over it gets 403 with X-RateLimit-Remaining: 0 and
// no Retry-After. refuse, when set, answers a request with a secondary
// limit's refusal instead (a 403 or 429 with Retry-After) when it returns a
// status.
type github struct {
	clk    clock.Clock
	limit  int
	window time.Duration
	refuse func(n int) (status int, retryAfter string)

	mu    sync.Mutex
	n     int
	start time.Time
	used  int
}

func (g *github) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	now := g.clk.Now()
	if start := now.Truncate(g.window); start != g.start {
		g.start, g.used = start, 0
	}
	if g.refuse != nil {
		if status, ra := g.refuse(g.n); status != 0 {
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(status)
			io.WriteString(w, `{"message":"You have exceeded a secondary rate limit."}`)
			return
		}
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(g.limit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(g.start.Add(g.window).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if g.used >= g.limit {
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(g.used))
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"API rate limit exceeded."}`)
		return
	}
	g.used++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(g.limit-g.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(g.used))
	io.WriteString(w, "{}")
}

func TestGitHub(t *testing.T) {
	t.Run("primary limit paced", func(t *testing.T) {
		t.Parallel()
		for _, callers := range []int{1, 4} {
			clk := newClock()
			srv := serve(t, clk, &github{clk: clk, limit: 5, window: time.Minute})
			var quotaWaits atomic.Int64
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport,
				sluiceclient.WithClock(clk), sluiceclient.WithJitter(0), sluiceclient.WithMaxWait(2*time.Minute),
				sluiceclient.WithOnWait(func(e sluiceclient.Event) {
					if e.Reason == "quota" {
						quotaWaits.Add(1)
					}
				}))}
			var next atomic.Int64
			drive(clk, callers, func(int) {
				for next.Add(1) <= 12 {
					resp, err := get(t, client, srv.URL)
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Errorf("%d callers: %v %v", callers, resp.Status, err)
					}
				}
			})
			client.CloseIdleConnections()
			// 5 a minute: minutes 0 and 1 send 5, minute 2 the last 2.
			if got, want := clk.Now().Sub(epoch), 2*time.Minute; got != want {
				t.Errorf("%d callers: 12 calls took %v, want %v", callers, got, want)
			}
			if got := srv.count(http.StatusForbidden); got != 0 {
				t.Errorf("%d callers: %d 403s on the wire, want 0", callers, got)
			}
			t.Logf("%d callers: 12 calls, %d 403s on the wire, %d waits for the reset, %v", callers, srv.count(http.StatusForbidden), quotaWaits.Load(), clk.Now().Sub(epoch))
		}
	})

	t.Run("reset beyond WithMaxWait fails fast", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := serve(t, clk, &github{clk: clk, limit: 2, window: time.Hour})
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
		defer client.CloseIdleConnections()
		for range 2 {
			if resp, err := get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%v %v", resp, err)
			}
		}
		_, err := get(t, client, srv.URL)
		if !errors.Is(err, sluiceclient.ErrWaitTooLong) {
			t.Errorf("third call: %v, want ErrWaitTooLong", err)
		}
		if got := srv.total(); got != 2 {
			t.Errorf("%d requests on the wire, want 2: the third must not be sent", got)
		}
	})

	for _, status := range []int{http.StatusTooManyRequests, http.StatusForbidden} {
		t.Run("secondary limit "+strconv.Itoa(status)+" retried", func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := serve(t, clk, &github{clk: clk, limit: 100, window: time.Hour, refuse: func(n int) (int, string) {
				if n == 3 {
					return status, "3"
				}
				return 0, ""
			}})
			var events []sluiceclient.Event
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
				sluiceclient.WithJitter(0), sluiceclient.WithOnWait(func(e sluiceclient.Event) { events = append(events, e) }))}
			defer client.CloseIdleConnections()
			var resp *http.Response
			drive(clk, 1, func(int) {
				for range 3 {
					var err error
					if resp, err = get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusOK {
						t.Errorf("%v %v", resp, err)
					}
				}
			})
			if got, want := srv.total(), 4; got != want {
				t.Errorf("%d requests on the wire, want %d", got, want)
			}
			if got, want := srv.arrivals[3].Sub(srv.arrivals[2]), 3*time.Second; got != want {
				t.Errorf("retried after %v, want %v", got, want)
			}
			want := sluiceclient.Event{Key: srv.Listener.Addr().String(), Reason: "retry", Delay: 3 * time.Second, Attempt: 2, Status: status}
			if len(events) != 1 {
				t.Fatalf("events = %+v, want one retry", events)
			}
			if e := events[0]; e.Request == nil || e.Request.URL.String() != srv.URL {
				t.Errorf("event's request = %v", e.Request)
			} else if e.Request = nil; e != want {
				t.Errorf("event = %+v, want %+v", e, want)
			}
			if got := sluiceclient.Waited(resp); got != 3*time.Second {
				t.Errorf("Waited = %v, want 3s", got)
			}
		})
	}

	t.Run("403 that is not a limit is returned", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "4999")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10))
			w.WriteHeader(http.StatusForbidden)
		}))
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
		defer client.CloseIdleConnections()
		resp, err := get(t, client, srv.URL)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%v %v", resp, err)
		}
		if got := srv.total(); got != 1 {
			t.Errorf("%d requests on the wire, want 1", got)
		}
	})
}
