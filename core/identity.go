package core

import (
	"context"
	"net/netip"
	"strings"
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

	numKinds
)

var kindNames = [numKinds]string{"none", "ip", "user", "apikey", "custom"}

// String returns the kind's name: "ip", "user", "apikey" or "custom".
func (k IdentityKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "custom"
}

// Identity is the client a request is counted against.
type Identity struct {
	// Kind says what Value is; KindNone means the identity is unresolved.
	Kind IdentityKind
	// Value identifies the client within its kind: an IP address or prefix,
	// a user ID, an API key.
	Value string
	// Tier is the client's service tier, such as "premium"; empty when
	// unknown.
	Tier string
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

// RemoteIP returns the default identifier: the IP address of the
// connection's peer (Request.RemoteAddr), trusting no header. IPv4-mapped
// IPv6 addresses count as IPv4 and zones are dropped. An IPv6 client is
// identified by its /64 prefix, the smallest network a single host is
// usually given, so one host cannot escape its limit by rotating addresses.
// A RemoteAddr that is not an address is used verbatim, so it still gets a
// counter of its own.
//
// Behind a proxy or load balancer every request has the proxy's address:
// configure trusted proxies (see package identify) instead.
func RemoteIP() Identifier { return remoteIP{} }

type remoteIP struct{}

func (remoteIP) Identify(_ context.Context, r Request) (Identity, error) {
	return Identity{Kind: KindIP, Value: ipKey(r.RemoteAddr)}, nil
}

// ipKey returns the canonical key of a remote address without allocating for
// the common case, an IPv4 host:port.
func ipKey(remote string) string {
	host := remote
	if i := strings.LastIndexByte(remote, ':'); i >= 0 && strings.IndexByte(remote[:i], ':') < 0 {
		host = remote[:i] // "a.b.c.d:port"
	} else if strings.HasPrefix(remote, "[") {
		if j := strings.IndexByte(remote, ']'); j > 0 {
			host = remote[1:j] // "[v6]:port"
		}
	}
	if isCanonicalIPv4(host) {
		return host
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return remote
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// isCanonicalIPv4 reports whether s is an IPv4 address in dotted decimal
// without leading zeros, the only spelling netip.Addr.String produces.
func isCanonicalIPv4(s string) bool {
	fields, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.' && digits > 0 && fields < 3:
			fields++
			val, digits = 0, 0
		default:
			return false
		}
	}
	return fields == 3 && digits > 0
}
