// Package sluicegrpc limits gRPC servers with a Sluice core.Limiter, and
// helps gRPC clients wait as long as a limited server asks.
//
// Import it as
//
//	import sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
//
// and install its interceptors, one line each:
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim)),
//		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(lim)),
//	)
//
// # Rules by method
//
// A call reaches the Limiter as a core.Request whose Path is the full method
// name, "/pkg.Service/Method", and whose Method is "POST" (gRPC calls are
// HTTP/2 POST requests). Rules match it with the pattern syntax and the
// precedence they use for HTTP paths (a full method name is two segments):
// "/pkg.Service/Method" is exact and beats "/pkg.Service/*", which matches
// every method of the service, and a rule with an empty Path is the
// default. One configuration serves an HTTP and a gRPC server. The gRPC
// health service and both reflection services are exempt before the
// Limiter is asked (WithExemptMethods changes that), as the HTTP health
// endpoints are.
//
// # Streams
//
// The stream interceptor decides once per stream, when it opens, as the
// unary interceptor decides once per call: a rule limits how often a client
// opens streams of a method, and a Concurrent rule how many it holds open.
// WithMessageRule adds a limit on the messages each stream receives (see
// it for exactly when RecvMsg waits and when it fails). A concurrency slot
// is released when the handler returns or panics.
//
// # Identity
//
// The Limiter's identifier (core.WithIdentifier) sees the connection's peer
// address as Request.RemoteAddr and the call's metadata as Request.Header,
// with any key case accepted ("X-Forwarded-For" finds x-forwarded-for), so
// package identify's trusted proxies, API keys and verified users
// (identify.WithUser, with a sluicejwt verifier reading the authorization
// metadata) work on gRPC exactly as on HTTP, with the same trust model:
// x-forwarded-for is believed only from a peer that is a trusted proxy.
// WithClientCertIdentity identifies mutual-TLS clients by their verified
// certificate's subject.
//
// # What a call gets
//
//   - Allowed, or Delayed after its delay: the handler runs, and the
//     response header metadata carries ratelimit and ratelimit-policy, the
//     draft-10 values package httpcontract sends as HTTP fields (see
//     WithHeaderMetadata).
//   - Denied: status RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail
//     (the exact time to wait) and a google.rpc.QuotaFailure detail (one
//     violation per violated window: the client, the window's name and
//     limit); trailers ratelimit, ratelimit-policy, retry-after (whole
//     seconds, rounded up) and grpc-retry-pushback-ms (whole milliseconds,
//     rounded up). Every one of them is a trailer: the answer is
//     trailers-only, which is what lets gRPC's built-in retry policy
//     (retryableStatusCodes RESOURCE_EXHAUSTED) retry it, exactly after
//     the pushback.
//   - Delayed (a rule with MaxDelay): the call waits its delay, honouring
//     its context. A call whose deadline comes before the delay ends gets
//     RESOURCE_EXHAUSTED at once, as a denial with the delay as its wait,
//     and its charge is refunded (Decision.Settle with cost 0); so is the
//     charge of a call canceled while it waits.
//   - Exempt, or decided by a shadow rule: the handler runs, with no
//     rate-limit metadata; a shadow rule's denials are only reported.
//   - The backend failed and the rule fails open: the handler runs, and
//     the failure goes to the error handler (WithErrorHandler).
//   - The backend failed and the rule fails closed, or Decide failed (the
//     identifier failed, the Limiter is closed): status UNAVAILABLE, with
//     RetryInfo, retry-after and grpc-retry-pushback-ms of one second, and
//     a message that never contains the error's text; the error goes to
//     the error handler. A Decide error caused by the call's own context
//     ending answers with that context's status instead.
//
// # Clients
//
// UnaryClientInterceptor retries the methods a client marks retryable
// after exactly the wait a denial names. gRPC's own retry policy does the
// same from the pushback trailer; see docs/grpc.md for the service config.
//
// The interceptors are safe for concurrent use; build them once per server.
package sluicegrpc
