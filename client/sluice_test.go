package sluiceclient_test

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// TestSluiceServer sends 100 calls through the transport to a server
// protected by Sluice itself (core and the net/http adapter, 10 requests a
// second), with each header profile the adapter offers and each rate
// algorithm, one caller at a time and eight at once. The server's Limiter
// and the transport share one fake clock, so the run is exact and takes no
// real time. No 429 may reach a caller, and fewer than 5 may be sent on
// the wire at all. A server that sends only Retry-After tells the
// transport nothing before it refuses: a lone caller meets one 429 per
// second, and eight callers, whom nothing paces between refusals, about
// six; they are retried, and reach no caller.
func TestSluiceServer(t *testing.T) {
	profiles := []struct {
		name    string
		headers httpcontract.Headers
	}{
		{"draft-10", httpcontract.HeadersDraft10},
		{"X-RateLimit", httpcontract.HeadersX},
		{"X-RateLimit Unix", httpcontract.HeadersXUnix},
		{"RateLimit trio", httpcontract.HeadersTriple},
		{"Retry-After only", 0},
	}
	algorithms := []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog}
	for _, p := range profiles {
		for _, alg := range algorithms {
			for _, callers := range []int{1, 8} {
				t.Run(fmt.Sprintf("%s/%s/%d callers", p.name, alg, callers), func(t *testing.T) {
					t.Parallel()
					r := runSluice(t, p.headers, alg, core.PerSecond(10), callers, 100)
					t.Logf("%s: %d calls: %d 429s on the wire, %d reached callers; took %v of fake time, %v waited in all", t.Name(),
						r.calls, r.wire429, r.caller429, r.elapsed, r.waited)
					if r.caller429 != 0 || r.errors != 0 {
						t.Errorf("%d 429s and %d errors reached callers, want none", r.caller429, r.errors)
					}
					switch {
					case p.headers != 0 && r.wire429 >= 5:
						t.Errorf("%d 429s on the wire, want fewer than 5", r.wire429)
					case p.headers == 0 && callers == 1 && r.wire429 > 9:
						// Without rate-limit fields, a lone caller learns
						// each second's end from a refusal.
						t.Errorf("%d 429s on the wire, want at most 9", r.wire429)
					}
					// 10 a second: 100 calls need at least 9s after the first 10.
					if r.elapsed < 9*time.Second {
						t.Errorf("100 calls took %v, faster than the limit allows", r.elapsed)
					}
				})
			}
		}
	}
}

// TestSluiceServerSlowRefill runs 100 calls against 60 a minute: a
// token bucket's RateLimit t is then the second until the next unit, which
// brings back one unit, not the whole quota; a window at its reset must be
// learned again, not assumed full.
func TestSluiceServerSlowRefill(t *testing.T) {
	algorithms := []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog}
	for _, alg := range algorithms {
		for _, callers := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/%d callers", alg, callers), func(t *testing.T) {
				t.Parallel()
				r := runSluice(t, httpcontract.HeadersDraft10, alg, core.PerMinute(60), callers, 100)
				t.Logf("%s: %d calls: %d 429s on the wire, %d reached callers; took %v of fake time, %v waited in all", t.Name(),
					r.calls, r.wire429, r.caller429, r.elapsed, r.waited)
				if r.caller429 != 0 || r.errors != 0 {
					t.Errorf("%d 429s and %d errors reached callers, want none", r.caller429, r.errors)
				}
				if r.wire429 >= 5 {
					t.Errorf("%d 429s on the wire, want fewer than 5", r.wire429)
				}
			})
		}
	}
}

type sluiceRun struct {
	calls, wire429, caller429, errors int
	elapsed, waited                   time.Duration
}

func runSluice(t *testing.T, headers httpcontract.Headers, alg backend.Algorithm, limit core.Limit, callers, calls int) sluiceRun {
	clk := newClock()
	lim, err := core.New(
		core.WithRules(core.Rule{Name: "api", Algorithm: alg, Limits: []core.Limit{limit}}),
		core.WithClock(clk.Fake),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := serve(t, clk, sluicehttp.Middleware(lim, httpcontract.WithHeaders(headers))(mux))
	// A sliding window counter of 60 a minute, spent at once, has its next
	// unit back after 61s: beyond the default WithMaxWait.
	tr := sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk), sluiceclient.WithJitter(0),
		sluiceclient.WithMaxWait(2*time.Minute))
	client := &http.Client{Transport: tr}
	t.Cleanup(client.CloseIdleConnections)

	var r sluiceRun
	var next, caller429, errs, waited atomic.Int64
	drive(clk, callers, func(int) {
		for next.Add(1) <= int64(calls) {
			resp, err := get(t, client, srv.URL+"/items")
			if err != nil {
				t.Error(err)
				errs.Add(1)
				continue
			}
			if resp.StatusCode == http.StatusTooManyRequests {
				caller429.Add(1)
			}
			waited.Add(int64(sluiceclient.Waited(resp)))
		}
	})
	r.calls = srv.count(http.StatusOK)
	r.wire429 = srv.count(http.StatusTooManyRequests)
	r.caller429, r.errors = int(caller429.Load()), int(errs.Load())
	r.elapsed, r.waited = clk.Now().Sub(epoch), time.Duration(waited.Load())
	return r
}
