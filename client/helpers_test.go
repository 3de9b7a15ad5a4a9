package sluiceclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

// epoch is where every test's fake clock starts.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is a clock.Fake that knows when each of its sleepers is due,
// and whether its context has ended, so that drive can tell when every
// worker is asleep and move the clock straight to the next one's time.
type testClock struct {
	clock.Fake
	mu  sync.Mutex
	due []*sleeper
}

type sleeper struct {
	at  time.Time
	ctx context.Context
}

func newClock() *testClock { return &testClock{Fake: clock.NewFake(epoch)} }

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return c.Fake.Sleep(ctx, d)
	}
	// Nothing moves the clock between Now and the Fake's own reading:
	// drive moves it only when every worker is asleep, and this one is not
	// yet.
	s := &sleeper{at: c.Now().Add(d), ctx: ctx}
	c.mu.Lock()
	c.due = append(c.due, s)
	c.mu.Unlock()
	err := c.Fake.Sleep(ctx, d)
	c.mu.Lock()
	c.due = slices.DeleteFunc(c.due, func(o *sleeper) bool { return o == s })
	c.mu.Unlock()
	return err
}

// asleep returns the number of sleepers whose context has not ended (one
// whose context was canceled is waking up, though the Fake still counts
// it), and the earliest time one of them is due.
func (c *testClock) asleep() (n int, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.due {
		if s.ctx.Err() == nil {
			if n == 0 || s.at.Before(next) {
				next = s.at
			}
			n++
		}
	}
	return n, next
}

// drive runs work(i) for i in [0, n) on n goroutines and returns when all
// have returned, moving the clock to the next sleeper's time whenever every
// one of them is asleep on it. Nothing else may sleep on the clock.
func drive(clk *testClock, n int, work func(i int)) {
	var live atomic.Int64
	live.Store(int64(n))
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() {
				if live.Add(-1) == 0 {
					close(done)
				}
			}()
			work(i)
		}()
	}
	for {
		select {
		case <-done:
			return
		default:
		}
		// live is read on both sides: when it did not move, and every
		// worker was asleep on the Fake with a live context, only the
		// driver can wake one.
		l := live.Load()
		s := int64(clk.Sleepers())
		a, next := clk.asleep()
		if s > 0 && s == l && int64(a) == l && live.Load() == l {
			clk.Advance(max(next.Sub(clk.Now()), time.Nanosecond))
			continue
		}
		runtime.Gosched()
	}
}

// wire is a test server that counts what it sent back, by status.
type wire struct {
	*httptest.Server
	mu       sync.Mutex
	statuses map[int]int
	arrivals []time.Time // by the fake clock
}

// serve starts h behind a counting wrapper that reads clk at each arrival.
func serve(t *testing.T, clk clock.Clock, h http.Handler) *wire {
	t.Helper()
	w := &wire{statuses: map[int]int{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.arrivals = append(w.arrivals, clk.Now())
		w.mu.Unlock()
		sr := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		h.ServeHTTP(sr, r)
		w.mu.Lock()
		w.statuses[sr.status]++
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *wire) count(status int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statuses[status]
}

func (w *wire) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.statuses {
		n += c
	}
	return n
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// get sends a GET to url with c and returns the response, its body read
// and closed. It may run on any goroutine.
func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}
