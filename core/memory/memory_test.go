package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCloseIsIdempotent(t *testing.T) {
	b := memory.New(memory.WithSweepInterval(time.Millisecond))
	for range 3 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	}
	// Still answers after Close.
	res, err := b.Apply(context.Background(), backend.Request{Key: "k", Windows: []backend.Window{{Limit: 1, Period: time.Second}}, Cost: 1, Now: time.Unix(0, 0)})
	if err != nil || !res.Allowed {
		t.Fatalf("Apply after Close = %+v, %v", res, err)
	}
}

func TestInvalidRequests(t *testing.T) {
	b := memory.New(memory.WithSweepInterval(0))
	ok := backend.Window{Limit: 1, Period: time.Second}
	for _, tc := range []struct {
		name string
		req  backend.Request
	}{
		{"no windows", backend.Request{Cost: 1}},
		{"too many windows", backend.Request{Windows: []backend.Window{ok, ok, ok, ok, ok}}},
		{"zero period", backend.Request{Windows: []backend.Window{{Limit: 1}}}},
		{"negative limit", backend.Request{Windows: []backend.Window{{Limit: -1, Period: time.Second}}}},
		{"negative cost", backend.Request{Windows: []backend.Window{ok}, Cost: -1}},
		{"unknown algorithm", backend.Request{Windows: []backend.Window{ok}, Algorithm: 99}},
		{"two concurrency windows", backend.Request{Windows: []backend.Window{ok, ok}, Algorithm: backend.Concurrency}},
	} {
		if _, err := b.Apply(context.Background(), tc.req); err == nil {
			t.Errorf("%s: Apply() error = nil, want ErrInvalidRequest", tc.name)
		}
	}
}
