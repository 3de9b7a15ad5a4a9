package sluicegrpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// httpMethod is the core.Request.Method of every gRPC call: gRPC calls are
// HTTP/2 POST requests, so a rule restricted to POST applies to them.
const httpMethod = "POST"

// unavailableRetry is how long a client is told to wait after an
// UNAVAILABLE answer: the backend failed and the rule fails closed, or no
// decision could be made.
const unavailableRetry = time.Second

// interceptor holds what the unary and stream interceptors share.
type interceptor struct {
	lim      *core.Limiter
	cfg      config
	policies policies
	// addrs holds the formatted addresses of recent TCP peers, keyed by
	// the *net.TCPAddr: grpc-go gives every call of a connection the same
	// one, never changed, so a connection's address is formatted once,
	// not per call. It is emptied when it holds maxAddrs.
	addrs  sync.Map // *net.TCPAddr -> string
	naddrs atomic.Int32
}

// maxAddrs bounds interceptor.addrs.
const maxAddrs = 4096

func newInterceptor(lim *core.Limiter, opts []Option) *interceptor {
	if lim == nil {
		panic("sluicegrpc: nil *core.Limiter")
	}
	return &interceptor{lim: lim, cfg: newConfig(opts)}
}

// UnaryServerInterceptor returns a unary server interceptor that limits
// every call with lim:
//
//	grpc.NewServer(grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim)))
//
// See the package documentation for what a call gets. It panics if lim is
// nil.
func UnaryServerInterceptor(lim *core.Limiter, opts ...Option) grpc.UnaryServerInterceptor {
	i := newInterceptor(lim, opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if matchMethod(i.cfg.exempt, info.FullMethod) {
			return handler(ctx, req)
		}
		var d core.Decision
		trailer, err := i.admit(ctx, info.FullMethod, &d)
		if err != nil {
			if trailer != nil {
				grpc.SetTrailer(ctx, trailer)
			}
			return nil, err
		}
		defer d.Release()
		if i.cfg.headerMD && limited(&d) {
			grpc.SetHeader(ctx, i.policies.headerMD(&d))
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns a stream server interceptor that limits
// opening streams with lim, as UnaryServerInterceptor limits calls, and,
// with WithMessageRule, the messages each stream receives:
//
//	grpc.NewServer(grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(lim)))
//
// See the package documentation for what a stream gets. It panics if lim
// is nil.
func StreamServerInterceptor(lim *core.Limiter, opts ...Option) grpc.StreamServerInterceptor {
	i := newInterceptor(lim, opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if matchMethod(i.cfg.exempt, info.FullMethod) {
			return handler(srv, ss)
		}
		ctx := ss.Context()
		var d core.Decision
		trailer, err := i.admit(ctx, info.FullMethod, &d)
		if err != nil {
			if trailer != nil {
				ss.SetTrailer(trailer)
			}
			return err
		}
		defer d.Release()
		var key string
		if i.cfg.messageRule != "" {
			// Before any header metadata, so that a failure here is still
			// a trailers-only answer.
			if key, err = i.messageKey(ctx, info.FullMethod, &d); err != nil {
				md, err := i.failed(ctx, info.FullMethod, err)
				if md != nil {
					ss.SetTrailer(md)
				}
				return err
			}
		}
		if i.cfg.headerMD && limited(&d) {
			ss.SetHeader(i.policies.headerMD(&d))
		}
		if key != "" {
			ss = &limitedStream{ServerStream: ss, i: i, method: info.FullMethod, key: key}
		}
		return handler(srv, ss)
	}
}

// request builds the core.Request of a call.
func (i *interceptor) request(ctx context.Context, method string) core.Request {
	r := core.Request{Method: httpMethod, Path: method, Header: &incomingHeader{ctx}}
	if p, ok := peer.FromContext(ctx); ok {
		r.RemoteAddr = i.remoteAddr(p.Addr)
		if i.cfg.clientCert {
			r.Identity = certIdentity(p)
		}
	}
	return r
}

// remoteAddr returns addrString(a), from the cache for a TCP address seen
// before.
func (i *interceptor) remoteAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return addrString(a)
	}
	if s, ok := i.addrs.Load(tcp); ok {
		return s.(string)
	}
	s := addrString(tcp)
	if i.naddrs.Add(1) > maxAddrs {
		i.addrs.Clear()
		i.naddrs.Store(1)
	}
	i.addrs.Store(tcp, s)
	return s
}

// addrString returns a peer's address as net/http writes
// http.Request.RemoteAddr ("192.0.2.7:51234", "[2001:db8::1]:443"). A TCP
// address, the common case, is formatted in one allocation instead of the
// three of its String method. Any other address is its String, or, when
// that is empty (the peer of a Unix socket), its network ("unix"), so
// that such a call still has a client.
func addrString(a net.Addr) string {
	switch a := a.(type) {
	case nil:
		return ""
	case *net.TCPAddr:
		if ip, ok := netip.AddrFromSlice(a.IP); ok && a.Zone == "" {
			var buf [64]byte
			return string(netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)).AppendTo(buf[:0]))
		}
	}
	if s := a.String(); s != "" {
		return s
	}
	return a.Network()
}

// certIdentity returns the identity of a peer's verified client
// certificate, or the zero Identity when there is none.
func certIdentity(p *peer.Peer) core.Identity {
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.PeerCertificates) == 0 {
		return core.Identity{}
	}
	return core.Identity{Kind: core.KindUser, Value: ti.State.PeerCertificates[0].Subject.String()}
}

// admit decides on a call, or on the opening of a stream, into d (a
// Decision is large: filled in place, it is copied once), and waits out a
// Delayed decision. When the call must not proceed it returns the status
// error to answer with and the trailer metadata to send with it (nil
// when there is none).
func (i *interceptor) admit(ctx context.Context, method string, d *core.Decision) (metadata.MD, error) {
	var err error
	if *d, err = i.lim.Decide(ctx, i.request(ctx, method)); err != nil {
		return i.failed(ctx, method, err)
	}
	switch d.Outcome {
	case core.FailedClosed:
		i.cfg.report(ctx, method, d.Err)
		return unavailable()
	case core.FailedOpen:
		i.cfg.report(ctx, method, d.Err)
	case core.Denied:
		return i.denied(d)
	case core.Delayed:
		return i.delay(ctx, method, d)
	}
	return nil, nil
}

// delay waits a Delayed decision's delay. If the context's deadline comes
// first it gives up at once; then, and when the wait fails, it refunds the
// charge, releases the decision and returns the status to answer with.
func (i *interceptor) delay(ctx context.Context, method string, d *core.Decision) (metadata.MD, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.Delay {
		i.unwait(ctx, method, d)
		return i.throttled(d)
	}
	if err := i.cfg.wait(ctx, d.Delay); err != nil {
		i.unwait(ctx, method, d)
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		i.cfg.report(ctx, method, err)
		return unavailable()
	}
	return nil, nil
}

// unwait refunds a Delayed charge whose call does not proceed.
func (i *interceptor) unwait(ctx context.Context, method string, d *core.Decision) {
	if err := d.Settle(context.WithoutCancel(ctx), 0); err != nil {
		i.cfg.report(ctx, method, err)
	}
	d.Release()
}

// failed turns an error of Decide, Peek or Take into the answer: the
// context's own status when it ended, UNAVAILABLE otherwise, never with
// the error's text.
func (i *interceptor) failed(ctx context.Context, method string, err error) (metadata.MD, error) {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return nil, status.FromContextError(ctxErr).Err()
	}
	i.cfg.report(ctx, method, err)
	return unavailable()
}

// denied returns the answer to a denial: RESOURCE_EXHAUSTED with RetryInfo
// and QuotaFailure details, and the rate-limit values, Retry-After and the
// retry pushback as trailers.
func (i *interceptor) denied(d *core.Decision) (metadata.MD, error) {
	md := i.trailer(d, d.RetryAfter, true)
	var violations []*errdetails.QuotaFailure_Violation
	subject := d.Client.String()
	for _, w := range d.Windows() {
		if w.RetryAfter <= 0 {
			continue
		}
		violations = append(violations, &errdetails.QuotaFailure_Violation{
			Subject:     subject,
			Description: fmt.Sprintf("rate limit %s of rule %q exceeded", w.Limit, d.Rule),
			QuotaId:     w.Limit.Name,
			QuotaValue:  w.Limit.N,
		})
	}
	if len(violations) == 0 { // a denial no window explains, such as a penalty's block
		violations = append(violations, &errdetails.QuotaFailure_Violation{
			Subject: subject, Description: fmt.Sprintf("rule %q denied the call", d.Rule), QuotaId: d.Rule,
		})
	}
	msg := fmt.Sprintf("rate limit exceeded; retry after %v", time.Duration(millis(d.RetryAfter))*time.Millisecond)
	return md, withDetails(codes.ResourceExhausted, msg, d.RetryAfter, &errdetails.QuotaFailure{Violations: violations})
}

// throttled returns the answer to a Delayed call whose deadline comes
// before its delay ends: RESOURCE_EXHAUSTED, with the delay as the time to
// wait.
func (i *interceptor) throttled(d *core.Decision) (metadata.MD, error) {
	md := i.trailer(d, d.Delay, false)
	msg := fmt.Sprintf("rate limit: the call would wait %v, past its deadline", d.Delay)
	return md, withDetails(codes.ResourceExhausted, msg, d.Delay, nil)
}

// trailer returns the trailer metadata of a call that does not proceed
// and may be retried after wait.
func (i *interceptor) trailer(d *core.Decision, wait time.Duration, denied bool) metadata.MD {
	md := metadata.MD{
		MetadataRetryAfter:    {strconv.FormatInt(max(1, seconds(wait)), 10)},
		MetadataRetryPushback: {strconv.FormatInt(millis(wait), 10)},
	}
	if limited(d) {
		md[MetadataRateLimit] = []string{string(appendRateLimit(nil, d, denied))}
		md[MetadataRateLimitPolicy] = []string{i.policies.policy(d)}
	}
	return md
}

// unavailable returns the answer to a call that cannot be decided and must
// not proceed: UNAVAILABLE, retry in a second.
func unavailable() (metadata.MD, error) {
	md := metadata.MD{
		MetadataRetryAfter:    {strconv.FormatInt(seconds(unavailableRetry), 10)},
		MetadataRetryPushback: {strconv.FormatInt(millis(unavailableRetry), 10)},
	}
	return md, withDetails(codes.Unavailable, "rate limiting is unavailable; retry later", unavailableRetry, nil)
}

// withDetails returns a status error with a RetryInfo detail and, when
// given, a QuotaFailure detail.
func withDetails(c codes.Code, msg string, retry time.Duration, qf *errdetails.QuotaFailure) error {
	st := status.New(c, msg)
	ri := &errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}
	var err error
	var withd *status.Status
	if qf != nil {
		withd, err = st.WithDetails(ri, qf)
	} else {
		withd, err = st.WithDetails(ri)
	}
	if err != nil { // cannot happen for these messages; answer without details
		return st.Err()
	}
	return withd.Err()
}

// messageKey returns the key a stream's messages are counted by: the
// client its opening was decided for, identified now if that decision did
// not need to. It returns "" when the stream's messages are not limited:
// its rule or its client is exempt. An error means the client could not
// be identified.
func (i *interceptor) messageKey(ctx context.Context, method string, d *core.Decision) (string, error) {
	id := d.Client
	if d.Outcome == core.Exempt {
		if d.Rule != "" || id.Exempt { // an exempt rule or client
			return "", nil
		}
		if id.Kind == "" { // no rule matched: identify the client for the message rule
			r := i.request(ctx, method)
			r.Rule = i.cfg.messageRule
			pd, err := i.lim.Peek(ctx, r)
			if err != nil {
				return "", err
			}
			if pd.Client.Exempt || pd.Outcome == core.Exempt {
				return "", nil
			}
			id = pd.Client
		}
	}
	if id.Kind == "" || id.Value == "" {
		return "", nil
	}
	return id.String(), nil
}

// limitedStream charges every message a stream receives to the message
// rule (WithMessageRule).
type limitedStream struct {
	grpc.ServerStream
	i      *interceptor
	method string
	key    string
}

// RecvMsg receives a message and charges it; see WithMessageRule.
func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	ctx := s.Context()
	d, err := s.i.lim.Take(ctx, s.i.cfg.messageRule, s.key, 1)
	var md metadata.MD
	switch {
	case err != nil:
		md, err = s.i.failed(ctx, s.method, err)
	case d.Outcome == core.FailedClosed:
		s.i.cfg.report(ctx, s.method, d.Err)
		md, err = unavailable()
	case d.Outcome == core.FailedOpen:
		s.i.cfg.report(ctx, s.method, d.Err)
	case d.Outcome == core.Denied:
		md, err = s.i.denied(&d)
	case d.Outcome == core.Delayed:
		md, err = s.i.delay(ctx, s.method, &d)
	}
	if md != nil {
		s.SetTrailer(md)
	}
	return err
}
