// Package sluicejwt identifies users by a verified JSON Web Token, as the
// user source of a Sluice identifier (package identify). Import it as
//
//	import sluicejwt "github.com/sluicehq/sluice/jwt"
//
// A minimal setup verifies tokens from the Authorization header with an
// identity provider's published keys, and keys each user by its "sub"
// claim and tier by its "tier" claim:
//
//	v, err := sluicejwt.New(
//		sluicejwt.WithKeys(sluicejwt.Keys{JWKSURL: "https://auth.example.com/.well-known/jwks.json"}),
//		sluicejwt.WithIssuer("https://auth.example.com/"))
//	...
//	lim, err := core.New(identify.Use(identify.WithUser(v), identify.WithTrustedProxies("10.0.0.0/8")), ...)
//
// # Keys
//
// WithKeys takes the keys from any mix of sources (see [Keys]): an HMAC
// secret, PEM public keys, a JSON Web Key Set given as bytes or a file,
// and a key set fetched from a URL. A fetched set is refreshed every hour,
// and as soon as a token names a key ID it lacks, as providers do when
// they rotate keys; fetches are at least a minute apart, so tokens with
// made-up key IDs cannot make the Verifier hammer the provider. When a
// fetch fails (the provider is down, answers an error, sends garbage) the
// last good set stays in use; before the first fetch succeeds, tokens
// identify nobody. Nothing runs between fetches, so a Verifier needs no
// Close.
//
// # Trust model
//
// A token is believed only when its signature verifies with a configured
// key, under an algorithm that key is for, and its claims are valid:
//
//   - The algorithms are always an explicit list (WithAlgorithms, or those
//     the configured keys are for), passed to the parser with
//     jwt.WithValidMethods, and each algorithm is only ever checked with
//     keys of its own type (and of its JWK "alg", when a key has one): an
//     HS256 token is never checked against an RSA public key, so the
//     public key cannot be used as an HMAC secret. "none" is never
//     accepted, and a fetched set never supplies an HMAC secret.
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
// The cache is emptied when a fetched key set changes, so a retired key
// stops vouching for the tokens it signed.
//
// # Guarantees
//
// A Verifier is safe for concurrent use. Identify never panics on request
// data, and tokens longer than 8 KiB are refused unread.
package sluicejwt
