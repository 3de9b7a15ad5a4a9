// Package sluiceclient is the client side of rate limiting: an
// http.RoundTripper that keeps the requests it sends within the limits of
// the services they call (GitHub, Stripe, an LLM API, a Sluice-protected
// service of your own), instead of sending requests that are bound to be
// refused.
//
// Import it as
//
//	import sluiceclient "github.com/sluicehq/sluice/client"
//
// and wrap a transport:
//
//	client := &http.Client{Transport: sluiceclient.Wrap(nil)}
//
// The Transport paces each request before it is sent, by a limit of your
// own (WithLimiter: a Sluice core.Limiter rule, which a Redis backend
// shares among every process) and by what the server's responses said
// (the draft-10 RateLimit and RateLimit-Policy fields, the RateLimit-*
// trio, and X-RateLimit-* with a Unix or delta reset); and it retries
// requests refused with 429 (or 403 and 503 with Retry-After) when they are
// safe to send twice. See Transport for exactly what it does, and
// docs/client.md for a guide.
//
// # Guarantees
//
// A Transport is safe for concurrent use and starts no goroutine: a request
// waits on its caller's goroutine, on the transport's clock (WithClock),
// and never longer than WithMaxWait or its context allows. No retry is
// sent before the time the server named: jitter only adds to it. A
// malformed header is ignored, and no header can make the transport wait
// more than WithMaxWait, or believe a reset more than 24 hours away. The
// zero Transport is not usable; create one with Wrap.
package sluiceclient
