package sluicegrpc

import (
	"context"
	"strings"
	"time"
)

// Option configures the server interceptors.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	exempt      []string
	messageRule string
	clientCert  bool
	headerMD    bool
	wait        func(ctx context.Context, d time.Duration) error
	onError     func(ctx context.Context, method string, err error)
}

// defaultExemptMethods are the methods the interceptors exempt unless
// WithExemptMethods says otherwise.
var defaultExemptMethods = []string{
	"/grpc.health.v1.Health/*",
	"/grpc.reflection.v1.ServerReflection/*",
	"/grpc.reflection.v1alpha.ServerReflection/*",
}

func newConfig(opts []Option) config {
	c := config{exempt: defaultExemptMethods, headerMD: true, wait: sleep}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithExemptMethods replaces the methods that are never limited: each a
// full method name ("/pkg.Service/Method") or every method of a service
// ("/pkg.Service/*"). Their calls and streams go straight to the handler:
// the Limiter is not consulted, and they carry no rate-limit metadata.
// WithExemptMethods() with no argument limits every method, health checks
// included. The default exempts the gRPC health service and both versions of the reflection service, as the
// HTTP adapters exempt health endpoints:
//
//	/grpc.health.v1.Health/*
//	/grpc.reflection.v1.ServerReflection/*
//	/grpc.reflection.v1alpha.ServerReflection/*
//
// To exempt one more method and keep these, list all of them, or give the
// method an Exempt rule (core.Rule{Path: "/pkg.Service/Ping", Exempt: true}).
func WithExemptMethods(methods ...string) Option {
	methods = append([]string(nil), methods...)
	return optionFunc(func(c *config) { c.exempt = methods })
}

// WithMessageRule limits the messages a client sends on its streams by the
// rule named rule, which must be a rate rule (not a Concurrent one) and
// is usually a NameOnly rule. Each message a stream's handler receives
// (RecvMsg) is charged one unit with Limiter.Take, keyed by the client
// the stream was opened by, so all the streams of one client share the
// rule's quota:
//
//   - Allowed: RecvMsg returns the message.
//   - Delayed (the rule has a MaxDelay, and the message conforms within
//     it): RecvMsg waits the delay (see WithWait) and then returns the
//     message; the sender is slowed down, not failed. When the stream's
//     deadline comes before the delay ends, or the stream ends during the
//     wait, the charge is refunded and RecvMsg fails at once, with
//     RESOURCE_EXHAUSTED or the stream's own status.
//   - Denied (beyond MaxDelay, or any excess when MaxDelay is 0): RecvMsg
//     fails with RESOURCE_EXHAUSTED, the same status and trailers a
//     denied call gets; the message is dropped. Return the error from
//     the handler.
//   - A failure of the backend that the rule fails closed on: RecvMsg
//     fails with UNAVAILABLE.
//
// Streams of exempt methods, of exempt clients and of exempt rules have no
// message limit. The default is none.
func WithMessageRule(rule string) Option {
	return optionFunc(func(c *config) { c.messageRule = rule })
}

// WithClientCertIdentity identifies a client connected with mutual TLS by
// the subject of its certificate (such as "CN=billing,O=Acme"), as a
// core.KindUser identity, instead of asking the Limiter's identifier. Only
// a certificate the TLS handshake verified counts, that is one with a
// verified chain (the server's tls.Config has ClientAuth set to
// tls.RequireAndVerifyClientCert or tls.VerifyClientCertIfGiven): it is
// then as trustworthy as a verified token's subject. Calls without one are
// identified by the Limiter's identifier as usual. A client identified by
// its certificate is in the Limiter's default tier, and the identifier's
// exemption lists do not apply to it. The default is off.
func WithClientCertIdentity() Option {
	return optionFunc(func(c *config) { c.clientCert = true })
}

// WithHeaderMetadata sets whether admitted calls and streams carry the
// draft-10 ratelimit and ratelimit-policy values as response header
// metadata. The default is true. Denials carry their metadata in trailers
// whatever this says.
func WithHeaderMetadata(on bool) Option {
	return optionFunc(func(c *config) { c.headerMD = on })
}

// WithWait replaces how a Delayed call, stream or message waits. It must
// return ctx's error when ctx ends first; another error fails the call
// with UNAVAILABLE and goes to the error handler (WithErrorHandler). The
// default uses a timer; tests pass their own, such as a fake clock's
// Sleep.
func WithWait(f func(ctx context.Context, d time.Duration) error) Option {
	return optionFunc(func(c *config) { c.wait = f })
}

// WithErrorHandler receives the errors that are never sent to the client:
// a backend failure behind a fail-open or fail-closed decision, a Decide or
// Take error (the identifier failed, the Limiter is closed, an unknown
// message rule) and a failed wait (see WithWait). The Limiter logs the
// first two to its logger (core.WithLogger) either way; use this for
// anything else, such as tracing. The default does nothing more.
func WithErrorHandler(f func(ctx context.Context, method string, err error)) Option {
	return optionFunc(func(c *config) { c.onError = f })
}

func (c *config) report(ctx context.Context, method string, err error) {
	if c.onError != nil && err != nil {
		c.onError(ctx, method, err)
	}
}

// matchMethod reports whether a full method name matches one of patterns:
// a full method name, or a service followed by "/*".
func matchMethod(patterns []string, method string) bool {
	for _, p := range patterns {
		if svc, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(svc, "/") {
			if strings.HasPrefix(method, svc) {
				return true
			}
		} else if p == method {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
