package core

import (
	"context"

	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// IdentityKind says what an Identity's value is. Each kind has its own
// counters, so an API key or user ID can never collide with an IP address.
// The zero value, "", marks an identity that is not resolved yet.
type IdentityKind string

// The identity kinds.
const (
	// KindIP is a client IP address or network prefix.
	KindIP IdentityKind = "ip"
	// KindUser is a verified user ID.
	KindUser IdentityKind = "user"
	// KindAPIKey is an API key (a digest of it: package identify never
	// keeps the key itself).
	KindAPIKey IdentityKind = "apikey"
	// KindCustom is anything else: what a custom identifier returns, and
	// the key of a keyed call ([Limiter.Take]).
	KindCustom IdentityKind = "custom"
	// KindUnverified is an identifier the client asserted and nobody
	// verified, such as the subject of a token accepted without checking
	// its signature (an explicit opt-in of package sluicejwt for services
	// behind a gateway that verified it). It keys a counter and confers
	// nothing else: such a client is in the anonymous tier, whatever its
	// Tier says.
	KindUnverified IdentityKind = "unverified"
)

// kindIndex returns the index of a valid kind in a rule's namespaces, and
// false for an unknown kind.
func kindIndex(k IdentityKind) (int, bool) {
	switch k {
	case KindIP:
		return 0, true
	case KindUser:
		return 1, true
	case KindAPIKey:
		return 2, true
	case KindCustom:
		return 3, true
	case KindUnverified:
		return 4, true
	}
	return 0, false
}

// kinds lists the kinds in the order of kindIndex.
var kinds = [...]IdentityKind{KindIP, KindUser, KindAPIKey, KindCustom, KindUnverified}

// The built-in tiers; WithTiers declares more.
const (
	tierAnonymous = "anonymous"
	tierStandard  = "standard"
	tierPremium   = "premium"
)

// Identity is the client a request is counted against.
//
// The counter key is derived from Value: Value itself when it is short and
// made of letters, digits and "-._~@+:/=", and "#" with a SHA-256 digest of
// it otherwise (see [Limiter]). In a Decision, Tier is the tier the rules
// were chosen for, and the Identity can be sent back as Request.Identity to
// Peek at or Reset the same counters.
type Identity struct {
	// Kind says what Value is; "" means the identity is unresolved.
	Kind IdentityKind
	// Value identifies the client within its kind: an IP address or prefix,
	// a user ID, the digest of an API key, a keyed call's key.
	Value string
	// Tier is the client's service tier, such as "premium"; empty when
	// unknown. The Limiter ignores it for KindIP and KindUnverified, which
	// are always "anonymous", and replaces an empty or undeclared tier
	// with the default tier (see [WithTiers]).
	Tier string
	// Exempt says that the client is never limited: its requests are
	// Exempt decisions. Identifiers set it from an exemption list (package
	// identify's); set it only from verified data.
	Exempt bool
}

// String returns the identity as "kind:value", as logs show it.
func (id Identity) String() string { return string(id.Kind) + ":" + id.Value }

// Identifier resolves the client of a request. Implementations must be safe
// for concurrent use and must never derive a privilege (a user ID, a tier,
// an exemption) from unverified input.
type Identifier interface {
	// Identify returns the request's client. An error means the request
	// cannot be decided; prefer falling back to a less specific identity
	// (the IP address) over returning one. An identity without a kind or
	// a value is an error too: never a counter every such request shares.
	Identify(ctx context.Context, r Request) (Identity, error)
}

// remoteIP is the default identifier: the IP address of the connection's
// peer (Request.RemoteAddr), trusting no header. IPv4-mapped IPv6 addresses
// count as IPv4 and zones are dropped. An IPv6 client is identified by its
// /64 prefix, the smallest network a single host is usually given, so one
// host cannot escape its limit by rotating addresses. A RemoteAddr that is
// not an address is used verbatim, so it still gets a counter of its own.
type remoteIP struct{}

func (remoteIP) Identify(_ context.Context, r Request) (Identity, error) {
	if r.RemoteAddr == "" {
		return Identity{}, errNoClient
	}
	return Identity{Kind: KindIP, Value: ipKey(r.RemoteAddr)}, nil
}

// ipKey returns the canonical key of a remote address without allocating for
// the common case, an IPv4 host:port. See ipaddr.RemoteKey.
func ipKey(remote string) string { return ipaddr.RemoteKey(remote) }
