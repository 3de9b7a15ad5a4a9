package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"

	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// IdentityKind says what an Identity's value is.
type IdentityKind uint8

// The identity kinds. Each kind has its own counters, so an API key or user
// ID can never collide with an IP address.
const (
	// KindNone marks an unresolved identity.
	KindNone IdentityKind = iota
	// KindIP is a client IP address or network prefix.
	KindIP
	// KindUser is a verified user ID.
	KindUser
	// KindAPIKey is an API key (or its digest).
	KindAPIKey
	// KindCustom is anything else a custom identifier returns.
	KindCustom
	// KindUnverified is an identifier the client asserted and nobody
	// verified, such as the subject of a token accepted without checking
	// its signature (an explicit opt-in of package sluicejwt for services
	// behind a gateway that verified it). It keys a counter and confers
	// nothing else: such a client is in the anonymous tier and no user
	// exemption applies to it.
	KindUnverified

	numKinds
)

var kindNames = [numKinds]string{"none", "ip", "user", "apikey", "custom", "unverified"}

// String returns the kind's name: "ip", "user", "apikey", "custom" or
// "unverified".
func (k IdentityKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "custom"
}

// Identity is the client a request is counted against.
//
// The counter key is derived from Value: Value itself when it is short and
// made of letters, digits and "-._~@+:/=", and "#" with a SHA-256 digest of
// it otherwise (see [Limiter]). In a Decision, Tier is the tier the rules
// were chosen for, and the Identity can be sent back as Request.Identity to
// Peek at or Reset the same counters.
type Identity struct {
	// Kind says what Value is; KindNone means the identity is unresolved.
	Kind IdentityKind
	// Value identifies the client within its kind: an IP address or prefix,
	// a user ID, the digest of an API key (see [APIKeyIdentity]).
	Value string
	// Tier is the client's service tier, such as "premium"; empty when
	// unknown. The Limiter ignores it for KindIP and KindUnverified, and
	// replaces an empty or undeclared tier (see [WithTiers]).
	Tier string
}

// APIKeyIdentity returns the identity of a client that presented the API
// key key, in the given tier. Its Value is a digest of the key (22
// characters of base64url SHA-256), so the secret never reaches a backend,
// a Decision or a log. Identifiers that key clients by API key should build
// their identities with it: WithExemptAPIKeys compares digests.
func APIKeyIdentity(key, tier string) Identity {
	return Identity{Kind: KindAPIKey, Value: apiKeyDigest(key), Tier: tier}
}

func apiKeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// String returns the identity as "kind:value".
func (id Identity) String() string { return id.Kind.String() + ":" + id.Value }

// Identifier resolves the client of a request. Implementations must be safe
// for concurrent use and must never derive a privilege (a user ID or a tier)
// from unverified input.
type Identifier interface {
	// Identify returns the request's client. An error means the request
	// cannot be decided; prefer falling back to a less specific identity
	// (the IP address) over returning one.
	Identify(ctx context.Context, r Request) (Identity, error)
}

// IdentifierFunc adapts a function to an [Identifier].
type IdentifierFunc func(ctx context.Context, r Request) (Identity, error)

// Identify calls f.
func (f IdentifierFunc) Identify(ctx context.Context, r Request) (Identity, error) { return f(ctx, r) }

// IPResolver is implemented by identifiers that know the client's IP
// address apart from the identity they return, such as the one of package
// identify, which finds it behind trusted proxies. The Limiter uses it to
// apply IP exemptions (WithExemptIPs) to clients identified by a user or an
// API key too; without it, the address of Request.RemoteAddr is used.
type IPResolver interface {
	// ClientIP returns the client's address, normalised (IPv4-mapped IPv6
	// as IPv4, no zone), and false when it has none (a Unix socket, say).
	ClientIP(r Request) (netip.Addr, bool)
}

// RemoteIP returns the default identifier: the IP address of the
// connection's peer (Request.RemoteAddr), trusting no header. IPv4-mapped
// IPv6 addresses count as IPv4 and zones are dropped. An IPv6 client is
// identified by its /64 prefix, the smallest network a single host is
// usually given, so one host cannot escape its limit by rotating addresses.
// A RemoteAddr that is not an address is used verbatim, so it still gets a
// counter of its own.
//
// Behind a proxy or load balancer every request has the proxy's address:
// configure trusted proxies with package identify instead, which also
// offers other prefix lengths, API keys and verified users.
func RemoteIP() Identifier { return remoteIP{} }

type remoteIP struct{}

func (remoteIP) Identify(_ context.Context, r Request) (Identity, error) {
	return Identity{Kind: KindIP, Value: ipKey(r.RemoteAddr)}, nil
}

func (remoteIP) ClientIP(r Request) (netip.Addr, bool) { return ipaddr.Parse(r.RemoteAddr) }

// ipKey returns the canonical key of a remote address without allocating for
// the common case, an IPv4 host:port. See ipaddr.RemoteKey.
func ipKey(remote string) string { return ipaddr.RemoteKey(remote) }
