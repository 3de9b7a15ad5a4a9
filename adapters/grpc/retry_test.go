package sluicegrpc_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// retryServiceConfig is the retry policy of docs/grpc.md: gRPC's own
// retries of RESOURCE_EXHAUSTED, which wait the grpc-retry-pushback-ms the
// interceptor sends instead of the backoff.
const retryServiceConfig = `{
	"methodConfig": [{
		"name": [{"service": "sluice.test.v1.Echo"}],
		"retryPolicy": {
			"maxAttempts": 5,
			"initialBackoff": "0.1s",
			"maxBackoff": "1s",
			"backoffMultiplier": 2,
			"retryableStatusCodes": ["RESOURCE_EXHAUSTED"]
		}
	}]
}`

// serverAttempt is one attempt as the server saw it.
type serverAttempt struct {
	start, end time.Time
	denied     bool
	pushback   time.Duration
	previous   int // grpc-previous-rpc-attempts
}

// attemptRecorder is an outermost server interceptor that records every
// attempt with the pushback trailer the interceptor under it sets.
type attemptRecorder struct {
	mu       sync.Mutex
	attempts []serverAttempt
}

func (r *attemptRecorder) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	a := serverAttempt{start: time.Now()}
	if v := metadata.ValueFromIncomingContext(ctx, "grpc-previous-rpc-attempts"); len(v) > 0 {
		a.previous, _ = strconv.Atoi(v[0])
	}
	sts := &trailerKeeper{ServerTransportStream: grpc.ServerTransportStreamFromContext(ctx)}
	resp, err := handler(grpc.NewContextWithServerTransportStream(ctx, sts), req)
	a.end, a.denied = time.Now(), err != nil
	if v := sts.md.Get(sluicegrpc.MetadataRetryPushback); len(v) == 1 {
		ms, _ := strconv.Atoi(v[0])
		a.pushback = time.Duration(ms) * time.Millisecond
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	r.mu.Unlock()
	return resp, err
}

// trailerKeeper passes trailers on and keeps a copy.
type trailerKeeper struct {
	grpc.ServerTransportStream
	md metadata.MD
}

func (s *trailerKeeper) SetTrailer(md metadata.MD) error {
	s.md = metadata.Join(s.md, md)
	return s.ServerTransportStream.SetTrailer(md)
}

// TestBuiltinRetryWaitsThePushback is the measurement of docs/grpc.md: a
// client with gRPC's own retry policy (RESOURCE_EXHAUSTED retryable, 5
// attempts) makes 20 calls in a row against a limit of 5 a second. None
// may fail, and no retry may come before the pushback of the denial it
// retries. The Limiter runs on the real clock, since gRPC's retry waits in
// real time: the test takes about 3 seconds.
func TestBuiltinRetryWaitsThePushback(t *testing.T) {
	t.Parallel()
	lim, err := core.New(core.WithDefault(core.PerSecond(5)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	rec := &attemptRecorder{}
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(rec.intercept, sluicegrpc.UnaryServerInterceptor(lim))},
		grpc.WithDefaultServiceConfig(retryServiceConfig))

	start := time.Now()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := say(ctx, cc)
		cancel()
		if err != nil {
			t.Fatalf("call %d surfaced %v (%v)", i+1, status.Code(err), err)
		}
	}
	took := time.Since(start)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var (
		early, retries int
		overshoot      []time.Duration
		table          strings.Builder
	)
	fmt.Fprintf(&table, "%-8s %-10s %-14s %s\n", "attempt", "previous", "pushback", "retried after")
	for i, a := range rec.attempts {
		if a.previous == 0 {
			continue
		}
		retries++
		prev := rec.attempts[i-1]
		gap := a.start.Sub(prev.end)
		fmt.Fprintf(&table, "%-8d %-10d %-14v %v\n", i+1, a.previous, prev.pushback, gap.Round(10*time.Microsecond))
		switch {
		case !prev.denied || prev.pushback == 0:
			t.Errorf("attempt %d retried an attempt that was not denied with a pushback", i+1)
		case gap < prev.pushback:
			early++
			t.Errorf("attempt %d came %v after the denial, before its pushback of %v", i+1, gap, prev.pushback)
		default:
			overshoot = append(overshoot, gap-prev.pushback)
		}
		if a.previous > 1 {
			t.Errorf("attempt %d is a call's retry number %d: the pushback was too short for the limit", i+1, a.previous)
		}
	}
	t.Logf("20 calls in %v, %d attempts, %d retries, %d early\n%s", took.Round(time.Millisecond), len(rec.attempts), retries, early, table.String())
	if len(overshoot) > 0 {
		slices.Sort(overshoot)
		t.Logf("retry later than the pushback by: min %v, median %v, max %v",
			overshoot[0].Round(time.Microsecond), overshoot[len(overshoot)/2].Round(time.Microsecond), overshoot[len(overshoot)-1].Round(time.Microsecond))
	}
	if retries == 0 {
		t.Errorf("no call was retried: 20 calls in %v against 5/s should be denied", took)
	}
	if took > 8*time.Second {
		t.Errorf("20 calls took %v, want about 3s: the retries waited longer than the pushback", took)
	}
}
