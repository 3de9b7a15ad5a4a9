// Package sluiceenvoy serves Envoy's rate limit service
// (envoy.service.ratelimit.v3.RateLimitService) with a Sluice Limiter, so
// that Envoy, Istio, Envoy Gateway and every proxy built on Envoy can ask
// Sluice whether to admit a request.
//
// Import it as
//
//	import sluiceenvoy "github.com/sluicehq/sluice/envoy"
//
// and serve a configuration on a gRPC server:
//
//	cfg, err := sluiceenvoy.Load("ratelimit.yaml") // or Import for envoyproxy/ratelimit's format
//	srv, err := sluiceenvoy.New(cfg, sluiceenvoy.WithLimiterOptions(core.WithBackend(redisBackend)))
//	err = srv.Watch(ctx, "ratelimit.yaml", sluiceenvoy.Load) // reload on change, until ctx ends
//	gs := grpc.NewServer()
//	srv.Register(gs) // the rate limit service and grpc.health.v1
//	gs.Serve(listener)
//
// The program in cmd/sluice-ratelimit does exactly this, with flags, a
// Redis backend and /metrics. A Server is safe for concurrent use; its
// zero value is not usable.
//
// # Semantics
//
// A request names a domain and carries descriptors, each a list of entries
// (key and value). Each descriptor is matched against the domain's
// [Descriptor] tree, one level per entry, and is limited by the Descriptor
// it reaches with its last entry, if that one has limits; its counter is
// that Descriptor's, for the values the entries carry. So a Descriptor
// with key remote_address and no value counts each address apart.
//
//   - The request is decided as a whole: if any descriptor is over its
//     limit, the answer is OVER_LIMIT and none is charged (the others'
//     units are given back before the answer).
//   - The cost is the descriptor's hits_addend when Envoy sends one, else
//     the request's, else 1; a cost of 0 only looks, and is over the limit
//     when not one unit is left.
//   - A descriptor's own limit (the limit field Envoy fills in from a
//     rate_limits entry's limit) replaces the configuration for that
//     descriptor: a fixed window per distinct limit, counted per entries.
//   - Each status has the limit that constrains the request most
//     (current_limit), what it has left (limit_remaining) and the time
//     until it has its quota back, or, over the limit, until it admits
//     the request (duration_until_reset). The RateLimit and
//     RateLimit-Policy header fields of the IETF draft
//     draft-ietf-httpapi-ratelimit-headers-10 are in
//     response_headers_to_add, for Envoy to add to the response.
//   - When the backend is slow or down, the Limiter's timeout (10ms by
//     default, inside Envoy's 20ms), circuit breaker and failure modes
//     answer: "open" answers OK, "closed" OVER_LIMIT, "local" decides in
//     memory, per descriptor (Descriptor.Failure).
//
// docs/envoy.md compares this with envoyproxy/ratelimit and shows the
// Envoy, Istio and Envoy Gateway configuration.
package sluiceenvoy
