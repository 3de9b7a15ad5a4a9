package sluiceclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// The examples call test servers on a fake clock, which drive moves
// whenever the client waits, so that their output is exact and they take
// no real time.

// A client of a Sluice-protected API that admits 2 requests a second: the
// transport reads the RateLimit fields of each response and, when the
// quota is spent, waits for its reset instead of sending a request that
// would get a 429.
func ExampleWrap() {
	clk := newClock()
	lim, _ := core.New(core.WithDefault(core.PerSecond(2)), core.WithClock(clk))
	defer lim.Close()
	api := httptest.NewServer(sluicehttp.Middleware(lim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer api.Close()

	client := &http.Client{Transport: sluiceclient.Wrap(http.DefaultTransport,
		sluiceclient.WithClock(clk), sluiceclient.WithJitter(0))} // exact waits, for the output below
	defer client.CloseIdleConnections()
	drive(clk, 1, func(int) {
		for range 5 {
			resp, err := client.Get(api.URL)
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
			fmt.Println(resp.Status, "waited", sluiceclient.Waited(resp))
		}
	})
	// Output:
	// 200 OK waited 0s
	// 200 OK waited 0s
	// 200 OK waited 1s
	// 200 OK waited 0s
	// 200 OK waited 1s
}

// An outbound budget of the caller's own: at most 3 calls a second to each
// host, whatever the server says. With the Redis backend
// (sluiceredis.NewFromURL) instead of the in-memory default, every process
// using the same Redis shares the budget.
func ExampleWithLimiter() {
	clk := newClock()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("request at", clk.Now().Format("15:04:05"))
	}))
	defer api.Close()

	lim, err := core.New(
		core.WithRules(core.Rule{Name: "outbound", NameOnly: true, Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(3)}}),
		core.WithClock(clk),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	client := &http.Client{Transport: sluiceclient.Wrap(http.DefaultTransport,
		sluiceclient.WithLimiter(lim, "outbound"), sluiceclient.WithClock(clk))}
	defer client.CloseIdleConnections()
	drive(clk, 1, func(int) {
		for range 5 {
			resp, err := client.Get(api.URL)
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
		}
	})
	// Output:
	// request at 12:00:00
	// request at 12:00:00
	// request at 12:00:00
	// request at 12:00:01
	// request at 12:00:01
}

// A POST is retried after a 429 only when the caller says it is safe to
// send twice; its body is sent again from Request.GetBody.
func ExampleRetryable() {
	clk := newClock()
	refused := false
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("%s %q at %s\n", r.Method, body, clk.Now().Format("15:04:05"))
		if !refused {
			refused = true
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer api.Close()
	client := &http.Client{Transport: sluiceclient.Wrap(http.DefaultTransport, sluiceclient.WithClock(clk), sluiceclient.WithJitter(0))}
	defer client.CloseIdleConnections()

	drive(clk, 1, func(int) {
		// snippet:retryable
		ctx := sluiceclient.Retryable(context.Background()) // the server deduplicates these
		req, err := http.NewRequestWithContext(ctx, "POST", api.URL, strings.NewReader(`{"event":"signup"}`))
		// end snippet:retryable
		if err != nil {
			log.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status, "waited", sluiceclient.Waited(resp))
	})
	// Output:
	// POST "{\"event\":\"signup\"}" at 12:00:00
	// POST "{\"event\":\"signup\"}" at 12:00:02
	// 200 OK waited 2s
}

// Each wait is reported before it starts, for logs or metrics.
func ExampleWithOnWait() {
	clk := newClock()
	n := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer api.Close()

	// snippet:onwait
	onWait := func(e sluiceclient.Event) {
		fmt.Printf("%s %s: %s, waiting %v before send %d (status %d)\n",
			e.Request.Method, e.Key, e.Reason, e.Delay, e.Attempt, e.Status)
	}
	// end snippet:onwait
	client := &http.Client{Transport: sluiceclient.Wrap(http.DefaultTransport, sluiceclient.WithClock(clk),
		sluiceclient.WithJitter(0), sluiceclient.WithOnWait(func(e sluiceclient.Event) {
			e.Key = "api" // the test server's port changes from run to run
			onWait(e)
		}))}
	defer client.CloseIdleConnections()
	drive(clk, 1, func(int) {
		resp, err := client.Get(api.URL)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status, "waited", sluiceclient.Waited(resp))
	})
	// Output:
	// GET api: retry, waiting 1s before send 2 (status 503)
	// GET api: retry, waiting 1s before send 3 (status 503)
	// 200 OK waited 2s
}

// A GitHub client (compiled, not run: it needs a token and the network).
// GitHub limits each token, so requests are keyed by a digest of theirs;
// the transport reads GitHub's X-RateLimit fields, and keeps to a budget of
// its own below GitHub's 5000 an hour, leaving the rest to other tools.
func Example_gitHub() {
	// snippet:github
	lim, err := core.New(core.WithRules(core.Rule{Name: "github", NameOnly: true,
		Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerHour(4000)}}))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	client := &http.Client{Transport: sluiceclient.Wrap(nil,
		sluiceclient.WithLimiter(lim, "github"),
		sluiceclient.WithKey(func(r *http.Request) string {
			sum := sha256.Sum256([]byte(r.Header.Get("Authorization")))
			return "github:" + hex.EncodeToString(sum[:8]) // never the token itself
		}),
		sluiceclient.WithMaxWait(time.Hour), // GitHub's quotas reset hourly
	)}
	// end snippet:github
	req, err := http.NewRequest("GET", "https://api.github.com/rate_limit", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("GITHUB_TOKEN"))
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err) // errors.Is(err, sluiceclient.ErrWaitTooLong): spent for more than an hour
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, "after waiting", sluiceclient.Waited(resp))
}
