package grpctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Interceptors are the server interceptors under test.
type Interceptors struct {
	// Unary limits unary calls.
	Unary grpc.UnaryServerInterceptor
	// Stream limits streams.
	Stream grpc.StreamServerInterceptor
}

// Config is what a subtest asks of the interceptors; the Factory turns it
// into the interceptors' own options.
type Config struct {
	// Wait is how the interceptors must wait a Delayed decision's delay,
	// for calls, streams and messages: the suite runs the Limiter on a
	// fake clock and passes a function that sleeps on it, or one that
	// records the delay. It returns ctx's error when ctx ends first.
	Wait func(ctx context.Context, d time.Duration) error
	// OnError must receive every error the interceptors do not send to the
	// client: a backend failure behind a fail-open or fail-closed decision,
	// and an error of Decide.
	OnError func(err error)
	// MessageRule, when not empty, names the rule that limits the messages
	// each stream receives: each is charged one unit with Limiter.Take,
	// keyed by the stream's client; a Delayed charge waits (with Wait),
	// a denial fails RecvMsg with RESOURCE_EXHAUSTED.
	MessageRule string
	// ExemptMethods, when not nil, replaces the methods the interceptors
	// exempt by default (the health and reflection services): full method
	// names, or "/pkg.Service/*". An empty, non-nil slice exempts none.
	ExemptMethods []string
}

// Factory builds the interceptors under test for lim, configured as cfg
// says. It is called once per subtest, and may be called more than once.
type Factory func(t *testing.T, lim *core.Limiter, cfg Config) Interceptors

// Epoch is the time the suite's fake clock starts at, aligned to every
// period the suite uses.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// RunInterceptorSuite checks that a pair of gRPC server interceptors
// applies a Limiter as Sluice's gRPC contract says (package sluicegrpc
// documents it): rules matched by full method name with Method "POST";
// denials as RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure details and
// the ratelimit, ratelimit-policy, retry-after and grpc-retry-pushback-ms
// values in trailers, in a trailers-only response that gRPC's built-in
// retry policy retries exactly after the pushback; ratelimit and
// ratelimit-policy as header metadata of admitted calls; delays that honour
// the call's context and deadline and are refunded when the call does not
// proceed; the health and reflection services exempt by default; shadow
// rules, fail-open, fail-closed and Decide errors as UNAVAILABLE without
// the error's text; concurrency slots released when the handler returns or
// panics; stream openings and stream messages limited; and clients
// identified from the peer address and metadata exactly as HTTP requests
// are. Every call goes over a real connection. Run it under -race.
func RunInterceptorSuite(t *testing.T, newInterceptors Factory) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			defer close(done)
			go func() { // a watchdog: a hung case fails, not the whole binary
				select {
				case <-done:
				case <-time.After(time.Minute):
					t.Errorf("%s did not finish within a minute", tc.name)
				}
			}()
			tc.run(newHarness(t, newInterceptors))
		})
	}
}

// harness serves the test service through the interceptors under test.
type harness struct {
	t       *testing.T
	factory Factory
	clock   clock.Fake
	calls   sync.Map // name -> *atomic.Int64
	release chan struct{}
	once    sync.Once
	entered chan struct{}
	errs    chan error

	mu       sync.Mutex
	waits    []time.Duration
	attempts []attempt
}

// attempt is one call the server saw, as its outermost interceptor saw
// it.
type attempt struct {
	method     string
	start, end time.Time
	code       codes.Code
	pushback   string
	previous   string // grpc-previous-rpc-attempts
}

func newHarness(t *testing.T, f Factory) *harness {
	return &harness{
		t: t, factory: f, clock: clock.NewFake(epoch),
		release: make(chan struct{}), entered: make(chan struct{}, 16), errs: make(chan error, 64),
	}
}

func (h *harness) counter(name string) *atomic.Int64 {
	c, _ := h.calls.LoadOrStore(name, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// hold blocks a handler until the harness lets it go (letGo) or its caller
// leaves.
func (h *harness) hold(ctx context.Context) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
}

func (h *harness) letGo() { h.once.Do(func() { close(h.release) }) }

// recordWait is a Config.Wait that records the delay and returns at once.
func (h *harness) recordWait(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waits = append(h.waits, d)
	return nil
}

func (h *harness) recordedWaits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

// serve starts the interceptors with a Limiter built from limOpts, on the
// harness's fake clock unless limOpts set another, and returns a client
// connection to them.
func (h *harness) serve(limOpts []core.Option, cfg Config, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	h.t.Helper()
	lim, err := core.New(append([]core.Option{core.WithClock(h.clock)}, limOpts...)...)
	if err != nil {
		h.t.Fatalf("core.New: %v", err)
	}
	h.t.Cleanup(func() { lim.Close() })
	return h.start(lim, cfg, dialOpts...)
}

// start serves the test service, the health service and reflection
// through the interceptors under test, built for lim, on a loopback
// listener.
func (h *harness) start(lim *core.Limiter, cfg Config, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	h.t.Helper()
	if cfg.Wait == nil {
		cfg.Wait = h.clock.Sleep
	}
	if cfg.OnError == nil {
		cfg.OnError = func(err error) {
			select {
			case h.errs <- err:
			default:
			}
		}
	}
	ic := h.factory(h.t, lim, cfg)
	unaries := []grpc.UnaryServerInterceptor{h.outerUnary}
	if ic.Unary != nil {
		unaries = append(unaries, ic.Unary)
	}
	streams := []grpc.StreamServerInterceptor{h.outerStream}
	if ic.Stream != nil {
		streams = append(streams, ic.Stream)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unaries...), grpc.ChainStreamInterceptor(streams...))
	srv.RegisterService(h.serviceDesc(), nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go srv.Serve(lis)
	h.t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { cc.Close() })
	return cc
}

// outerUnary is the outermost unary interceptor: it turns a handler's
// panic into INTERNAL, as a recovery interceptor does (grpc-go lets a panic
// end the process), and records every attempt with the trailers the
// interceptors under test set.
func (h *harness) outerUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	a := attempt{method: info.FullMethod, start: time.Now()}
	if v := metadata.ValueFromIncomingContext(ctx, "grpc-previous-rpc-attempts"); len(v) > 0 {
		a.previous = v[0]
	}
	sts := &trailerRecorder{ServerTransportStream: grpc.ServerTransportStreamFromContext(ctx)}
	ctx = grpc.NewContextWithServerTransportStream(ctx, sts)
	defer func() {
		if p := recover(); p != nil {
			err = status.Error(codes.Internal, "grpctest: the handler panicked")
		}
		a.end, a.code = time.Now(), status.Code(err)
		if v := sts.trailer().Get("grpc-retry-pushback-ms"); len(v) > 0 {
			a.pushback = v[0]
		}
		h.mu.Lock()
		h.attempts = append(h.attempts, a)
		h.mu.Unlock()
	}()
	return handler(ctx, req)
}

// trailerRecorder passes trailers on, keeping a copy.
type trailerRecorder struct {
	grpc.ServerTransportStream
	mu sync.Mutex
	md metadata.MD
}

func (s *trailerRecorder) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	s.md = metadata.Join(s.md, md)
	s.mu.Unlock()
	return s.ServerTransportStream.SetTrailer(md)
}

func (s *trailerRecorder) trailer() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md
}

func (h *harness) outerStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Error(codes.Internal, "grpctest: the handler panicked")
		}
	}()
	return handler(srv, ss)
}

// result is what a call got back.
type result struct {
	header, trailer metadata.MD
	err             error
}

func (r result) code() codes.Code { return status.Code(r.err) }

// call makes a unary call of the test service.
func (h *harness) call(ctx context.Context, cc *grpc.ClientConn, method string, opts ...grpc.CallOption) result {
	h.t.Helper()
	var r result
	out := new(wrapperspb.StringValue)
	r.err = cc.Invoke(ctx, method, wrapperspb.String("hi"), out, append([]grpc.CallOption{grpc.Header(&r.header), grpc.Trailer(&r.trailer)}, opts...)...)
	return r
}

func (h *harness) say(cc *grpc.ClientConn) result {
	h.t.Helper()
	return h.call(h.t.Context(), cc, methodSay)
}

// chat is a client's end of a Chat stream.
type chat struct {
	h  *harness
	cs grpc.ClientStream
}

// chat opens a Chat stream (or another bidi method of the test service).
func (h *harness) chat(ctx context.Context, cc *grpc.ClientConn, method string) *chat {
	h.t.Helper()
	cs, err := cc.NewStream(ctx, chatDesc, method)
	if err != nil {
		h.t.Fatalf("opening %s: %v", method, err)
	}
	return &chat{h: h, cs: cs}
}

// send sends msg and receives its echo, returning the error of either.
func (c *chat) send(msg string) error {
	if err := c.cs.SendMsg(wrapperspb.String(msg)); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	out := new(wrapperspb.StringValue)
	if err := c.cs.RecvMsg(out); err != nil {
		return err
	}
	if out.GetValue() != msg {
		c.h.t.Errorf("stream echoed %q, want %q", out.GetValue(), msg)
	}
	return nil
}

// close ends the stream from the client's side and waits for its status.
func (c *chat) close() error {
	c.cs.CloseSend()
	for {
		if err := c.cs.RecvMsg(new(wrapperspb.StringValue)); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// streamResult is the header and trailer metadata of a stream that ended.
func (c *chat) result(err error) result {
	hdr, _ := c.cs.Header()
	return result{header: hdr, trailer: c.cs.Trailer(), err: err}
}

// expect checks a result: its code, and exact metadata values (several
// values joined by ", "; "" means absent) in its header and trailer.
func (h *harness) expect(what string, r result, code codes.Code, header, trailer map[string]string) {
	h.t.Helper()
	if r.code() != code {
		h.t.Errorf("%s: code %v (%v), want %v", what, r.code(), r.err, code)
	}
	for k, want := range header {
		if got := strings.Join(r.header.Get(k), ", "); got != want {
			h.t.Errorf("%s: header %s = %q, want %q", what, k, got, want)
		}
	}
	for k, want := range trailer {
		if got := strings.Join(r.trailer.Get(k), ", "); got != want {
			h.t.Errorf("%s: trailer %s = %q, want %q", what, k, got, want)
		}
	}
	h.checkStructuredFields(what, r.header)
	h.checkStructuredFields(what, r.trailer)
}

// checkStructuredFields parses the draft-10 values with a structured-fields
// parser: lists of quoted-string items with integer parameters.
func (h *harness) checkStructuredFields(what string, md metadata.MD) {
	h.t.Helper()
	for key, params := range map[string][]string{"ratelimit-policy": {"q", "w"}, "ratelimit": {"r", "t"}} {
		v := md.Get(key)
		if len(v) == 0 {
			continue
		}
		list, err := httpsfv.UnmarshalList(v)
		if err != nil {
			h.t.Errorf("%s: %s %q is not a structured-field list: %v", what, key, v, err)
			continue
		}
		for _, m := range list {
			item, ok := m.(httpsfv.Item)
			if !ok {
				h.t.Errorf("%s: %s member %v is not an item", what, key, m)
				continue
			}
			if _, ok := item.Value.(string); !ok {
				h.t.Errorf("%s: %s item %v is not a quoted string", what, key, item.Value)
			}
			for _, p := range params {
				if pv, ok := item.Params.Get(p); ok {
					if n, isInt := pv.(int64); !isInt || n < 0 {
						h.t.Errorf("%s: %s parameter %s=%v is not a non-negative integer", what, key, p, pv)
					}
				} else if p != "w" {
					h.t.Errorf("%s: %s item %v lacks parameter %s", what, key, item.Value, p)
				}
			}
		}
	}
}

// noLimitMD is the expectation of metadata that must carry no rate-limit
// values.
var noLimitMD = map[string]string{
	"ratelimit": "", "ratelimit-policy": "", "retry-after": "", "grpc-retry-pushback-ms": "",
}

// details returns the RetryInfo and QuotaFailure details of err's status.
func details(err error) (*errdetails.RetryInfo, *errdetails.QuotaFailure) {
	var (
		ri *errdetails.RetryInfo
		qf *errdetails.QuotaFailure
	)
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			ri = d
		case *errdetails.QuotaFailure:
			qf = d
		}
	}
	return ri, qf
}

// expectRetryInfo checks that err carries a RetryInfo detail of exactly
// want.
func (h *harness) expectRetryInfo(what string, err error, want time.Duration) {
	h.t.Helper()
	ri, _ := details(err)
	switch {
	case ri == nil || ri.GetRetryDelay() == nil:
		h.t.Errorf("%s: no RetryInfo detail with a retry delay in %v", what, err)
	case ri.GetRetryDelay().AsDuration() != want:
		h.t.Errorf("%s: RetryInfo delay %v, want %v", what, ri.GetRetryDelay().AsDuration(), want)
	}
}

// expectReported checks that the error handler received an error wrapping
// target.
func (h *harness) expectReported(target error) {
	h.t.Helper()
	select {
	case err := <-h.errs:
		if !errors.Is(err, target) {
			h.t.Errorf("error handler got %v, want it to wrap %v", err, target)
		}
	case <-time.After(5 * time.Second):
		h.t.Errorf("error handler was not called with %v", target)
	}
}

// expectLeakFree checks that a status sent to the client holds nothing of
// an internal error.
func (h *harness) expectLeakFree(what string, err error, words ...string) {
	h.t.Helper()
	msg := status.Convert(err).Message()
	for _, w := range words {
		if strings.Contains(msg, w) {
			h.t.Errorf("%s: the status message %q leaks the error (%q)", what, msg, w)
		}
	}
}

// failingBackend fails every call with a message that must never reach a
// client.
type failingBackend struct{}

const secretError = "dial tcp 10.1.2.3:6379: secret internal detail"

func (failingBackend) Apply(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, errors.New(secretError)
}
func (failingBackend) Release(context.Context, backend.Request) error { return errors.New(secretError) }
func (failingBackend) Settle(context.Context, backend.Settlement) error {
	return errors.New(secretError)
}
func (failingBackend) Reset(context.Context, string, string) error { return errors.New(secretError) }

// identifierFunc adapts a function to a core.Identifier.
type identifierFunc func(ctx context.Context, r core.Request) (core.Identity, error)

func (f identifierFunc) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	return f(ctx, r)
}

func msgf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
