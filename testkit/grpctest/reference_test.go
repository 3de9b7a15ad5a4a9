package grpctest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/grpctest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ref is a plain implementation of the gRPC contract, written for these
// tests only, with switches that each break one rule of it. With every
// switch off it must pass the whole suite (TestReference); with one on, it
// must fail the subtest that checks that rule (TestBrokenInterceptors).
type ref struct {
	headersNotTrailers bool // a denial's metadata goes in headers
	pushbackRoundsDown bool // grpc-retry-pushback-ms is truncated
	noReleaseOnPanic   bool // the concurrency slot is released after the handler, not deferred
	leaksError         bool // UNAVAILABLE's message holds the error's text
	limitsHealth       bool // nothing is exempt by default
	pathIsMethodOnly   bool // Request.Path is "/Method", without the service
	ignoresDeadline    bool // a delay is waited even past the deadline
	noRefund           bool // an abandoned delay keeps its charge
	noDetails          bool // denials carry no RetryInfo or QuotaFailure
	firstValueOnly     bool // a metadata key's first value only
	ignoresMessages    bool // no message limit
	streamsUnlimited   bool // streams open without a decision
}

func (r ref) factory(t *testing.T, lim *core.Limiter, cfg grpctest.Config) grpctest.Interceptors {
	exempt := cfg.ExemptMethods
	if exempt == nil && !r.limitsHealth {
		exempt = []string{"/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"}
	}
	isExempt := func(method string) bool {
		for _, e := range exempt {
			if method == e || (strings.HasSuffix(e, "/") && strings.HasPrefix(method, e)) {
				return true
			}
		}
		return false
	}
	c := &refCall{ref: r, lim: lim, cfg: cfg}
	return grpctest.Interceptors{
		Unary: func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if isExempt(info.FullMethod) {
				return handler(ctx, req)
			}
			d, md, err := c.admit(ctx, info.FullMethod)
			if err != nil {
				c.send(ctx, md)
				return nil, err
			}
			if r.noReleaseOnPanic {
				resp, err := c.serveUnary(ctx, req, handler, &d)
				d.Release()
				return resp, err
			}
			defer d.Release()
			return c.serveUnary(ctx, req, handler, &d)
		},
		Stream: func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if isExempt(info.FullMethod) || r.streamsUnlimited {
				return handler(srv, ss)
			}
			ctx := ss.Context()
			d, md, err := c.admit(ctx, info.FullMethod)
			if err != nil {
				ss.SetTrailer(md)
				return err
			}
			defer d.Release()
			if md := c.allowedMD(&d); md != nil {
				ss.SetHeader(md)
			}
			exemptStream := d.Outcome == core.Exempt && (d.Rule != "" || d.Client.Exempt)
			if cfg.MessageRule != "" && !r.ignoresMessages && !exemptStream {
				id := d.Client
				if id.Kind == "" {
					rq := c.request(ctx, info.FullMethod)
					rq.Rule = cfg.MessageRule
					pd, err := lim.Peek(ctx, rq)
					if err != nil {
						return status.Error(codes.Unavailable, "unavailable")
					}
					id = pd.Client
				}
				ss = &refStream{ServerStream: ss, c: c, key: id.String()}
			}
			return handler(srv, ss)
		},
	}
}

type refCall struct {
	ref
	lim *core.Limiter
	cfg grpctest.Config
}

func (c *refCall) serveUnary(ctx context.Context, req any, handler grpc.UnaryHandler, d *core.Decision) (any, error) {
	if md := c.allowedMD(d); md != nil {
		grpc.SetHeader(ctx, md)
	}
	return handler(ctx, req)
}

// send sends the metadata of a call that does not proceed.
func (c *refCall) send(ctx context.Context, md metadata.MD) {
	if c.headersNotTrailers {
		grpc.SetHeader(ctx, md)
	} else {
		grpc.SetTrailer(ctx, md)
	}
}

func (c *refCall) request(ctx context.Context, method string) core.Request {
	path := method
	if c.pathIsMethodOnly {
		path = method[strings.LastIndexByte(method, '/'):]
	}
	md, _ := metadata.FromIncomingContext(ctx)
	r := core.Request{Method: "POST", Path: path, Header: refHeader{md, c.firstValueOnly}}
	if p, ok := peer.FromContext(ctx); ok {
		r.RemoteAddr = p.Addr.String()
	}
	return r
}

func (c *refCall) admit(ctx context.Context, method string) (core.Decision, metadata.MD, error) {
	d, err := c.lim.Decide(ctx, c.request(ctx, method))
	if err != nil {
		if ctx.Err() != nil {
			return d, nil, status.FromContextError(ctx.Err()).Err()
		}
		md, err := c.unavailable(err)
		return d, md, err
	}
	switch d.Outcome {
	case core.FailedClosed:
		md, err := c.unavailable(d.Err)
		return d, md, err
	case core.FailedOpen:
		c.cfg.OnError(d.Err)
	case core.Denied:
		md, err := c.deny(&d, d.RetryAfter)
		return d, md, err
	case core.Delayed:
		if md, err := c.delay(ctx, &d); err != nil {
			return d, md, err
		}
	}
	return d, nil, nil
}

func (c *refCall) unavailable(err error) (metadata.MD, error) {
	c.cfg.OnError(err)
	msg := "unavailable"
	if c.leaksError {
		msg = err.Error()
	}
	return metadata.Pairs("retry-after", "1", "grpc-retry-pushback-ms", "1000"), status.Error(codes.Unavailable, msg)
}

func (c *refCall) delay(ctx context.Context, d *core.Decision) (metadata.MD, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.Delay && !c.ignoresDeadline {
		d.Settle(context.WithoutCancel(ctx), 0)
		d.Release()
		return c.deny(d, d.Delay)
	}
	if err := c.cfg.Wait(ctx, d.Delay); err != nil {
		if !c.noRefund {
			d.Settle(context.WithoutCancel(ctx), 0)
		}
		d.Release()
		return nil, status.FromContextError(err).Err()
	}
	return nil, nil
}

func (c *refCall) deny(d *core.Decision, wait time.Duration) (metadata.MD, error) {
	ms := int64((wait + time.Millisecond - 1) / time.Millisecond)
	if c.pushbackRoundsDown {
		ms = int64(wait / time.Millisecond)
	}
	md := metadata.Pairs(
		"retry-after", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10),
		"grpc-retry-pushback-ms", strconv.FormatInt(ms, 10))
	if ws := d.Windows(); len(ws) > 0 && !d.Shadow {
		md.Set("ratelimit", rateLimit(d, true))
		md.Set("ratelimit-policy", policy(d))
	}
	st := status.New(codes.ResourceExhausted, "rate limit exceeded")
	if !c.noDetails {
		qf := &errdetails.QuotaFailure{}
		for _, w := range d.Windows() {
			if w.RetryAfter > 0 {
				qf.Violations = append(qf.Violations, &errdetails.QuotaFailure_Violation{
					Subject: d.Client.String(), Description: "exceeded", QuotaId: w.Limit.Name, QuotaValue: w.Limit.N})
			}
		}
		st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}, qf)
	}
	return md, st.Err()
}

func (c *refCall) allowedMD(d *core.Decision) metadata.MD {
	if len(d.Windows()) == 0 || d.Shadow {
		return nil
	}
	return metadata.Pairs("ratelimit", rateLimit(d, false), "ratelimit-policy", policy(d))
}

func secondsUp(d time.Duration) int64 { return int64((max(0, d) + time.Second - 1) / time.Second) }

func rateLimit(d *core.Decision, denied bool) string {
	var parts []string
	for _, w := range d.Windows() {
		t := w.NextAfter
		if denied {
			if w.RetryAfter <= 0 {
				continue
			}
			t = w.RetryAfter
		}
		parts = append(parts, fmt.Sprintf("%q;r=%d;t=%d", w.Limit.Name, max(0, w.Remaining), secondsUp(t)))
	}
	return strings.Join(parts, ", ")
}

func policy(d *core.Decision) string {
	var parts []string
	for _, w := range d.Windows() {
		if d.Algorithm == backend.Concurrency {
			parts = append(parts, fmt.Sprintf("%q;q=%d", w.Limit.Name, w.Limit.N))
		} else {
			parts = append(parts, fmt.Sprintf("%q;q=%d;w=%d", w.Limit.Name, w.Limit.N, secondsUp(w.Limit.Per)))
		}
	}
	return strings.Join(parts, ", ")
}

// refStream charges each received message to the message rule.
type refStream struct {
	grpc.ServerStream
	c   *refCall
	key string
}

func (s *refStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	ctx := s.Context()
	d, err := s.c.lim.Take(ctx, s.c.cfg.MessageRule, s.key, 1)
	if err != nil {
		return status.Error(codes.Unavailable, "unavailable")
	}
	var md metadata.MD
	switch d.Outcome {
	case core.Denied:
		md, err = s.c.deny(&d, d.RetryAfter)
	case core.Delayed:
		md, err = s.c.delay(ctx, &d)
	}
	if md != nil {
		s.SetTrailer(md)
	}
	return err
}

// refHeader is a core.Header over a copy of the incoming metadata.
type refHeader struct {
	md         metadata.MD
	firstValue bool
}

func (h refHeader) Get(name string) string {
	if v := h.md.Get(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h refHeader) Values(name string) []string {
	v := h.md.Get(name)
	if h.firstValue && len(v) > 1 {
		return v[:1]
	}
	return v
}

// TestReference runs the suite on the reference implementation, which
// must pass every subtest.
func TestReference(t *testing.T) {
	grpctest.RunInterceptorSuite(t, ref{}.factory)
}
