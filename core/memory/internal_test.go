package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// epoch is a whole hour, so fixed windows of up to an hour start at it.
var epoch = time.Unix(1_699_999_200, 0)

func newTestBackend(t *testing.T, opts ...Option) *Backend {
	t.Helper()
	b := New(append([]Option{WithSweepInterval(0)}, opts...)...)
	t.Cleanup(func() { b.Close() })
	return b
}

// req builds a request for key at epoch+at.
func req(key string, alg backend.Algorithm, cost int64, at time.Duration, windows ...backend.Window) backend.Request {
	return backend.Request{
		Namespace: "ns", Key: key, Algorithm: alg, Windows: windows,
		Cost: cost, Lease: uint64(at) + uint64(len(key)), Now: epoch.Add(at),
	}
}

func apply(t *testing.T, b *Backend, r backend.Request) backend.Result {
	t.Helper()
	res, err := b.Apply(context.Background(), r)
	if err != nil {
		t.Fatalf("Apply(%s %q, cost %d, at %v) error = %v", r.Algorithm, r.Key, r.Cost, r.Now.Sub(epoch), err)
	}
	return res
}

// peekRemaining returns the Remaining of window 0 of key, charging nothing.
func peekRemaining(t *testing.T, b *Backend, key string, alg backend.Algorithm, at time.Duration, windows ...backend.Window) int64 {
	t.Helper()
	return apply(t, b, req(key, alg, 0, at, windows...)).Windows[0].Remaining
}

func perSecond(n int64) backend.Window { return backend.Window{Limit: n, Period: time.Second} }

// TestSweepDropsOnlyResetState charges each algorithm, then sweeps at
// instants around the moment its state fully resets: the state must survive
// (unchanged) until that moment and be gone from it on.
func TestSweepDropsOnlyResetState(t *testing.T) {
	const ms = time.Millisecond
	type sweepStep struct {
		at      time.Duration
		wantLen int
	}
	for _, tc := range []struct {
		name    string
		alg     backend.Algorithm
		windows []backend.Window
		charges []time.Duration // one unit at each
		cost    int64
		sweeps  []sweepStep
	}{
		{
			// tat = 3 * 100ms.
			name: "token bucket", alg: backend.TokenBucket,
			windows: []backend.Window{perSecond(10)}, charges: []time.Duration{0}, cost: 3,
			sweeps: []sweepStep{{0, 1}, {299 * ms, 1}, {300 * ms, 0}},
		},
		{
			// A burst does not change when the bucket is full: tat = 100ms.
			name: "token bucket with burst", alg: backend.TokenBucket,
			windows: []backend.Window{{Limit: 10, Period: time.Second, Burst: 20}}, charges: []time.Duration{0}, cost: 1,
			sweeps: []sweepStep{{99 * ms, 1}, {100 * ms, 0}},
		},
		{
			// tats 100ms and 600ms: the windows go one at a time.
			name: "token bucket two windows", alg: backend.TokenBucket,
			windows: []backend.Window{perSecond(10), {Limit: 100, Period: time.Minute}}, charges: []time.Duration{0}, cost: 1,
			sweeps: []sweepStep{{99 * ms, 2}, {100 * ms, 1}, {599 * ms, 1}, {600 * ms, 0}},
		},
		{
			name: "fixed window", alg: backend.FixedWindow,
			windows: []backend.Window{perSecond(3)}, charges: []time.Duration{700 * ms}, cost: 1,
			sweeps: []sweepStep{{999 * ms, 1}, {time.Second, 0}},
		},
		{
			name: "fixed window two windows", alg: backend.FixedWindow,
			windows: []backend.Window{perSecond(3), {Limit: 10, Period: time.Hour}}, charges: []time.Duration{700 * ms}, cost: 1,
			sweeps: []sweepStep{{time.Second, 1}, {time.Hour - 1, 1}, {time.Hour, 0}},
		},
		{
			// The current window's count still weighs on the next one.
			name: "sliding window", alg: backend.SlidingWindow,
			windows: []backend.Window{perSecond(3)}, charges: []time.Duration{700 * ms}, cost: 1,
			sweeps: []sweepStep{{time.Second, 1}, {1999 * ms, 1}, {2 * time.Second, 0}},
		},
		{
			// The newest entry, at 900ms, leaves the window at 1.9s.
			name: "sliding log", alg: backend.SlidingLog,
			windows: []backend.Window{perSecond(3)}, charges: []time.Duration{700 * ms, 900 * ms}, cost: 1,
			sweeps: []sweepStep{{1700 * ms, 1}, {1899 * ms, 1}, {1900 * ms, 0}},
		},
		{
			// Leases of 10s taken at 700ms and 2s: the entry goes when
			// the last one expires.
			name: "concurrency", alg: backend.Concurrency,
			windows: []backend.Window{{Limit: 2, Period: 10 * time.Second}}, charges: []time.Duration{700 * ms, 2 * time.Second}, cost: 1,
			sweeps: []sweepStep{{10700 * ms, 1}, {11999 * ms, 1}, {12 * time.Second, 0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t)
			for _, at := range tc.charges {
				if res := apply(t, b, req("k", tc.alg, tc.cost, at, tc.windows...)); !res.Allowed {
					t.Fatalf("charge at %v denied: %+v", at, res)
				}
			}
			if got, want := b.len(), len(tc.windows); got != want {
				t.Fatalf("Len() after charging = %d, want %d", got, want)
			}
			for i, s := range tc.sweeps {
				var before backend.Result
				if s.wantLen > 0 {
					before = apply(t, b, req("k", tc.alg, 0, s.at, tc.windows...))
				}
				b.sweep(epoch.Add(s.at).UnixNano())
				if got, want := b.len(), s.wantLen; got != want {
					t.Fatalf("sweep %d at %v: Len() = %d, want %d", i, s.at, got, want)
				}
				if s.wantLen > 0 {
					// What the sweep kept is intact.
					if after := apply(t, b, req("k", tc.alg, 0, s.at, tc.windows...)); after != before {
						t.Errorf("sweep %d at %v changed the state: peek %+v, want %+v", i, s.at, after, before)
					}
				}
			}
			// A swept key starts afresh.
			res := apply(t, b, req("k", tc.alg, 0, tc.sweeps[len(tc.sweeps)-1].at, tc.windows...))
			if got, want := res.Windows[0].Remaining, algo.Capacity(tc.windows[0], tc.alg); got != want {
				t.Errorf("Remaining after the sweep = %d, want %d", got, want)
			}
		})
	}
}

// TestNothingStoredWithoutCharge checks that peeks and denials store no
// state, so they cannot fill the backend.
func TestNothingStoredWithoutCharge(t *testing.T) {
	zero := backend.Window{Limit: 0, Period: time.Second}
	for _, alg := range []backend.Algorithm{backend.TokenBucket, backend.FixedWindow, backend.SlidingWindow, backend.SlidingLog, backend.Concurrency} {
		t.Run(alg.String(), func(t *testing.T) {
			b := newTestBackend(t)
			if res := apply(t, b, req("peek", alg, 0, 0, perSecond(5))); !res.Allowed {
				t.Errorf("peek denied: %+v", res)
			}
			if res := apply(t, b, req("denied", alg, 1, 0, zero)); res.Allowed {
				t.Errorf("cost 1 with limit 0 allowed: %+v", res)
			}
			if got, want := b.len(), 0; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
		})
	}
}

// TestSweepKeepsLogEntries sweeps a log that grew large and then mostly
// emptied; the sweep shrinks its ring and must keep the remaining entries.
func TestSweepKeepsLogEntries(t *testing.T) {
	b := newTestBackend(t)
	w := backend.Window{Limit: 1000, Period: time.Second}
	for i := range 100 {
		apply(t, b, req("k", backend.SlidingLog, 1, time.Duration(i)*time.Millisecond, w))
	}
	// At 1.095s the entries at 0..95ms have left: 4 remain, in a ring of 128.
	at := 1095 * time.Millisecond
	if got, want := peekRemaining(t, b, "k", backend.SlidingLog, at, w), int64(996); got != want {
		t.Fatalf("Remaining before the sweep = %d, want %d", got, want)
	}
	b.sweep(epoch.Add(at).UnixNano())
	for _, s := range []struct {
		at   time.Duration
		want int64
	}{{at, 996}, {1097 * time.Millisecond, 998}, {1099 * time.Millisecond, 1000}} {
		if got, want := peekRemaining(t, b, "k", backend.SlidingLog, s.at, w), s.want; got != want {
			t.Errorf("Remaining at %v after the sweep = %d, want %d", s.at, got, want)
		}
	}
}

func TestMaxKeysBound(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shards   int
		maxKeys  int
		alg      backend.Algorithm
		windows  int
		wantMax  int // the bound: the shards' shares add up to it
		wantLast int // Len at the end; -1 to check only the bound
	}{
		{name: "token bucket", shards: 1, maxKeys: 50, alg: backend.TokenBucket, windows: 1, wantMax: 50, wantLast: 50},
		{name: "fixed window", shards: 1, maxKeys: 50, alg: backend.FixedWindow, windows: 1, wantMax: 50, wantLast: 50},
		{name: "sliding window", shards: 1, maxKeys: 50, alg: backend.SlidingWindow, windows: 1, wantMax: 50, wantLast: 50},
		{name: "sliding log", shards: 1, maxKeys: 50, alg: backend.SlidingLog, windows: 1, wantMax: 50, wantLast: 50},
		{name: "concurrency", shards: 1, maxKeys: 50, alg: backend.Concurrency, windows: 1, wantMax: 50, wantLast: 50},
		{name: "three windows per key", shards: 1, maxKeys: 50, alg: backend.TokenBucket, windows: 3, wantMax: 50, wantLast: 50},
		{name: "four windows per key", shards: 1, maxKeys: 10, alg: backend.SlidingWindow, windows: 4, wantMax: 10, wantLast: 10},
		{name: "bound of one", shards: 1, maxKeys: 1, alg: backend.FixedWindow, windows: 1, wantMax: 1, wantLast: 1},
		// 10 states are too few for 4 shards: one shard holds them all.
		{name: "small bound, one shard", shards: 4, maxKeys: 10, alg: backend.TokenBucket, windows: 1, wantMax: 10, wantLast: 10},
		{name: "bound below shards", shards: 8, maxKeys: 3, alg: backend.TokenBucket, windows: 1, wantMax: 3, wantLast: 3},
		// 1000/64: 15 or 16 per shard, exactly 1000 in all; with more
		// keys than the bound, every shard fills.
		{name: "shares add up", shards: 64, maxKeys: 1000, alg: backend.TokenBucket, windows: 1, wantMax: 1000, wantLast: 1000},
		{name: "default shards", shards: 256, maxKeys: 5000, alg: backend.FixedWindow, windows: 1, wantMax: 5000, wantLast: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t, WithShards(tc.shards), WithMaxKeys(tc.maxKeys))
			total := 0
			for i := range b.shards {
				if b.shards[i].max < minShardKeys && len(b.shards) > 1 {
					t.Errorf("shard %d of %d holds %d states, fewer than %d", i, len(b.shards), b.shards[i].max, minShardKeys)
				}
				total += b.shards[i].max
			}
			if total != tc.wantMax {
				t.Fatalf("the shards' bounds add up to %d, want %d", total, tc.wantMax)
			}
			windows := make([]backend.Window, tc.windows)
			for i := range windows {
				windows[i] = backend.Window{Limit: 100, Period: time.Duration(i+1) * time.Minute}
			}
			for i := range 3000 {
				key := fmt.Sprint("key-", i)
				if res := apply(t, b, req(key, tc.alg, 1, time.Duration(i)*time.Millisecond, windows...)); !res.Allowed {
					t.Fatalf("new key %d denied: %+v", i, res)
				}
				if got, limit := b.len(), tc.wantMax; got > limit {
					t.Fatalf("after %d keys: Len() = %d, want at most %d", i+1, got, limit)
				}
			}
			if got, want := b.len(), tc.wantLast; want >= 0 && got != want {
				t.Errorf("Len() at the end = %d, want %d", got, want)
			}
		})
	}
}

// TestMaxKeysBoundWithReturningKeys cycles more keys than the bound, so
// that evicted keys come back (a token bucket's tombstone comes back to
// life): the bound holds through every round.
func TestMaxKeysBoundWithReturningKeys(t *testing.T) {
	b := newTestBackend(t, WithShards(1), WithMaxKeys(16))
	for round := range 3 {
		for i := range 40 {
			apply(t, b, req(fmt.Sprint("key-", i), backend.TokenBucket, 1, time.Duration(round*40+i)*time.Millisecond, perSecond(100)))
			if n := b.len(); n > 16 {
				t.Fatalf("round %d, key %d: Len() = %d, want at most 16", round, i, n)
			}
		}
	}
}

// TestMaxKeysEvictsExpiredFirst fills a one-shard backend to its bound with
// a few long-lived states and many short ones, lets the short ones expire,
// and inserts new keys. As long as fewer than 8 states are live, every
// sample of 8 holds an expired one, so no live state may be evicted.
func TestMaxKeysEvictsExpiredFirst(t *testing.T) {
	const (
		bound   = 16
		nLong   = 3
		nNew    = 4 // nLong+nNew < 8 live states
		advance = 10 * time.Second
	)
	long := backend.Window{Limit: 10, Period: time.Hour}
	short := backend.Window{Limit: 10, Period: time.Second}
	for _, tc := range []struct {
		name              string
		longAlg, shortAlg backend.Algorithm
	}{
		{"token bucket", backend.TokenBucket, backend.TokenBucket},
		{"fixed window", backend.FixedWindow, backend.FixedWindow},
		{"sliding window", backend.SlidingWindow, backend.SlidingWindow},
		{"sliding log", backend.SlidingLog, backend.SlidingLog},
		{"concurrency", backend.Concurrency, backend.Concurrency},
		// Expired states in a table sampled before the live ones.
		{"expired token bucket, live fixed window", backend.FixedWindow, backend.TokenBucket},
		// Expired states in a table sampled after the live ones.
		{"expired concurrency, live token bucket", backend.TokenBucket, backend.Concurrency},
		{"expired sliding window, live sliding log", backend.SlidingLog, backend.SlidingWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newTestBackend(t, WithShards(1), WithMaxKeys(bound))
			for i := range nLong {
				apply(t, b, req(fmt.Sprint("long-", i), tc.longAlg, 1, 0, long))
			}
			for i := range bound - nLong {
				apply(t, b, req(fmt.Sprint("short-", i), tc.shortAlg, 1, 0, short))
			}
			if got, want := b.len(), bound; got != want {
				t.Fatalf("Len() after filling = %d, want %d", got, want)
			}
			for i := range nNew {
				if res := apply(t, b, req(fmt.Sprint("new-", i), tc.shortAlg, 1, advance, short)); !res.Allowed {
					t.Fatalf("new key %d denied: %+v", i, res)
				}
				if got, want := b.len(), bound; got != want {
					t.Fatalf("after new key %d: Len() = %d, want %d", i, got, want)
				}
			}
			// Each live state still holds its charge of one unit: an
			// evicted one would report the full limit.
			for i := range nLong {
				if got, want := peekRemaining(t, b, fmt.Sprint("long-", i), tc.longAlg, advance, long), int64(9); got != want {
					t.Errorf("long-%d: Remaining = %d, want %d (evicted while live)", i, got, want)
				}
			}
			for i := range nNew {
				if got, want := peekRemaining(t, b, fmt.Sprint("new-", i), tc.shortAlg, advance, short), int64(9); got != want {
					t.Errorf("new-%d: Remaining = %d, want %d (evicted while live)", i, got, want)
				}
			}
		})
	}
}

// TestMaxKeysEvictsSoonestExpiry floods a one-shard backend with live keys.
// Every sample holds at least one flood key, which expires before the few
// long-period keys, so those are never the ones evicted.
func TestMaxKeysEvictsSoonestExpiry(t *testing.T) {
	b := newTestBackend(t, WithShards(1), WithMaxKeys(20))
	long := backend.Window{Limit: 10, Period: time.Hour}
	flood := backend.Window{Limit: 10, Period: time.Minute}
	const nLong = 5
	for i := range nLong {
		apply(t, b, req(fmt.Sprint("long-", i), backend.TokenBucket, 1, 0, long))
	}
	for i := range 500 {
		apply(t, b, req(fmt.Sprint("flood-", i), backend.TokenBucket, 1, time.Duration(i)*time.Millisecond, flood))
	}
	if got, want := b.len(), 20; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	for i := range nLong {
		if got, want := peekRemaining(t, b, fmt.Sprint("long-", i), backend.TokenBucket, time.Second, long), int64(9); got != want {
			t.Errorf("long-%d: Remaining = %d, want %d (evicted before flood keys)", i, got, want)
		}
	}
}

// TestResetRemovesAllWindows stores every algorithm's state, with several
// windows, under one key and checks that Reset removes exactly that key's.
func TestResetRemovesAllWindows(t *testing.T) {
	b := newTestBackend(t, WithShards(2))
	windows := func(n int) []backend.Window {
		out := make([]backend.Window, n)
		for i := range out {
			out[i] = backend.Window{Limit: 10, Period: time.Duration(i+1) * time.Minute}
		}
		return out
	}
	charges := []struct {
		key     string
		alg     backend.Algorithm
		windows int
	}{
		{"k", backend.TokenBucket, 4},
		{"k", backend.FixedWindow, 3},
		{"k", backend.SlidingWindow, 2},
		{"k", backend.SlidingLog, 4},
		{"k", backend.Concurrency, 1},
		{"other", backend.TokenBucket, 2},
		{"other", backend.Concurrency, 1},
	}
	total := 0
	for _, c := range charges {
		if res := apply(t, b, req(c.key, c.alg, 1, 0, windows(c.windows)...)); !res.Allowed {
			t.Fatalf("%s %s denied: %+v", c.key, c.alg, res)
		}
		total += c.windows
	}
	// The same key in another namespace.
	r := req("k", backend.FixedWindow, 1, 0, windows(2)...)
	r.Namespace = "other-ns"
	apply(t, b, r)
	total += 2
	if got, want := b.len(), total; got != want {
		t.Fatalf("Len() before Reset = %d, want %d", got, want)
	}
	if err := b.Reset(context.Background(), "ns", "k"); err != nil {
		t.Fatalf("Reset() = %v", err)
	}
	if got, want := b.len(), 2+1+2; got != want {
		t.Errorf("Len() after Reset = %d, want %d (other keys only)", got, want)
	}
	for _, c := range charges {
		want := int64(10)
		if c.key == "other" {
			want = 9
		}
		ws := windows(c.windows)
		res := apply(t, b, req(c.key, c.alg, 0, time.Millisecond, ws...))
		for i := range ws {
			if got := res.Windows[i].Remaining; got != want {
				t.Errorf("%s %s window %d: Remaining after Reset = %d, want %d", c.key, c.alg, i, got, want)
			}
		}
	}
	// Resetting again, or an unknown key, is harmless.
	for _, key := range []string{"k", "never-seen"} {
		if err := b.Reset(context.Background(), "ns", key); err != nil {
			t.Errorf("Reset(%q) = %v", key, err)
		}
	}
	if got, want := b.len(), 5; got != want {
		t.Errorf("Len() after more Resets = %d, want %d", got, want)
	}
}

func TestReleaseDeletesLastLease(t *testing.T) {
	w := backend.Window{Limit: 5, Period: 10 * time.Second}
	ctx := context.Background()
	lease := func(id uint64, cost int64, at time.Duration) backend.Request {
		r := req("k", backend.Concurrency, cost, at, w)
		r.Lease = id
		return r
	}
	t.Run("released", func(t *testing.T) {
		b := newTestBackend(t)
		for _, id := range []uint64{1, 2, 3} {
			if res := apply(t, b, lease(id, 1, 0)); !res.Allowed {
				t.Fatalf("lease %d denied: %+v", id, res)
			}
		}
		for _, s := range []struct {
			id      uint64
			wantLen int
		}{{99, 1}, {1, 1}, {1, 1}, {3, 1}, {2, 0}, {2, 0}} {
			if err := b.Release(ctx, lease(s.id, 0, time.Second)); err != nil {
				t.Fatalf("Release(%d) = %v", s.id, err)
			}
			if got, want := b.len(), s.wantLen; got != want {
				t.Errorf("after Release(%d): Len() = %d, want %d", s.id, got, want)
			}
		}
		if got, want := peekRemaining(t, b, "k", backend.Concurrency, time.Second, w), int64(5); got != want {
			t.Errorf("Remaining after releasing every lease = %d, want %d", got, want)
		}
	})
	t.Run("expired but not yet dropped", func(t *testing.T) {
		b := newTestBackend(t)
		apply(t, b, lease(7, 2, 0))
		if err := b.Release(ctx, lease(7, 0, time.Minute)); err != nil {
			t.Fatalf("Release() = %v", err)
		}
		if got, want := b.len(), 0; got != want {
			t.Errorf("Len() = %d, want %d", got, want)
		}
	})
	t.Run("dropped by a later request", func(t *testing.T) {
		// A request that finds only expired leases and takes none leaves
		// no entry behind.
		b := newTestBackend(t)
		apply(t, b, lease(7, 2, 0))
		apply(t, b, lease(8, 0, time.Minute))
		if got, want := b.len(), 0; got != want {
			t.Errorf("Len() after a peek over expired leases = %d, want %d", got, want)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		b := newTestBackend(t)
		if err := b.Release(ctx, lease(1, 0, 0)); err != nil {
			t.Errorf("Release() of an unknown key = %v", err)
		}
		if got, want := b.len(), 0; got != want {
			t.Errorf("Len() = %d, want %d", got, want)
		}
	})
}
