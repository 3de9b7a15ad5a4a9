package identify

import (
	"context"
	"crypto/sha256"
	"net/netip"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// The forwarding headers WithForwardedHeader accepts.
const (
	// HeaderXForwardedFor is the de-facto standard list of addresses each
	// proxy appends its peer to, read by default.
	HeaderXForwardedFor = "X-Forwarded-For"
	// HeaderForwarded is RFC 7239's structured form; the address is the
	// "for" parameter of each element.
	HeaderForwarded = "Forwarded"
)

// Source finds one identity in a request for an Identifier's chain, such as
// a verified user (sluicejwt.Verifier is one). It reports false when the
// request carries none that it accepts, including an invalid one, so the
// chain goes on to the next identifier and finally to the IP address.
// Implementations must be safe for concurrent use and must only return a
// KindUser identity, or a tier, that they verified.
type Source interface {
	// Identify returns the identity r carries, or false when it carries
	// none the source accepts.
	Identify(ctx context.Context, r core.Request) (core.Identity, bool)
}

// SourceFunc adapts a function to a [Source].
type SourceFunc func(ctx context.Context, r core.Request) (core.Identity, bool)

// Identify calls f.
func (f SourceFunc) Identify(ctx context.Context, r core.Request) (core.Identity, bool) {
	return f(ctx, r)
}

// APIKeyLookup checks an API key presented by a client and returns its
// tier; false rejects the key, and the request is identified by what comes
// next (by default its IP address). It must be safe for concurrent use.
type APIKeyLookup func(ctx context.Context, key string) (tier string, ok bool)

// KeyFunc returns a key of your own for a request, such as a tenant ID a
// previous middleware established; false (or "") passes. Its keys are
// KindCustom identities in the anonymous tier: return a core.Identity from
// a Source to give a verified tier.
type KeyFunc func(ctx context.Context, r core.Request) (key string, ok bool)

// Identifier is a core.Identifier that tries, in order, a verified user, an
// API key and a custom key (see WithOrder), each only if configured, and
// falls back to the client's IP address. Create one with [New].
type Identifier struct {
	proxies  []netip.Prefix
	hops     int
	header   string // forwarding header, canonical; "" reads none
	ipHeader string // single-address header, canonical; "" reads none
	v4Bits   int
	v6Bits   int

	order     []core.IdentityKind
	user      Source
	keyHeader string
	keys      APIKeyLookup
	keyFunc   KeyFunc
}

var _ core.Identifier = (*Identifier)(nil)
var _ core.IPResolver = (*Identifier)(nil)

// New returns an Identifier configured by opts. With no options it is
// equivalent to core.RemoteIP: the peer's address, no header trusted. It
// returns an error, joining every problem found, if the options are
// invalid.
func New(opts ...Option) (*Identifier, error) {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	return c.build()
}

// Identify returns the first identity the configured identifiers find, in
// the configured order, or the client's IP address. It never fails. Sources
// see a non-nil Header.
func (x *Identifier) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	if r.Header == nil {
		r.Header = noHeader{}
	}
	for _, k := range x.order {
		switch k {
		case core.KindUser:
			if x.user == nil {
				continue
			}
			if id, ok := x.user.Identify(ctx, r); ok && id.Kind != core.KindNone {
				return id, nil
			}
		case core.KindAPIKey:
			if x.keys == nil {
				continue
			}
			if key := r.Header.Get(x.keyHeader); key != "" {
				if tier, ok := x.keys(ctx, key); ok {
					return core.APIKeyIdentity(key, tier), nil
				}
			}
		case core.KindCustom:
			if x.keyFunc == nil {
				continue
			}
			if key, ok := x.keyFunc(ctx, r); ok && key != "" {
				return core.Identity{Kind: core.KindCustom, Value: key, Tier: core.TierAnonymous}, nil
			}
		}
	}
	return x.IP(r), nil
}

// IP returns the identity of r's client IP address: the address, or its
// network when prefixes are configured ("203.0.113.0/24",
// "2001:db8:1:2::/64"). A peer that is not an IP address is used verbatim.
func (x *Identifier) IP(r core.Request) core.Identity {
	a, ok := x.ClientIP(r)
	if !ok {
		return core.Identity{Kind: core.KindIP, Value: r.RemoteAddr}
	}
	return core.Identity{Kind: core.KindIP, Value: ipaddr.Key(a, x.v4Bits, x.v6Bits)}
}

// StaticAPIKeys returns an APIKeyLookup over a fixed set of keys, each with
// its tier. Only the keys' SHA-256 digests are kept, and a presented key is
// looked up by its digest, so the time a lookup takes says nothing about
// the keys.
func StaticAPIKeys(keys map[string]string) APIKeyLookup {
	byDigest := make(map[[sha256.Size]byte]string, len(keys))
	for k, tier := range keys {
		byDigest[sha256.Sum256([]byte(k))] = tier
	}
	return func(_ context.Context, key string) (string, bool) {
		tier, ok := byDigest[sha256.Sum256([]byte(key))]
		return tier, ok
	}
}

// noHeader is an empty core.Header.
type noHeader struct{}

func (noHeader) Get(string) string      { return "" }
func (noHeader) Values(string) []string { return nil }
