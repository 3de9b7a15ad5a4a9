// Package identify finds who the client of a request is, in one place: its
// IP address (behind trusted proxies when configured), a verified user, an
// API key, or a key of your own, tried in a configurable order. Use makes
// one core option of it:
//
//	lim, err := core.New(
//		identify.Use(
//			identify.WithTrustedProxies("10.0.0.0/8"),
//			identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{"k-123": "premium"})),
//		),
//		core.WithDefault(core.PerMinute(100)),
//	)
//
// New returns the *Identifier itself, a core.Identifier, for code that
// calls it directly or wraps it.
//
// # Trust model
//
// Nothing a client sends is believed unless configuration says who vouches
// for it.
//
//   - The client IP is the connection's peer (Request.RemoteAddr) by
//     default, and no header is read.
//   - With WithTrustedProxies, a peer inside one of the trusted networks is a
//     proxy, and X-Forwarded-For (or RFC 7239 Forwarded, with
//     WithForwardedHeader) is read from the right: the client is the first
//     address that is not a trusted proxy. The leftmost address, which any
//     client can write, is never believed for that reason. A peer outside the
//     trusted networks is the client, whatever headers it sends.
//   - With WithTrustedHops(n) the server promises that exactly n proxies
//     stand in front of it and that nothing else can reach it: the client is
//     the n-th address from the right.
//   - X-Real-IP, CF-Connecting-IP and True-Client-IP are read only when
//     WithClientIPHeader names one, and only from a trusted proxy.
//   - A malformed, obfuscated ("_hidden") or unknown address where the
//     client should be makes the peer the client: a request is never keyed by
//     text the parser could not vouch for, and parsing never panics.
//   - IPv4-mapped IPv6 addresses count as IPv4, zones are dropped, IPv6
//     clients are keyed by their /64 (WithIPv6Prefix) and IPv4 clients by
//     their address (or a prefix, WithIPv4Prefix).
//   - A user comes only from a Source that verified it (package sluicejwt
//     checks signatures, expiry, issuer and audience). A source that reports
//     nothing sends the request on to the next identifier, and in the end to
//     the IP address: an invalid token makes an anonymous client, never a
//     user's counter or tier.
//   - An API key counts only when its lookup (WithAPIKeys) accepts it, so a
//     client cannot escape its limit by inventing keys. Keys are kept and
//     counted as digests, never in clear.
//
// # Guarantees
//
// An Identifier is immutable and safe for concurrent use. Identify never
// returns an error: every request ends up with at least its IP address.
// Package identify imports only the standard library and package core.
package identify
