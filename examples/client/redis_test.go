package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// The tests below are two client processes sharing one outbound budget in
// Redis: two Transports, each with its own Limiter and its own connection
// to one redis-server, which this test starts on a free port.

// counter is a test server that records when each request arrives, by clk.
type counter struct {
	clk      clock.Clock
	mu       sync.Mutex
	arrivals []time.Time
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.arrivals = append(c.arrivals, c.clk.Now())
	c.mu.Unlock()
	io.WriteString(w, "ok")
}

// process is one client process: its own Redis connection, Limiter and
// Transport.
func process(t *testing.T, url string, cfg config, clk clock.Clock, opts ...sluiceredis.Option) *http.Client {
	t.Helper()
	b, err := sluiceredis.NewFromURL(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tr, closeLim, err := newTransport(cfg, b, clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeLim)
	c := &http.Client{Transport: tr}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestSharedBudget: two processes send 30 calls each, 4 at a time, within a
// budget of 20 an hour that Redis keeps by its own clock. Exactly 20 are
// sent; the 40 others fail at once, unsent, since the budget is back only
// in an hour, beyond -max-wait.
func TestSharedBudget(t *testing.T) {
	rs := redistest.Start(t)
	url := "redis://" + rs.Addr + "/0"
	c := &counter{clk: clock.Real}
	srv := httptest.NewServer(c)
	defer srv.Close()
	cfg := config{limit: 20, per: time.Hour, maxWait: time.Minute, maxRetries: 3}
	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		client := process(t, url, cfg, clock.Real)
		for range 4 {
			wg.Go(func() {
				for range 30 / 4 {
					resp, err := client.Get(srv.URL)
					switch {
					case err == nil:
						resp.Body.Close()
						sent.Add(1)
					case errors.Is(err, sluiceclient.ErrWaitTooLong):
						refused.Add(1)
					default:
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	if got := len(c.arrivals); got != 20 {
		t.Errorf("%d calls reached the server, want exactly 20", got)
	}
	t.Logf("2 processes × 28 calls, budget 20/h: %d sent, %d refused unsent", sent.Load(), refused.Load())
	if sent.Load() != 20 || refused.Load() != 36 {
		t.Errorf("%d sent and %d refused, want 20 and 36", sent.Load(), refused.Load())
	}
}

// TestSharedPacing: two processes send 25 calls each, 3 at a time, within
// a budget of 10 a second kept in Redis, on a fake clock that the backend
// reads instead of Redis's (sluiceredis.WithCallerClock), so the run is
// exact. Every call is sent, never more than 10 in a second, and the 50
// take exactly 5 seconds: 10 at 0s, 1s, 2s, 3s and 4s.
func TestSharedPacing(t *testing.T) {
	rs := redistest.Start(t)
	url := "redis://" + rs.Addr + "/0"
	clk := newClock()
	c := &counter{clk: clk}
	srv := httptest.NewServer(c)
	defer srv.Close()
	cfg := config{limit: 10, per: time.Second, maxWait: time.Minute, maxRetries: 3}
	clients := []*http.Client{
		process(t, url, cfg, clk, sluiceredis.WithCallerClock()),
		process(t, url, cfg, clk, sluiceredis.WithCallerClock()),
	}
	var next [2]atomic.Int64
	drive(clk, 6, func(i int) {
		client, n := clients[i%2], &next[i%2]
		for n.Add(1) <= 25 {
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Error(err)
				continue
			}
			resp.Body.Close()
		}
	})
	perSecond := map[time.Time]int{}
	for _, at := range c.arrivals {
		perSecond[at.Truncate(time.Second)]++
	}
	for s, n := range perSecond {
		if n != 10 {
			t.Errorf("%d calls in the second from %v, want 10", n, s.Format(time.TimeOnly))
		}
	}
	if got, want := len(c.arrivals), 50; got != want {
		t.Errorf("%d calls reached the server, want %d", got, want)
	}
	if got, want := clk.Now().Sub(epoch), 4*time.Second; got != want {
		t.Errorf("the last call was sent at %v, want %v", got, want)
	}
}
