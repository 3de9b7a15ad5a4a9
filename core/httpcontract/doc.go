// Package httpcontract is the HTTP side of Sluice, written once for every
// adapter: how a request becomes a core.Request, and how a core.Decision
// becomes headers and a response.
//
// Application code uses an adapter (sluicehttp, sluicechi, sluicegin,
// sluiceecho); each is a few lines around [Middleware.Serve] and shares this
// package's options.
//
// # The contract
//
//   - Every limited response, allowed or denied, carries X-RateLimit-Limit,
//     X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the quota
//     resets, or a Unix time with ResetUnix), and the IETF fields of
//     draft-ietf-httpapi-ratelimit-headers-10: RateLimit-Policy lists every
//     window of the rule (`"api-s";q=10;w=1, "api-h";q=1000;w=3600`) and
//     RateLimit the current state (`"api-s";r=7;t=1`). WithHeaders picks
//     legacy, IETF, both (the default) or none.
//   - A denial is 429 with Retry-After in whole seconds, rounded up and never
//     0, never earlier than any t in RateLimit, Cache-Control: no-store, and
//     an RFC 9457 application/problem+json body of the quota-exceeded type.
//     WithDenyHandler replaces the body.
//   - When the backend fails and the rule fails closed: 503 with Retry-After.
//     When it fails open, the request proceeds with X-RateLimit-Limit only:
//     the remaining quota is unknown and no header pretends otherwise.
//   - A Delayed request waits its delay before the handler runs; a client
//     that goes away ends the wait and the handler never runs.
//   - A concurrency slot is released when the handler returns or panics.
//   - Exempt requests get no rate-limit fields; nor do shadow rules, unless
//     WithShadowHeaders is set.
//   - No internal error text ever reaches a client: errors go to the
//     WithErrorHandler function, or by default to the Limiter's logger
//     (core.WithLogger).
package httpcontract
