// Package httpcontract is the HTTP side of Sluice, written once for every
// adapter: how a request becomes a core.Request, and how a core.Decision
// becomes headers and a response.
//
// Application code uses an adapter (sluicehttp, sluicechi, sluicegin,
// sluiceecho); each is a few lines around [Middleware.Serve] and shares this
// package's options. net/http code may also use [Middleware.Handler]
// directly: wrapped around an *http.ServeMux, it matches rules by the
// mux's route patterns with no further setting.
//
// # The contract
//
//   - Every limited response, allowed or denied, carries the rate-limit
//     fields of the profiles WithHeaders selects: by default those of
//     draft-ietf-httpapi-ratelimit-headers-10, RateLimit-Policy listing
//     every window of the rule (`"api-s";q=10;w=1, "api-h";q=1000;w=3600`)
//     and RateLimit the current state (`"api-s";r=7;t=1`: r units remain,
//     and t seconds pass until more are available); the earlier drafts'
//     RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
//     (HeadersTriple); X-RateLimit-Limit, X-RateLimit-Remaining and
//     X-RateLimit-Reset (HeadersX, or HeadersXUnix for a Unix reset time),
//     whose reset is the time until the whole quota is back; any
//     combination, or none.
//   - A denial is 429 with Retry-After in whole seconds, rounded up and never
//     0, never earlier than any t in RateLimit, Cache-Control: no-store, and
//     an RFC 9457 application/problem+json body of the quota-exceeded type
//     (WithProblemType sets another). WithDenyHandler replaces the body.
//   - When the backend fails and the rule fails closed: 503 with Retry-After.
//     When it fails open, the request proceeds with the limits only (the
//     *-Limit fields): the remaining quota is unknown and no header
//     pretends otherwise.
//   - A Delayed request waits its delay before the handler runs; a client
//     that goes away ends the wait and the handler never runs.
//   - A concurrency slot is released when the handler returns or panics.
//   - Exempt requests get no rate-limit fields; nor do shadow rules, unless
//     WithShadowHeaders is set.
//   - No internal error text ever reaches a client: errors go to the
//     WithErrorHandler function, or by default to the Limiter's logger
//     (core.WithLogger).
package httpcontract
