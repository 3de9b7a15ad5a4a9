package sluiceclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core/clock"
)

// retryAfterOnly is a test server that admits limit requests per fixed
// window and says nothing about it until it refuses one: a 429 whose
// Retry-After names the window's end, in seconds or, with date, as an
// HTTP-date. It counts the requests that arrive before a refusal's
// Retry-After allowed them, and after the refusal: on the fake clock, which
// drive moves only while no request is out, a request arriving at the
// refusal's time was sent before the refusal was received.
type retryAfterOnly struct {
	clk    clock.Clock
	limit  int
	window time.Duration
	date   bool

	mu        sync.Mutex
	start     time.Time
	used      int
	refusedAt time.Time
	notBefore time.Time
	early     int
}

func (s *retryAfterOnly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if now.After(s.refusedAt) && now.Before(s.notBefore) {
		s.early++
	}
	if start := now.Truncate(s.window); start != s.start {
		s.start, s.used = start, 0
	}
	if s.used >= s.limit {
		end := s.start.Add(s.window)
		s.refusedAt, s.notBefore = now, end
		if s.date {
			w.Header().Set("Retry-After", end.Format(http.TimeFormat))
		} else {
			secs := (end.Sub(now) + time.Second - 1) / time.Second // rounded up, as a server must
			w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
		}
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	s.used++
	io.WriteString(w, "ok")
}

func TestRetryAfterOnly(t *testing.T) {
	for _, date := range []bool{false, true} {
		name := "seconds"
		if date {
			name = "HTTP-date"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			ra := &retryAfterOnly{clk: clk, limit: 3, window: 10 * time.Second, date: date}
			srv := serve(t, clk, ra)
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
			defer client.CloseIdleConnections()
			drive(clk, 1, func(int) {
				for range 10 {
					if resp, err := get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusOK {
						t.Errorf("%v %v", resp, err)
					}
				}
			})
			// Windows of 3: the 4th, 7th and 10th calls each meet a 429
			// first, and are retried when the next window starts.
			if got, want := srv.count(http.StatusTooManyRequests), 3; got != want {
				t.Errorf("%d 429s on the wire, want %d", got, want)
			}
			if ra.early != 0 {
				t.Errorf("%d requests came before Retry-After allowed them", ra.early)
			}
			t.Logf("10 calls: %d 429s on the wire, none early, %v", srv.count(http.StatusTooManyRequests), clk.Now().Sub(epoch))
		})
	}
	t.Run("concurrent callers are never early", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		ra := &retryAfterOnly{clk: clk, limit: 3, window: 10 * time.Second}
		srv := serve(t, clk, ra)
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithMaxRetries(20))}
		defer client.CloseIdleConnections()
		drive(clk, 5, func(int) {
			for range 3 {
				if resp, err := get(t, client, srv.URL); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("%v %v", resp, err)
				}
			}
		})
		if ra.early != 0 {
			t.Errorf("%d requests came before Retry-After allowed them", ra.early)
		}
		t.Logf("15 calls from 5 callers: %d 429s on the wire, none early, %v", srv.count(http.StatusTooManyRequests), clk.Now().Sub(epoch))
	})
}

// refuseFirst is a handler that answers its first request with a 429 and
// Retry-After: 1, and every other with 200 and the request's body.
type refuseFirst struct {
	mu     sync.Mutex
	n      int
	bodies []string
}

func (h *refuseFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.n++
	n := h.n
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
	if n == 1 {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	w.Write(b)
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		body    io.Reader
		prepare func(*http.Request) *http.Request
		retried bool
	}{
		{name: "GET", method: "GET", retried: true},
		{name: "HEAD", method: "HEAD", retried: true},
		{name: "OPTIONS", method: "OPTIONS", retried: true},
		{name: "TRACE", method: "TRACE", retried: true},
		{name: "PUT with body", method: "PUT", body: strings.NewReader("put body"), retried: true},
		{name: "DELETE", method: "DELETE", retried: true},
		{name: "POST", method: "POST", body: strings.NewReader("charge"), retried: false},
		{name: "PATCH", method: "PATCH", body: strings.NewReader("patch"), retried: false},
		{name: "POST marked Retryable", method: "POST", body: bytes.NewReader([]byte("marked")), retried: true,
			prepare: func(r *http.Request) *http.Request { return r.WithContext(sluiceclient.Retryable(r.Context())) }},
		{name: "POST with Idempotency-Key", method: "POST", body: strings.NewReader("keyed"), retried: true,
			prepare: func(r *http.Request) *http.Request { r.Header.Set("Idempotency-Key", "k1"); return r }},
		{name: "POST marked Retryable without GetBody", method: "POST", body: strings.NewReader("stream"), retried: false,
			prepare: func(r *http.Request) *http.Request {
				r = r.WithContext(sluiceclient.Retryable(r.Context()))
				r.GetBody = nil
				return r
			}},
		{name: "PUT without GetBody", method: "PUT", body: strings.NewReader("stream"), retried: false,
			prepare: func(r *http.Request) *http.Request { r.GetBody = nil; return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			h := &refuseFirst{}
			srv := serve(t, clk, h)
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
			defer client.CloseIdleConnections()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				req = tt.prepare(req)
			}
			var resp *http.Response
			drive(clk, 1, func(int) {
				if resp, err = client.Do(req); err == nil {
					resp.Body.Close()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			want, sends := http.StatusTooManyRequests, 1
			if tt.retried {
				want, sends = http.StatusOK, 2
			}
			if resp.StatusCode != want || h.n != sends {
				t.Fatalf("status %d after %d sends, want %d after %d", resp.StatusCode, h.n, want, sends)
			}
			if sends == 2 && h.bodies[0] != h.bodies[1] {
				t.Errorf("the retry sent body %q, the first send %q", h.bodies[1], h.bodies[0])
			}
		})
	}
}

func TestMaxRetries(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		t.Run(strconv.Itoa(retries), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
				sluiceclient.WithJitter(0), sluiceclient.WithMaxRetries(retries))}
			defer client.CloseIdleConnections()
			var resp *http.Response
			var err error
			drive(clk, 1, func(int) { resp, err = get(t, client, srv.URL) })
			if err != nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%v %v, want the last 429", resp, err)
			}
			if got, want := srv.total(), retries+1; got != want {
				t.Errorf("%d sends, want %d", got, want)
			}
			if got, want := sluiceclient.Waited(resp), time.Duration(retries)*2*time.Second; got != want {
				t.Errorf("Waited = %v, want %v", got, want)
			}
			if retries == 0 && resp.Header.Get(sluiceclient.HeaderWaited) != "" {
				t.Errorf("%s set without a wait", sluiceclient.HeaderWaited)
			}
		})
	}
}

// TestUnavailable retries a 503 that names a time, and returns one that
// does not at once: a server that says nothing is failing, not limiting.
func TestUnavailable(t *testing.T) {
	for _, retryAfter := range []string{"1", ""} {
		t.Run("Retry-After "+retryAfter, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			var mu sync.Mutex
			n := 0
			srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				first := n == 1
				mu.Unlock()
				if first {
					if retryAfter != "" {
						w.Header().Set("Retry-After", retryAfter)
					}
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
			defer client.CloseIdleConnections()
			var resp *http.Response
			var err error
			drive(clk, 1, func(int) { resp, err = get(t, client, srv.URL) })
			want := http.StatusOK
			if retryAfter == "" {
				want = http.StatusServiceUnavailable
			}
			if err != nil || resp.StatusCode != want {
				t.Fatalf("%v %v, want %d", resp, err, want)
			}
		})
	}
}

// TestWaitBounds checks that no wait starts that WithMaxWait or the
// context's deadline would cut short: a retry is given up and the refusal
// returned at once; a request not sent yet fails at once, without being
// sent, with an error that says why.
func TestWaitBounds(t *testing.T) {
	refuse := func(ra string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
		})
	}
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := serve(t, clk, refuse("30"))
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk))}
		defer client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%v %v, want the 429", resp, err)
		}
		resp.Body.Close()
		if got := sluiceclient.Waited(resp); got != 0 {
			t.Errorf("waited %v", got)
		}
		// The key is blocked for 30s now: the next request cannot be
		// sent within its deadline.
		_, err = client.Do(req.Clone(ctx))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the server's quota asks to wait 3") {
			t.Errorf("second request: %v, want a deadline error naming the wait", err)
		}
		if got := srv.total(); got != 1 {
			t.Errorf("%d sends, want 1", got)
		}
	})
	t.Run("WithMaxWait", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := serve(t, clk, refuse("Sun, 01 Mar 2026 12:05:00 GMT"))
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithMaxWait(time.Minute))}
		defer client.CloseIdleConnections()
		resp, err := get(t, client, srv.URL)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%v %v, want the 429", resp, err)
		}
		body := &closeCounter{Reader: strings.NewReader("x")}
		req, _ := http.NewRequestWithContext(t.Context(), "PUT", srv.URL, body)
		_, err = client.Do(req)
		if !errors.Is(err, sluiceclient.ErrWaitTooLong) {
			t.Errorf("second request: %v, want ErrWaitTooLong", err)
		}
		if body.closed != 1 {
			t.Errorf("the unsent request's body was closed %d times, want 1", body.closed)
		}
		if got := srv.total(); got != 1 {
			t.Errorf("%d sends, want 1", got)
		}
	})
	t.Run("context canceled while waiting", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := serve(t, clk, refuse("5"))
		ctx, cancel := context.WithCancel(t.Context())
		client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
			sluiceclient.WithOnWait(func(sluiceclient.Event) { cancel() }))}
		defer client.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		_, err := client.Do(req)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v, want context.Canceled", err)
		}
	})
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestJitter checks that jitter only adds: each retry comes between the
// Retry-After and a fifth more.
func TestJitter(t *testing.T) {
	clk := newClock()
	var mu sync.Mutex
	var delays []time.Duration
	h := &refuseFirst{}
	srv := serve(t, clk, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.n = 0 // refuse every other request
		h.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
		sluiceclient.WithOnWait(func(e sluiceclient.Event) {
			mu.Lock()
			delays = append(delays, e.Delay)
			mu.Unlock()
		}))}
	defer client.CloseIdleConnections()
	drive(clk, 1, func(int) {
		for range 20 {
			get(t, client, srv.URL)
		}
	})
	if len(delays) == 0 {
		t.Fatal("no waits")
	}
	for i, d := range delays {
		if d < time.Second || d > 1200*time.Millisecond {
			t.Errorf("wait %d: %v, want in [1s, 1.2s]", i, d)
		}
	}
	for i := 1; i < len(srv.arrivals); i += 2 {
		if gap := srv.arrivals[i].Sub(srv.arrivals[i-1]); gap < time.Second {
			t.Errorf("retry %d came %v after the 429 that said 1s", i, gap)
		}
	}
}
