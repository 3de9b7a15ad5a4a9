package sluiceclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// outbound returns a Limiter on clk with one NameOnly rule, "out", of the
// given limit.
func outbound(t *testing.T, clk *testClock, alg backend.Algorithm, l core.Limit) *core.Limiter {
	t.Helper()
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "out", NameOnly: true, Algorithm: alg, Limits: []core.Limit{l}}),
		core.WithClock(clk.Fake),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	return lim
}

func plain(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

// TestLimiter paces requests by a limit of the caller's own, which the
// server knows nothing about: 3 a second, per host.
func TestLimiter(t *testing.T) {
	clk := newClock()
	lim := outbound(t, clk, backend.FixedWindow, core.PerSecond(3))
	srv := serve(t, clk, http.HandlerFunc(plain))
	var limitWaits atomic.Int64
	client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
		sluiceclient.WithLimiter(lim, "out"),
		sluiceclient.WithOnWait(func(e sluiceclient.Event) {
			if e.Reason == "limit" {
				limitWaits.Add(1)
			}
		}))}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	drive(clk, 4, func(int) {
		for next.Add(1) <= 10 {
			if resp, err := get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("%v %v", resp, err)
			}
		}
	})
	perSecond := map[time.Time]int{}
	for _, at := range srv.arrivals {
		perSecond[at.Truncate(time.Second)]++
	}
	for s, n := range perSecond {
		if n > 3 {
			t.Errorf("%d requests in the second from %v, more than 3", n, s)
		}
	}
	if got, want := clk.Now().Sub(epoch), 3*time.Second; got != want {
		t.Errorf("10 requests at 3/s took %v, want %v", got, want)
	}
	if limitWaits.Load() == 0 {
		t.Error("no wait reported with reason \"limit\"")
	}
}

// TestLimiterBounds: a rule spent for longer than WithMaxWait fails the
// request at once, unsent; and a unit the Limiter charged for a request
// that the server's quota then holds back too long is given back.
func TestLimiterBounds(t *testing.T) {
	t.Run("WithMaxWait", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		lim := outbound(t, clk, backend.FixedWindow, core.PerHour(2))
		srv := serve(t, clk, http.HandlerFunc(plain))
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithLimiter(lim, "out"))}
		defer client.CloseIdleConnections()
		for i := range 3 {
			_, err := get(t, client, srv.URL)
			if i < 2 && err != nil {
				t.Fatal(err)
			}
			if i == 2 && !errors.Is(err, sluiceclient.ErrWaitTooLong) {
				t.Errorf("third request: %v, want ErrWaitTooLong", err)
			}
		}
		if got := srv.total(); got != 2 {
			t.Errorf("%d sends, want 2", got)
		}
	})
	t.Run("refund", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		lim := outbound(t, clk, backend.FixedWindow, core.PerHour(10))
		srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithLimiter(lim, "out"))}
		defer client.CloseIdleConnections()
		if resp, err := get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%v %v", resp, err)
		}
		if _, err := get(t, client, srv.URL); !errors.Is(err, sluiceclient.ErrWaitTooLong) {
			t.Fatalf("second request: %v, want ErrWaitTooLong", err)
		}
		d, err := lim.Take(context.Background(), "out", srv.Listener.Addr().String(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.Remaining, int64(9); got != want {
			t.Errorf("the rule has %d left after one send, want %d: the unsent request's unit was not given back", got, want)
		}
	})
}

// TestKey paces requests by a key of the caller's choosing: the server
// limits each token, so a spent token must not hold back another's
// requests.
func TestKey(t *testing.T) {
	clk := newClock()
	srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "token spent" {
			w.Header().Set("RateLimit", `"per-token";r=0;t=30`)
		} else {
			w.Header().Set("RateLimit", `"per-token";r=99;t=30`)
		}
	}))
	var keys []string
	client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithJitter(0),
		sluiceclient.WithKey(func(r *http.Request) string { return r.Header.Get("Authorization") }),
		sluiceclient.WithOnWait(func(e sluiceclient.Event) { keys = append(keys, e.Key) }))}
	defer client.CloseIdleConnections()
	send := func(token string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	drive(clk, 1, func(int) {
		send("token spent")
		send("token fresh")
		send("token fresh")
		send("") // no key: the host's
		send("token spent")
	})
	if got, want := clk.Now().Sub(epoch), 30*time.Second; got != want {
		t.Errorf("took %v, want %v: only the spent token's second request waits", got, want)
	}
	if len(keys) != 1 || keys[0] != "token spent" {
		t.Errorf("waits for keys %q, want one for \"token spent\"", keys)
	}
}

func TestWrapPanics(t *testing.T) {
	clk := newClock()
	lim := outbound(t, clk, backend.FixedWindow, core.PerSecond(1))
	tests := []struct {
		name string
		opt  sluiceclient.Option
	}{
		{"nil Limiter", sluiceclient.WithLimiter(nil, "out")},
		{"unknown rule", sluiceclient.WithLimiter(lim, "nope")},
		{"negative retries", sluiceclient.WithMaxRetries(-1)},
		{"negative max wait", sluiceclient.WithMaxWait(-time.Second)},
		{"jitter above 1", sluiceclient.WithJitter(1.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Wrap did not panic")
				}
			}()
			sluiceclient.Wrap(nil, tt.opt)
		})
	}
}
