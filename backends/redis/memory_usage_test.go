package sluiceredis

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// TestMemoryUsage measures, with MEMORY USAGE, the Redis memory one client
// key costs per window for each algorithm, and per entry for the sliding
// log and per lease for concurrency, with the default key prefix. Run it
// with -v to see the figures that doc.go documents; it fails if they grow
// well past them.
func TestMemoryUsage(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client, WithCallerClock())
	usage := func(key string) int64 {
		t.Helper()
		n, err := client.MemoryUsage(t.Context(), key, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return n
	}
	now := time.Now()
	for _, tc := range []struct {
		alg     backend.Algorithm
		entries int // distinct requests (log entries, leases)
		max     int64
	}{
		{backend.TokenBucket, 1, 120}, // "tat tag": the tag tells a reload's new limit from a request out of order
		{backend.FixedWindow, 1, 136}, // "end count period": the period tells a reload's new limit from skew
		{backend.SlidingWindow, 1, 128},
		{backend.SlidingLog, 1, 150},
		{backend.SlidingLog, 10, 500},
		{backend.SlidingLog, 100, 4500},
		{backend.Concurrency, 1, 150},
		{backend.Concurrency, 10, 600},
		{backend.Concurrency, 100, 5500},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.alg, tc.entries), func(t *testing.T) {
			key := fmt.Sprintf("client-%d", tc.entries)
			var res backend.Result
			for i := range tc.entries {
				var err error
				res, err = b.Apply(t.Context(), backend.Request{
					Namespace: "memory", Key: key, Algorithm: tc.alg,
					Windows: []backend.Window{{Limit: 1000, Period: time.Hour}},
					Cost:    1, Lease: uint64(now.UnixNano()) + uint64(i), Now: now.Add(time.Duration(i) * time.Millisecond),
				})
				if err != nil || !res.Allowed {
					t.Fatalf("Apply = %+v, %v", res, err)
				}
			}
			k := b.keys("memory", key, tc.alg, 1)[0]
			n := usage(k)
			t.Logf("%-14v %3d entries: %5d bytes (key %q, %d bytes)", tc.alg, tc.entries, n, k, len(k))
			if n > tc.max {
				t.Errorf("MEMORY USAGE = %d bytes, want at most %d", n, tc.max)
			}
		})
	}
}
