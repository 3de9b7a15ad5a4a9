package memory

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// TestFloodStaysWithinTheBound sends 5 million distinct clients, as one
// host rotating through IPv6 /64s would, at a backend with the default
// bound: the heap stays within it, every eviction is reported, and every
// decision is still right (a client kept has its charge, one evicted starts
// afresh, none is anything else).
func TestFloodStaysWithinTheBound(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("5 million decisions: run without -race and -short")
	}
	const clients = 5_000_000
	ctx := context.Background()
	b := New(WithSweepInterval(0))
	defer b.Close()
	w := backend.Window{Limit: 10, Period: time.Hour}
	req := backend.Request{Namespace: "ip:r:api", Windows: []backend.Window{w}, Cost: 1, Now: time.Unix(1_700_000_000, 0)}
	key := func(i int) string { return "2001:db8:" + strconv.FormatInt(int64(i), 16) + "::/64" }

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	evicted := 0
	for i := range clients {
		req.Key = key(i)
		res, err := b.Apply(ctx, req)
		if err != nil || !res.Allowed || res.Windows[0].Remaining != 9 {
			t.Fatalf("client %d: %+v, %v; want allowed with 9 left: a new client starts afresh", i, res, err)
		}
		evicted += res.Evicted
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	kept := b.len()
	if kept > defaultMaxKeys || kept < defaultMaxKeys*9/10 {
		t.Errorf("%d states after %d clients, want at most the bound %d and close to it", kept, clients, defaultMaxKeys)
	}
	if evicted != clients-kept {
		t.Errorf("%d evictions reported for %d clients and %d states kept, want %d", evicted, clients, kept, clients-kept)
	}
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	if limit := int64(defaultMaxKeys) * 100; heap > limit {
		t.Errorf("the heap grew by %d bytes, want at most %d (100 bytes a state)", heap, limit)
	}
	// Every client is either kept, with its charge, or evicted, starting
	// afresh: never anything else.
	peek := req
	peek.Cost = 0
	seenKept := 0
	for i := 0; i < clients; i += 499 {
		peek.Key = key(i)
		res, err := b.Apply(ctx, peek)
		switch r := res.Windows[0].Remaining; {
		case err != nil:
			t.Fatal(err)
		case r == 9:
			seenKept++
		case r != 10:
			t.Fatalf("client %d: %d remaining, want 9 (kept) or 10 (evicted)", i, r)
		}
	}
	t.Logf("%d clients: %d states kept, %d evicted, heap +%.1f MB (%.1f bytes a state); %d of %d sampled clients kept",
		clients, kept, evicted, float64(heap)/(1<<20), float64(heap)/float64(kept), seenKept, clients/499+1)
}
