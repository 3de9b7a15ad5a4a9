package sluicegrpc_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// clientHarness is a server behind a counting interceptor and, optionally,
// a refusing one, and a client with UnaryClientInterceptor whose waits
// move a fake clock instead of sleeping.
type clientHarness struct {
	clock    clock.Fake
	attempts atomic.Int64
	mu       sync.Mutex
	slept    []time.Duration
}

func (h *clientHarness) sleep(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	h.slept = append(h.slept, d)
	h.mu.Unlock()
	h.clock.Advance(d)
	return ctx.Err()
}

func (h *clientHarness) sleeps() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.slept...)
}

func (h *clientHarness) count(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	h.attempts.Add(1)
	return handler(ctx, req)
}

// start serves with the given interceptor (after the counting one) and
// returns a client with UnaryClientInterceptor(opts...).
func (h *clientHarness) start(t *testing.T, ic grpc.UnaryServerInterceptor, opts ...sluicegrpc.ClientOption) *grpc.ClientConn {
	opts = append([]sluicegrpc.ClientOption{sluicegrpc.WithClientSleep(h.sleep)}, opts...)
	return serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(h.count, ic)},
		grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(opts...)))
}

func newClientHarness() *clientHarness { return &clientHarness{clock: clock.NewFake(epoch)} }

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// limited returns the server interceptor on a Limiter of the harness's
// clock.
func (h *clientHarness) limited(t *testing.T, limits ...core.Limit) grpc.UnaryServerInterceptor {
	lim, err := core.New(core.WithClock(h.clock), core.WithDefault(limits...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	return sluicegrpc.UnaryServerInterceptor(lim)
}

// refusing returns a server interceptor that refuses every call with code,
// the given RetryInfo delay (none when negative) and pushback trailer
// values.
func refusing(code codes.Code, retryInfo time.Duration, pushback ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if len(pushback) > 0 {
			md := metadata.MD{}
			md["grpc-retry-pushback-ms"] = pushback
			grpc.SetTrailer(ctx, md)
		}
		st := status.New(code, "refused")
		if retryInfo >= 0 {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryInfo)})
		}
		return nil, st.Err()
	}
}

func TestClientRetriesAfterTheServersWait(t *testing.T) {
	t.Parallel()
	h := newClientHarness()
	cc := h.start(t, h.limited(t, core.PerMinute(1)), sluicegrpc.WithRetryMethods(methodSay))
	for i := range 3 {
		if err := say(t.Context(), cc); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if got, want := h.sleeps(), []time.Duration{time.Minute, time.Minute}; !equalDurations(got, want) {
		t.Errorf("waits = %v, want %v: exactly the RetryInfo delay", got, want)
	}
	if got, want := h.attempts.Load(), int64(5); got != want {
		t.Errorf("%d attempts, want %d", got, want)
	}
}

func TestClientRetryMethods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []sluicegrpc.ClientOption
		retry bool
	}{
		{"none marked", nil, false},
		{"the method", []sluicegrpc.ClientOption{sluicegrpc.WithRetryMethods(methodSay)}, true},
		{"its service", []sluicegrpc.ClientOption{sluicegrpc.WithRetryMethods("/sluice.test.v1.Echo/*")}, true},
		{"another service", []sluicegrpc.ClientOption{sluicegrpc.WithRetryMethods("/sluice.test.v1.Other/*")}, false},
		{"a predicate", []sluicegrpc.ClientOption{sluicegrpc.WithRetryIf(func(m string) bool { return m == methodSay })}, true},
		{"a predicate saying no", []sluicegrpc.ClientOption{sluicegrpc.WithRetryIf(func(string) bool { return false })}, false},
		{"one attempt", []sluicegrpc.ClientOption{sluicegrpc.WithRetryMethods(methodSay), sluicegrpc.WithMaxAttempts(1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newClientHarness()
			cc := h.start(t, h.limited(t, core.PerMinute(1)), tc.opts...)
			say(t.Context(), cc)
			err := say(t.Context(), cc)
			if retried := err == nil; retried != tc.retry {
				t.Errorf("second call: %v; retried %v, want %v", err, retried, tc.retry)
			}
		})
	}
}

func TestClientRetryBounds(t *testing.T) {
	t.Parallel()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name         string
		server       grpc.UnaryServerInterceptor
		opts         []sluicegrpc.ClientOption
		wantAttempts int64
		wantSleeps   []time.Duration
		wantCode     codes.Code
	}{
		{"max attempts by default", refusing(codes.ResourceExhausted, ms(10)), nil, 3, []time.Duration{ms(10), ms(10)}, codes.ResourceExhausted},
		{"max attempts set", refusing(codes.ResourceExhausted, ms(10)), []sluicegrpc.ClientOption{sluicegrpc.WithMaxAttempts(5)}, 5, []time.Duration{ms(10), ms(10), ms(10), ms(10)}, codes.ResourceExhausted},
		{"pushback only", refusing(codes.ResourceExhausted, -1, "250"), nil, 3, []time.Duration{ms(250), ms(250)}, codes.ResourceExhausted},
		{"the longer of RetryInfo and pushback", refusing(codes.ResourceExhausted, ms(300), "250"), nil, 3, []time.Duration{ms(300), ms(300)}, codes.ResourceExhausted},
		{"pushback 0 retries at once", refusing(codes.ResourceExhausted, -1, "0"), nil, 3, []time.Duration{0, 0}, codes.ResourceExhausted},
		{"UNAVAILABLE with a wait", refusing(codes.Unavailable, time.Second), nil, 3, []time.Duration{time.Second, time.Second}, codes.Unavailable},
		{"no wait said: no retry", refusing(codes.ResourceExhausted, -1), nil, 1, nil, codes.ResourceExhausted},
		{"a negative pushback: no retry", refusing(codes.ResourceExhausted, ms(10), "-5"), nil, 1, nil, codes.ResourceExhausted},
		{"a malformed pushback: no retry", refusing(codes.ResourceExhausted, ms(10), "100ms"), nil, 1, nil, codes.ResourceExhausted},
		{"two pushbacks: no retry", refusing(codes.ResourceExhausted, ms(10), "10", "20"), nil, 1, nil, codes.ResourceExhausted},
		{"another code: no retry", refusing(codes.Internal, ms(10)), nil, 1, nil, codes.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newClientHarness()
			cc := h.start(t, tc.server, append([]sluicegrpc.ClientOption{sluicegrpc.WithRetryMethods(methodSay)}, tc.opts...)...)
			err := say(t.Context(), cc)
			if got := status.Code(err); got != tc.wantCode {
				t.Errorf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			if got := h.attempts.Load(); got != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tc.wantAttempts)
			}
			if got := h.sleeps(); !equalDurations(got, tc.wantSleeps) {
				t.Errorf("waits %v, want %v", got, tc.wantSleeps)
			}
		})
	}
}

func TestClientDeadline(t *testing.T) {
	t.Parallel()
	h := newClientHarness()
	cc := h.start(t, refusing(codes.ResourceExhausted, time.Minute), sluicegrpc.WithRetryMethods(methodSay))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := say(ctx, cc)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("%v, want the server's RESOURCE_EXHAUSTED at once", err)
	}
	if len(h.sleeps()) != 0 || h.attempts.Load() != 1 {
		t.Errorf("waited %v over %d attempts: a wait the deadline cuts short must not start", h.sleeps(), h.attempts.Load())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestClientCanceledWait(t *testing.T) {
	t.Parallel()
	// The real wait, on a timer, ended by the caller.
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(refusing(codes.ResourceExhausted, time.Hour))},
		grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(sluicegrpc.WithRetryMethods(methodSay))))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := say(ctx, cc); status.Code(err) != codes.Canceled {
		t.Errorf("%v, want CANCELED", err)
	}
}

func TestClientRealWait(t *testing.T) {
	t.Parallel()
	// The real wait, on a timer: never shorter than the pushback.
	var n atomic.Int64
	server := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if n.Add(1) == 1 {
			return refusing(codes.ResourceExhausted, -1, "30")(ctx, req, info, handler)
		}
		return handler(ctx, req)
	}
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(server)},
		grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(sluicegrpc.WithRetryMethods(methodSay))))
	start := time.Now()
	if err := say(t.Context(), cc); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("retried after %v, before the 30ms pushback", took)
	}
}

// TestClientKeepsCallersTrailer checks that the caller's own grpc.Trailer
// option still gets the trailers.
func TestClientKeepsCallersTrailer(t *testing.T) {
	t.Parallel()
	h := newClientHarness()
	cc := h.start(t, refusing(codes.ResourceExhausted, -1, "7"), sluicegrpc.WithRetryMethods(methodSay))
	var md metadata.MD
	if err := say(t.Context(), cc, grpc.Trailer(&md)); err == nil {
		t.Fatal("the call succeeded")
	}
	if got := md.Get("grpc-retry-pushback-ms"); len(got) != 1 || got[0] != "7" {
		t.Errorf("the caller's trailer: %v", md.Get("grpc-retry-pushback-ms"))
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
