package bench

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/httprate"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/sluicehq/sluice/core"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ulumem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"
)

// Limiter is one library's limiter for one limit, reduced to the question
// every library answers: may one more request of this key proceed now? A
// key is a client's identity, such as its IP address ("10.0.0.7"), already
// extracted from the request: no library parses a request in these
// workloads.
type Limiter interface {
	// Allow charges one request to key and reports whether it may proceed.
	// An error means the library could not decide.
	Allow(ctx context.Context, key string) (bool, error)
	// Close stops the limiter's goroutines and closes what it owns.
	Close() error
}

// Contender is one library as the comparison configures it.
type Contender struct {
	// Name is the sub-benchmark name: Benchmark<Workload>/<Name>.
	Name string
	// Module is the module path whose version the report shows.
	Module string
	// Algorithm says, in a few words, what the library counts with and
	// what its store is.
	Algorithm string
	// New returns a limiter that admits limit requests per period for
	// each key, with a burst of limit where the algorithm has one.
	New func(limit int, per time.Duration) (Limiter, error)
}

// Memory lists the in-process limiters, each with its library's
// idiomatic in-memory store, left unbounded as each library's default (or
// the plain-map option) is. redis_rate has no in-memory store.
var Memory = []Contender{
	{
		Name:      "sluice",
		Module:    "github.com/sluicehq/sluice/core",
		Algorithm: "token bucket (GCRA) in core's default sharded in-memory backend; a whole Limiter.Decide with one default rule",
		New:       newSluiceMemory,
	},
	{
		Name:      "x-time-rate",
		Module:    "golang.org/x/time",
		Algorithm: "token bucket; a map[string]*rate.Limiter behind one sync.Mutex, as users write it (the package has no per-key store, and this map never evicts)",
		New:       newXRate,
	},
	{
		Name:      "go-limiter",
		Module:    "github.com/sethvargo/go-limiter",
		Algorithm: "memorystore: a bucket per key refilled at each interval tick since the key's first request (a per-key fixed window), in a map behind an RWMutex",
		New:       newGoLimiter,
	},
	{
		Name:      "httprate",
		Module:    "github.com/go-chi/httprate",
		Algorithm: "sliding window counter (two fixed windows, the previous one weighted), the local counter behind the limiter's one mutex; RateLimiter.OnLimit with response headers off",
		New:       newHTTPRate,
	},
	{
		Name:      "ulule",
		Module:    "github.com/ulule/limiter/v3",
		Algorithm: "fixed window starting at the key's first request; the memory store (a sync.Map of counters)",
		New:       newUluleMemory,
	},
	{
		Name:      "throttled",
		Module:    "github.com/throttled/throttled/v2",
		Algorithm: "GCRA with compare-and-swap; memstore.NewCtx(0), a plain map behind an RWMutex (a positive size would be an LRU)",
		New:       newThrottled,
	},
}

// sluiceRequest is the request every Sluice decision in the comparison
// makes: the client is given, as the peers' key is, so Sluice matches its
// rule and charges the key but reads no address.
func sluiceRequest(key string) core.Request {
	return core.Request{Method: http.MethodGet, Path: "/", Identity: core.Identity{Kind: core.KindIP, Value: key}}
}

// sluiceLimiter adapts a core.Limiter. A decision that could not be made
// by the backend (fail open or closed) is an error here, so that a
// workload never counts a backend failure as an admission.
type sluiceLimiter struct{ lim *core.Limiter }

func (s sluiceLimiter) Allow(ctx context.Context, key string) (bool, error) {
	d, err := s.lim.Decide(ctx, sluiceRequest(key))
	if err != nil {
		return false, err
	}
	if d.Err != nil {
		return false, d.Err
	}
	return d.Outcome == core.Allowed, nil
}

func (s sluiceLimiter) Close() error { return s.lim.Close() }

func newSluiceMemory(limit int, per time.Duration) (Limiter, error) {
	lim, err := core.New(core.WithDefault(core.Every(int64(limit), per)))
	if err != nil {
		return nil, err
	}
	return sluiceLimiter{lim}, nil
}

// xrateLimiter is the keyed limiter users build on golang.org/x/time/rate.
type xrateLimiter struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newXRate(limit int, per time.Duration) (Limiter, error) {
	return &xrateLimiter{
		limit: rate.Limit(float64(limit) / per.Seconds()),
		burst: limit,
		m:     make(map[string]*rate.Limiter),
	}, nil
}

func (x *xrateLimiter) Allow(_ context.Context, key string) (bool, error) {
	x.mu.Lock()
	l, ok := x.m[key]
	if !ok {
		l = rate.NewLimiter(x.limit, x.burst)
		x.m[key] = l
	}
	x.mu.Unlock()
	return l.Allow(), nil
}

func (x *xrateLimiter) Close() error { return nil }

// goLimiter adapts a sethvargo/go-limiter store.
type goLimiter struct {
	store interface {
		Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error)
		Close(ctx context.Context) error
	}
}

func newGoLimiter(limit int, per time.Duration) (Limiter, error) {
	s, err := memorystore.New(&memorystore.Config{Tokens: uint64(limit), Interval: per})
	if err != nil {
		return nil, err
	}
	return goLimiter{s}, nil
}

func (g goLimiter) Allow(ctx context.Context, key string) (bool, error) {
	_, _, _, ok, err := g.store.Take(ctx, key)
	return ok, err
}

func (g goLimiter) Close() error { return g.store.Close(context.Background()) }

// httprateLimiter adapts a go-chi/httprate RateLimiter. OnLimit needs a
// response writer and a request: the writer is never touched with the
// headers off, and the request only carries the context httprate reads its
// per-request overrides from.
type httprateLimiter struct {
	rl  *httprate.RateLimiter
	req *http.Request
}

func newHTTPRate(limit int, per time.Duration) (Limiter, error) {
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return nil, err
	}
	rl := httprate.NewRateLimiter(limit, per, httprate.WithResponseHeaders(httprate.ResponseHeaders{}))
	return httprateLimiter{rl: rl, req: req}, nil
}

func (h httprateLimiter) Allow(_ context.Context, key string) (bool, error) {
	return !h.rl.OnLimit(noWriter{}, h.req, key), nil
}

func (h httprateLimiter) Close() error { return nil }

// noWriter is a response writer that nobody writes to.
type noWriter struct{}

func (noWriter) Header() http.Header         { return http.Header{} }
func (noWriter) Write(p []byte) (int, error) { return len(p), nil }
func (noWriter) WriteHeader(int)             {}

// ululeLimiter adapts a ulule/limiter Limiter on any store.
type ululeLimiter struct{ lim *ulule.Limiter }

func newUluleMemory(limit int, per time.Duration) (Limiter, error) {
	return ululeLimiter{ulule.New(ulumem.NewStore(), ulule.Rate{Period: per, Limit: int64(limit)})}, nil
}

func (u ululeLimiter) Allow(ctx context.Context, key string) (bool, error) {
	c, err := u.lim.Get(ctx, key)
	return err == nil && !c.Reached, err
}

// Close does nothing: the memory store stops its cleaner from a finalizer,
// and the Redis store does not own its client.
func (u ululeLimiter) Close() error { return nil }

// throttledLimiter adapts a throttled GCRA limiter.
type throttledLimiter struct{ rl *throttled.GCRARateLimiterCtx }

func newThrottled(limit int, per time.Duration) (Limiter, error) {
	store, err := throttledmem.NewCtx(0)
	if err != nil {
		return nil, err
	}
	return newThrottledOn(store, limit, per)
}

func newThrottledOn(store throttled.GCRAStoreCtx, limit int, per time.Duration) (Limiter, error) {
	if limit < 1 {
		return nil, errors.New("bench: throttled needs a limit of at least 1")
	}
	// MaxBurst is the number of requests beyond the first that may arrive
	// at once, so limit-1 admits limit at once, as the other buckets do.
	rl, err := throttled.NewGCRARateLimiterCtx(store, throttled.RateQuota{
		MaxRate:  throttled.PerDuration(limit, per),
		MaxBurst: limit - 1,
	})
	if err != nil {
		return nil, err
	}
	return throttledLimiter{rl}, nil
}

func (t throttledLimiter) Allow(ctx context.Context, key string) (bool, error) {
	limited, _, err := t.rl.RateLimitCtx(ctx, key, 1)
	return err == nil && !limited, err
}

func (t throttledLimiter) Close() error { return nil }
