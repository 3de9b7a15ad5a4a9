package sluiceredis

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"github.com/sluicehq/sluice/testkit"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// TestMatchesMemory drives the Redis scripts and the in-memory backend,
// which calls core/internal/algo directly, through the same random requests
// on the caller's clock and requires identical results to the nanosecond:
// times off the microsecond grid, periods that their limits do not divide,
// clocks that step backwards, and limits large enough that the sliding
// window's products exceed 2^53 and take the scripts' exact slow path.
func TestMatchesMemory(t *testing.T) {
	srv := redistest.Start(t)
	rb := New(newClient(t, srv.Addr), WithCallerClock(), withExpirySlack(time.Hour))
	ms := time.Millisecond
	day := 24 * time.Hour
	configs := []struct {
		name     string
		windows  []backend.Window
		maxDelay time.Duration
	}{
		{"10/s-burst-5", []backend.Window{{Limit: 10, Period: time.Second, Burst: 5}}, 250 * ms},
		{"3/s", []backend.Window{{Limit: 3, Period: time.Second}}, 0},
		{"7/13ms", []backend.Window{{Limit: 7, Period: 13 * ms}}, 3 * ms},
		{"1e6/h", []backend.Window{{Limit: 1_000_000, Period: time.Hour}}, time.Minute},
		{"3/s+100/min", []backend.Window{{Limit: 3, Period: time.Second}, {Limit: 100, Period: time.Minute}}, 0},
		{"four-windows", []backend.Window{
			{Limit: 2, Period: 100 * ms}, {Limit: 10, Period: time.Second},
			{Limit: 100, Period: time.Minute}, {Limit: 1000, Period: time.Hour},
		}, 50 * ms},
		{"1/day-burst-3", []backend.Window{{Limit: 1, Period: day, Burst: 3}}, time.Hour},
		{"1000/30days", []backend.Window{{Limit: 1000, Period: 30 * day}}, 0},
		{"zero-limit", []backend.Window{{Limit: 0, Period: time.Second}, {Limit: 5, Period: time.Second}}, 0},
	}
	for _, alg := range allAlgorithms {
		for ci, cfg := range configs {
			windows := cfg.windows
			if alg != backend.TokenBucket {
				windows = make([]backend.Window, len(cfg.windows))
				for i, w := range cfg.windows {
					w.Burst = 0
					windows[i] = w
				}
			}
			if alg == backend.Concurrency {
				windows = windows[:1]
			}
			t.Run(alg.String()+"/"+cfg.name, func(t *testing.T) {
				t.Parallel()
				mem := memory.New(memory.WithSweepInterval(0))
				defer mem.Close()
				rng := rand.New(rand.NewPCG(uint64(alg), uint64(ci)))
				w0 := windows[0]
				capacity := w0.Limit
				if alg == backend.TokenBucket && w0.Burst > 0 {
					capacity = w0.Burst
				}
				capacity = max(1, capacity)
				now := testkit.Epoch.Add(time.Duration(rng.Int64N(int64(time.Second))))
				var held []backend.Request
				var lease uint64
				for step := range 300 {
					switch r := rng.IntN(100); {
					case r < 25: // same instant
					case r < 45:
						now = now.Add(time.Duration(rng.Int64N(1000)))
					case r < 80:
						now = now.Add(time.Duration(rng.Int64N(2*int64(w0.Period)/capacity + 1)))
					case r < 95:
						now = now.Add(time.Duration(rng.Int64N(2 * int64(w0.Period))))
					default: // a caller whose clock is behind
						now = now.Add(-time.Duration(rng.Int64N(int64(w0.Period)/2 + 1)))
					}
					if alg == backend.Concurrency && len(held) > 0 && rng.IntN(4) == 0 {
						i := rng.IntN(len(held))
						req := held[i]
						req.Now = now
						held = append(held[:i], held[i+1:]...)
						if err := mem.Release(t.Context(), req); err != nil {
							t.Fatal(err)
						}
						if err := rb.Release(t.Context(), req); err != nil {
							t.Fatalf("step %d: Release: %v", step, err)
						}
						continue
					}
					var cost int64
					switch r := rng.IntN(10); {
					case r == 0: // peek
					case r < 6:
						cost = 1
					default:
						cost = 1 + rng.Int64N(capacity/2+2)
					}
					lease++
					req := backend.Request{
						Namespace: t.Name(), Key: fmt.Sprint("k", rng.IntN(3)), Algorithm: alg,
						Windows: windows, Cost: cost, MaxDelay: cfg.maxDelay, Lease: lease, Now: now,
					}
					want, err := mem.Apply(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					got, err := rb.Apply(t.Context(), req)
					if err != nil {
						t.Fatalf("step %d: Apply: %v", step, err)
					}
					if got != want {
						t.Fatalf("step %d (%s, cost %d, at %v):\nredis  %+v\nmemory %+v",
							step, req.Key, cost, now.Sub(testkit.Epoch), got, want)
					}
					if alg == backend.Concurrency && got.Allowed && cost > 0 {
						held = append(held, req)
					}
				}
			})
		}
	}
}
