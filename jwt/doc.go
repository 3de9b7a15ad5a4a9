// Package sluicejwt identifies users by a verified JSON Web Token, as the
// user source of a Sluice identifier (package identify). Import it as
//
//	import sluicejwt "github.com/sluicehq/sluice/jwt"
//
// A minimal setup verifies RS256 tokens from the Authorization header and
// keys each user by its "sub" claim and tier by its "tier" claim:
//
//	v, err := sluicejwt.New(sluicejwt.WithPublicKeyPEM(pemBytes), sluicejwt.WithIssuer("https://auth.example.com"))
//	...
//	id, err := identify.New(identify.WithUser(v), identify.WithTrustedProxies("10.0.0.0/8"))
//	...
//	lim, err := core.New(core.WithIdentifier(id), core.WithTiers("standard"), ...)
//
// # Trust model
//
// A token is believed only when its signature verifies with a configured
// key, under an algorithm that key is for, and its claims are valid:
//
//   - The algorithms are always an explicit list (WithAlgorithms, or those
//     the configured keys are for), passed to the parser with
//     jwt.WithValidMethods, and each algorithm is only ever checked with
//     keys of its own type: an HS256 token is never checked against an RSA
//     public key, so the public key cannot be used as an HMAC secret. "none"
//     is never accepted.
//   - exp is required (WithoutExpiry drops that requirement), and exp, nbf
//     and iat are checked against the clock with WithLeeway's tolerance;
//     iss and aud are checked when configured.
//   - The subject claim (WithSubjectClaim, default "sub") is the user; the
//     tier claim (WithTierClaim, default "tier") is the tier.
//
// A missing, malformed, expired, not yet valid, unsigned or wrongly signed
// token identifies nobody: Identify reports false and the request is
// identified by what comes next, in the end by its IP address, as an
// anonymous client. It never gets a user's counter or a tier.
//
// WithUnverifiedSubject is for services behind a gateway that has already
// verified the token: a token that does not verify here is then keyed by
// its subject as a core.KindUnverified identity, which has its own
// counters, is always in the anonymous tier and is never exempt as a user.
// Anyone can write such a token, so anyone can choose its key: use it only
// when clients cannot reach the service but through that gateway.
//
// # Cache
//
// Verified tokens are cached, up to WithCacheSize of them, until they
// expire, so a client sending the same token does not pay for a signature
// verification on every request. Only tokens that verified are cached, by
// their full text: a token that differs in any byte is verified afresh.
//
// # Guarantees
//
// A Verifier is safe for concurrent use. Identify never panics on request
// data, and tokens longer than 8 KiB are rejected unread.
package sluicejwt
