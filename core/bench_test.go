package core_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
)

// benchAlgorithms are the algorithms a whole decision is benchmarked with:
// limits high enough that the hot key is never denied.
var benchAlgorithms = []struct {
	name string
	rule core.Rule
}{
	{"token_bucket", core.Rule{Algorithm: backend.TokenBucket, Limits: []core.Limit{core.PerSecond(1 << 40)}}},
	{"fixed_window", core.Rule{Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerSecond(1 << 40)}}},
	{"sliding_window", core.Rule{Algorithm: backend.SlidingWindow, Limits: []core.Limit{core.PerSecond(1 << 40)}}},
}

// BenchmarkDecide measures a whole decision from a Request: the client key
// from the remote address, rule matching and the in-memory backend.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgorithms {
		newLimiter := func(b *testing.B) *core.Limiter {
			rule := alg.rule
			rule.Name = "api"
			rule.Path = "/api/**"
			lim, err := core.New(
				core.WithRules(rule, core.Rule{Name: "login", Path: "/login", Limits: []core.Limit{core.PerMinute(5)}}),
				core.WithDefault(core.PerSecond(1<<40)),
				core.WithClock(clock.NewFake(time.Unix(1_700_000_000, 0))),
			)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { lim.Close() })
			return lim
		}
		req := core.Request{Method: "GET", Path: "/api/items", RemoteAddr: "203.0.113.7:51234", Header: http.Header{}}
		b.Run(alg.name+"/hot-key-serial", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lim.Decide(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.name+"/hot-key-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := lim.Decide(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(alg.name+"/100k-keys-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			reqs := make([]core.Request, 100_000)
			for i := range reqs {
				reqs[i] = req
				reqs[i].RemoteAddr = fmt.Sprintf("10.%d.%d.%d:4000", i>>16, (i>>8)&255, i&255)
				if _, err := lim.Decide(ctx, reqs[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(reqs))
				for pb.Next() {
					if _, err := lim.Decide(ctx, reqs[i]); err != nil {
						b.Error(err)
						return
					}
					if i++; i == len(reqs) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkTake measures the keyed call beside BenchmarkDecide: the same
// rules and algorithms, the rule by name and the key as given.
func BenchmarkTake(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgorithms {
		newLimiter := func(b *testing.B) *core.Limiter {
			rule := alg.rule
			rule.Name = "api"
			rule.NameOnly = true
			lim, err := core.New(
				core.WithRules(rule, core.Rule{Name: "login", Path: "/login", Limits: []core.Limit{core.PerMinute(5)}}),
				core.WithDefault(core.PerSecond(1<<40)),
				core.WithClock(clock.NewFake(time.Unix(1_700_000_000, 0))),
			)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { lim.Close() })
			return lim
		}
		b.Run(alg.name+"/hot-key-serial", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lim.Take(ctx, "api", "tenant-42", 1); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.name+"/hot-key-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := lim.Take(ctx, "api", "tenant-42", 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(alg.name+"/100k-keys-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			keys := make([]string, 100_000)
			for i := range keys {
				keys[i] = fmt.Sprintf("tenant-%d", i)
				if _, err := lim.Take(ctx, "api", keys[i], 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					if _, err := lim.Take(ctx, "api", keys[i], 1); err != nil {
						b.Error(err)
						return
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkUserShaped measures what a user's code does, as an independent
// harness measured it: a per-key token bucket of 100/s with a burst of 100,
// keys "user-<n>", the real clock read per call, so that a hot key is
// denied most of the time and 100k keys are mostly admitted. Decide gets
// the key as a custom identity; Take as its key.
func BenchmarkUserShaped(b *testing.B) {
	ctx := context.Background()
	newLimiter := func(b *testing.B) *core.Limiter {
		lim, err := core.New(core.WithRules(core.Rule{
			Name: "per-user", NameOnly: true,
			Limits: []core.Limit{{N: 100, Per: time.Second, Burst: 100}},
		}), core.WithDefault(core.Limit{N: 100, Per: time.Second, Burst: 100}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lim.Close() })
		return lim
	}
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	calls := []struct {
		name string
		call func(lim *core.Limiter, key string) error
	}{
		{"decide", func(lim *core.Limiter, key string) error {
			_, err := lim.Decide(ctx, core.Request{Identity: core.Identity{Kind: core.KindCustom, Value: key}})
			return err
		}},
		{"take", func(lim *core.Limiter, key string) error {
			_, err := lim.Take(ctx, "per-user", key, 1)
			return err
		}},
	}
	for _, c := range calls {
		b.Run(c.name+"/hot-key-serial", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.call(lim, keys[42]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/hot-key-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.call(lim, keys[42]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(c.name+"/100k-keys-parallel", func(b *testing.B) {
			lim := newLimiter(b)
			for _, k := range keys {
				if err := c.call(lim, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys))
				for pb.Next() {
					if err := c.call(lim, keys[i]); err != nil {
						b.Error(err)
						return
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}
