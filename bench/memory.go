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
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ulumem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"
)

// Limiter is one library's limiter for one limit, reduced to the question
// every library answers: may one more request of this key proceed now? A
// key is a client's identity, such as "user-42", already extracted from
// the request: no library parses a request in these workloads.
type Limiter interface {
	// Allow charges one request to key and reports whether it may proceed.
	// A denial is false with a nil error; an error means the library could
	// not decide.
	Allow(ctx context.Context, key string) (bool, error)
	// Close stops the limiter's goroutines and closes what it owns.
	Close() error
}

// Config is the limit a workload asks every library for.
type Config struct {
	// N requests per Per for each key.
	N   int
	Per time.Duration
	// Burst is the most requests admitted at once, for the libraries
	// whose algorithm has a burst (token buckets and GCRA); 0 means N.
	Burst int
	// Keys, when positive, is the number of keys the workload keeps live
	// at once, for a library whose default store is bounded: Sluice's
	// in-memory backend holds 1,000,000 states by default, split evenly
	// across its shards, so a million keys overflow some shards and a few
	// thousand are evicted. Given Keys, Sluice gets a memory backend
	// bounded at twice that, through core.WithBackend, so that every key
	// stays; without it, the default backend users get.
	Keys int
}

func (c Config) burst() int {
	if c.Burst > 0 {
		return c.Burst
	}
	return c.N
}

// Contender is one library as the comparison configures it.
type Contender struct {
	// Name is the sub-benchmark name: Benchmark<Workload>/<Name>.
	Name string
	// Module is the module path whose version the report shows.
	Module string
	// Algorithm says, in a few words, what the library counts with, what
	// its store is, and which call the workloads make.
	Algorithm string
	// New returns a limiter for c.
	New func(c Config) (Limiter, error)
}

// Memory lists the in-process limiters, each with its library's
// idiomatic in-memory store, left unbounded as each library's default (or
// the plain-map option) is, except Sluice's, bounded by default (see
// Config.Keys). Sluice is there three times: the whole decision users make
// (Limiter.Decide), the keyed call (Limiter.Take), and its in-memory
// backend alone, so that the difference is the engine's overhead.
// redis_rate has no in-memory store.
var Memory = []Contender{
	{
		Name:      "sluice",
		Module:    "github.com/sluicehq/sluice/core",
		Algorithm: "token bucket (GCRA) in core's default sharded in-memory backend; a whole Limiter.Decide of a Request carrying only Identity{Kind: KindCustom, Value: key}, decided by the one default rule, on the real clock",
		New:       newSluiceDecide,
	},
	{
		Name:      "sluice-take",
		Module:    "github.com/sluicehq/sluice/core",
		Algorithm: "the same Limiter and backend through the keyed call, Limiter.Take(ctx, rule, key, 1), of a NameOnly rule",
		New:       newSluiceTake,
	},
	{
		Name:      "sluice-backend",
		Module:    "github.com/sluicehq/sluice/core",
		Algorithm: "the same in-memory backend alone: memory.Backend.Apply of a backend.Request built per call with Now: time.Now(), as a caller of the backend writes it",
		New:       newSluiceBackend,
	},
	{
		Name:      "x-time-rate",
		Module:    "golang.org/x/time",
		Algorithm: "token bucket (rate.Limiter.Allow); a *rate.Limiter per key in a sync.Map, Load and, for a new key, LoadOrStore (the package has no per-key store, and this map never evicts)",
		New:       newXRateSyncMap,
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

// sluiceLimit is c as a Sluice limit.
func sluiceLimit(c Config) core.Limit {
	return core.Limit{N: int64(c.N), Per: c.Per, Burst: int64(c.burst())}
}

// sluiceMemory returns the options that give a Limiter for c its memory
// backend: none (the default backend, which the Limiter owns), or, when c
// says how many keys the workload keeps, one that holds them all (see
// Config.Keys), which the caller closes after the Limiter.
func sluiceMemory(c Config) ([]core.Option, *memory.Backend) {
	if c.Keys <= 0 {
		return nil, nil
	}
	m := memory.New(memory.WithMaxKeys(2 * c.Keys))
	return []core.Option{core.WithBackend(m)}, m
}

// sluiceDecide and sluiceTake adapt a core.Limiter, through Decide and
// through Take. A decision that could not be made by the backend (fail
// open or closed) is an error here, so that a workload never counts a
// backend failure as an admission.
type (
	sluiceDecide struct{ sluiceLimiter }
	sluiceTake   struct{ sluiceLimiter }
)

type sluiceLimiter struct {
	lim   *core.Limiter
	owned *memory.Backend // closed after lim; nil for the Limiter's own
}

func (s sluiceLimiter) Close() error {
	err := s.lim.Close()
	if s.owned != nil {
		s.owned.Close()
	}
	return err
}

// allowed is Allow's answer for a decision.
func allowed(d core.Decision, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	if d.Err != nil {
		return false, d.Err
	}
	return d.Outcome == core.Allowed, nil
}

// Allow is what a user's code does with a key: Decide a Request whose
// client is the key, as a custom identity.
func (s sluiceDecide) Allow(ctx context.Context, key string) (bool, error) {
	return allowed(s.lim.Decide(ctx, core.Request{Identity: core.Identity{Kind: core.KindCustom, Value: key}}))
}

func newSluiceDecide(c Config) (Limiter, error) {
	opts, m := sluiceMemory(c)
	lim, err := core.New(append(opts, core.WithDefault(sluiceLimit(c)))...)
	if err != nil {
		return nil, err
	}
	return sluiceDecide{sluiceLimiter{lim, m}}, nil
}

// takeRule is the name of the rule the keyed call names.
const takeRule = "api"

// Allow is the keyed call, naming the rule.
func (s sluiceTake) Allow(ctx context.Context, key string) (bool, error) {
	return allowed(s.lim.Take(ctx, takeRule, key, 1))
}

func newSluiceTake(c Config) (Limiter, error) {
	opts, m := sluiceMemory(c)
	rule := core.Rule{Name: takeRule, NameOnly: true, Limits: []core.Limit{sluiceLimit(c)}}
	lim, err := core.New(append(opts, core.WithRules(rule))...)
	if err != nil {
		return nil, err
	}
	return sluiceTake{sluiceLimiter{lim, m}}, nil
}

// sluiceBackend calls Sluice's in-memory backend directly, as code that
// uses package memory without a Limiter does: a token bucket of one
// window under a namespace of its choosing.
type sluiceBackend struct {
	m       *memory.Backend
	windows []backend.Window
}

func newSluiceBackend(c Config) (Limiter, error) {
	var opts []memory.Option
	if c.Keys > 0 {
		opts = append(opts, memory.WithMaxKeys(2*c.Keys)) // see Config.Keys
	}
	return &sluiceBackend{
		m:       memory.New(opts...),
		windows: []backend.Window{{Limit: int64(c.N), Period: c.Per, Burst: int64(c.burst())}},
	}, nil
}

func (s *sluiceBackend) Allow(ctx context.Context, key string) (bool, error) {
	res, err := s.m.Apply(ctx, backend.Request{
		Namespace: "api",
		Key:       key,
		Algorithm: backend.TokenBucket,
		Windows:   s.windows,
		Cost:      1,
		Now:       time.Now(),
	})
	return res.Allowed, err
}

func (s *sluiceBackend) Close() error { return s.m.Close() }

// xrateSyncMap is the keyed limiter users build on golang.org/x/time/rate
// with a sync.Map: a Load, which takes no lock for a key that exists, and a
// LoadOrStore only for a new key, so that a limiter is allocated only when
// one may be needed.
type xrateSyncMap struct {
	limit rate.Limit
	burst int
	m     sync.Map // string -> *rate.Limiter
}

func xrateLimit(c Config) rate.Limit { return rate.Limit(float64(c.N) / c.Per.Seconds()) }

func newXRateSyncMap(c Config) (Limiter, error) {
	return &xrateSyncMap{limit: xrateLimit(c), burst: c.burst()}, nil
}

func (x *xrateSyncMap) Allow(_ context.Context, key string) (bool, error) {
	v, ok := x.m.Load(key)
	if !ok {
		v, _ = x.m.LoadOrStore(key, rate.NewLimiter(x.limit, x.burst))
	}
	return v.(*rate.Limiter).Allow(), nil
}

func (x *xrateSyncMap) Close() error { return nil }

// xrateMutexMap is the other keyed limiter users build on x/time/rate: a
// map behind one sync.Mutex, which every decision takes. BenchmarkShape
// measures it beside the sync.Map, to show what the store costs.
type xrateMutexMap struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newXRateMutexMap(c Config) (Limiter, error) {
	return &xrateMutexMap{limit: xrateLimit(c), burst: c.burst(), m: make(map[string]*rate.Limiter)}, nil
}

func (x *xrateMutexMap) Allow(_ context.Context, key string) (bool, error) {
	x.mu.Lock()
	l, ok := x.m[key]
	if !ok {
		l = rate.NewLimiter(x.limit, x.burst)
		x.m[key] = l
	}
	x.mu.Unlock()
	return l.Allow(), nil
}

func (x *xrateMutexMap) Close() error { return nil }

// goLimiter adapts a sethvargo/go-limiter store.
type goLimiter struct {
	store interface {
		Take(ctx context.Context, key string) (tokens, remaining, reset uint64, ok bool, err error)
		Close(ctx context.Context) error
	}
}

func newGoLimiter(c Config) (Limiter, error) {
	s, err := memorystore.New(&memorystore.Config{Tokens: uint64(c.N), Interval: c.Per})
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

func newHTTPRate(c Config) (Limiter, error) {
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return nil, err
	}
	rl := httprate.NewRateLimiter(c.N, c.Per, httprate.WithResponseHeaders(httprate.ResponseHeaders{}))
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

func newUluleMemory(c Config) (Limiter, error) {
	return ululeLimiter{ulule.New(ulumem.NewStore(), ulule.Rate{Period: c.Per, Limit: int64(c.N)})}, nil
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

func newThrottled(c Config) (Limiter, error) {
	store, err := throttledmem.NewCtx(0)
	if err != nil {
		return nil, err
	}
	return newThrottledOn(store, c)
}

func newThrottledOn(store throttled.GCRAStoreCtx, c Config) (Limiter, error) {
	if c.N < 1 || c.burst() < 1 {
		return nil, errors.New("bench: throttled needs a limit and a burst of at least 1")
	}
	// MaxBurst is the number of requests beyond the first that may arrive
	// at once, so burst-1 admits burst at once, as the other buckets do.
	rl, err := throttled.NewGCRARateLimiterCtx(store, throttled.RateQuota{
		MaxRate:  throttled.PerDuration(c.N, c.Per),
		MaxBurst: c.burst() - 1,
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
