// Command client calls a URL through sluiceclient's Transport and reports
// what came back and how long the transport waited: a way to see how a
// server's rate limits and the transport's pacing meet.
//
//	go run . -url http://localhost:8080/api/items -n 100 -c 8
//	go run . -url https://api.example.com/items -n 500 -limit 5 -per 1s -redis redis://localhost:6379/0
//
// With -limit, requests also keep to a budget of the caller's own, per
// host; with -redis, that budget is kept in Redis, so every process
// started with the same -redis shares it. -v logs every wait.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	sluiceclient "github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	url        string
	n, c       int
	limit      int64
	per        time.Duration
	redis      string
	maxWait    time.Duration
	maxRetries int
	verbose    bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "url", "", "the URL to GET (required)")
	fs.IntVar(&cfg.n, "n", 10, "the number of calls")
	fs.IntVar(&cfg.c, "c", 1, "the number of calls in flight at once")
	fs.Int64Var(&cfg.limit, "limit", 0, "a budget of our own: at most this many calls per -per to each host (0: none)")
	fs.DurationVar(&cfg.per, "per", time.Second, "the period of -limit")
	fs.StringVar(&cfg.redis, "redis", "", "keep the -limit budget in this Redis (redis://host:6379/0), shared by every process using it")
	fs.DurationVar(&cfg.maxWait, "max-wait", time.Minute, "the longest the transport waits at once")
	fs.IntVar(&cfg.maxRetries, "retries", 3, "how many times a refused call is sent again")
	fs.BoolVar(&cfg.verbose, "v", false, "log every wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.url == "" || cfg.n < 1 || cfg.c < 1 || cfg.limit < 0 || cfg.per <= 0 {
		fs.Usage()
		return errors.New("-url is required, and -n, -c and -per must be positive")
	}

	var b backend.Backend // nil: the Limiter's own memory backend
	if cfg.redis != "" {
		rb, err := sluiceredis.NewFromURL(cfg.redis)
		if err != nil {
			return err
		}
		defer rb.Close()
		b = rb
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	tr, closeLim, err := newTransport(cfg, b, clock.Real, logger)
	if err != nil {
		return err
	}
	defer closeLim()
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()

	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		waited   time.Duration
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range cfg.c {
		wg.Go(func() {
			for next.Add(1) <= int64(cfg.n) {
				status, w := call(ctx, client, cfg.url)
				mu.Lock()
				statuses[status]++
				waited += w
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "%d calls in %v, %v waited in all\n", cfg.n, time.Since(start).Round(time.Millisecond), waited)
	for _, k := range keys {
		fmt.Fprintf(stdout, "%6d  %s\n", statuses[k], k)
	}
	return ctx.Err()
}

// newTransport returns the transport cfg describes: paced by what the
// server's responses say and, when cfg.limit is set, by a budget of our own
// of cfg.limit calls per cfg.per to each host, kept in b (a Limiter's own
// memory backend when b is nil). The function it returns closes the
// Limiter.
func newTransport(cfg config, b backend.Backend, clk clock.Clock, logger *slog.Logger) (*sluiceclient.Transport, func(), error) {
	opts := []sluiceclient.Option{
		sluiceclient.WithClock(clk),
		sluiceclient.WithMaxWait(cfg.maxWait),
		sluiceclient.WithMaxRetries(cfg.maxRetries),
	}
	if cfg.verbose {
		opts = append(opts, sluiceclient.WithOnWait(func(e sluiceclient.Event) {
			logger.Info("wait", "reason", e.Reason, "key", e.Key, "delay", e.Delay, "attempt", e.Attempt, "status", e.Status)
		}))
	}
	closeLim := func() {}
	if cfg.limit > 0 {
		// snippet:shared-budget
		lopts := []core.Option{
			core.WithRules(core.Rule{Name: "outbound", NameOnly: true, Algorithm: backend.FixedWindow,
				Limits: []core.Limit{{N: cfg.limit, Per: cfg.per}}}),
			// A call to another service takes far longer than a Redis
			// round trip: wait for Redis up to a second rather than the
			// 50ms a server's request would; and if it is away, send
			// nothing rather than more than the budget.
			core.WithFailure(core.Failure{Mode: "closed", Timeout: time.Second}),
			core.WithClock(clk),
		}
		if b != nil {
			lopts = append(lopts, core.WithBackend(b)) // sluiceredis: one budget for every process
		}
		lim, err := core.New(lopts...)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, sluiceclient.WithLimiter(lim, "outbound"))
		// end snippet:shared-budget
		closeLim = func() { lim.Close() }
	}
	return sluiceclient.Wrap(nil, opts...), closeLim, nil
}

// call GETs url and returns the response's status, or the error's text,
// and how long the transport waited.
func call(ctx context.Context, client *http.Client, url string) (string, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "error: " + err.Error(), 0
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, sluiceclient.ErrWaitTooLong) {
			return "not sent: the wait was longer than -max-wait", 0
		}
		return "error: " + err.Error(), 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status, sluiceclient.Waited(resp)
}
