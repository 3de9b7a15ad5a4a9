package identify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// The forwarding headers WithForwardedHeader accepts.
const (
	headerXForwardedFor = "X-Forwarded-For"
	headerForwarded     = "Forwarded"
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

// Identifier is a core.Identifier that tries, in order, a verified user and
// an API key (see WithOrder), each only if configured, and falls back to the
// client's IP address; then it marks exempt clients. Create one with [New].
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
	keys      func(ctx context.Context, key string) (tier string, ok bool)

	exemptNets  []netip.Prefix
	exemptUsers map[string]bool // by user ID
	exemptKeys  map[string]bool // by digest
}

var _ core.Identifier = (*Identifier)(nil)

// New returns an Identifier configured by opts. With no options it keys
// clients as the Limiter does by default: the peer's address, no header
// trusted. It returns an error, joining every problem found, if the options
// are invalid.
func New(opts ...Option) (*Identifier, error) {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	return c.build()
}

// Identify returns the first identity the configured identifiers find, in
// the configured order, or the client's IP address, marked Exempt when an
// exemption list names the client. Sources see a non-nil Header. It fails
// only for a request with no remote address, which no client can be told
// apart by.
func (x *Identifier) Identify(ctx context.Context, r core.Request) (core.Identity, error) {
	if r.Header == nil {
		r.Header = noHeader{}
	}
	id, ok := x.credentials(ctx, r)
	if !ok {
		if r.RemoteAddr == "" {
			return core.Identity{}, errNoAddress
		}
		id = x.ip(r)
	}
	id.Exempt = id.Exempt || x.exempt(&id, r)
	return id, nil
}

var errNoAddress = errors.New("identify: the request has no remote address")

// credentials returns the identity of the first credential accepted, in
// order.
func (x *Identifier) credentials(ctx context.Context, r core.Request) (core.Identity, bool) {
	for _, k := range x.order {
		switch k {
		case core.KindUser:
			if x.user == nil {
				continue
			}
			if id, ok := x.user.Identify(ctx, r); ok && id.Kind != "" && id.Value != "" {
				return id, true
			}
		case core.KindAPIKey:
			if x.keys == nil {
				continue
			}
			if key := r.Header.Get(x.keyHeader); key != "" {
				if tier, ok := x.keys(ctx, key); ok {
					return core.Identity{Kind: core.KindAPIKey, Value: apiKeyDigest(key), Tier: tier}, true
				}
			}
		}
	}
	return core.Identity{}, false
}

// exempt reports whether an exemption list names the client: its verified
// user ID, its API key, or its IP address, whatever identity it is counted
// by. An unverified identifier is never exempt.
func (x *Identifier) exempt(id *core.Identity, r core.Request) bool {
	switch id.Kind {
	case core.KindUser:
		if x.exemptUsers[id.Value] {
			return true
		}
	case core.KindAPIKey:
		if x.exemptKeys[id.Value] {
			return true
		}
	}
	if len(x.exemptNets) == 0 {
		return false
	}
	a, ok := x.clientIP(r)
	if !ok {
		return false
	}
	for _, n := range x.exemptNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ip returns the identity of r's client IP address: the address, or its
// network when prefixes are configured ("203.0.113.0/24",
// "2001:db8:1:2::/64"). A peer that is not an IP address is used verbatim.
func (x *Identifier) ip(r core.Request) core.Identity {
	a, ok := x.clientIP(r)
	if !ok {
		return core.Identity{Kind: core.KindIP, Value: r.RemoteAddr}
	}
	return core.Identity{Kind: core.KindIP, Value: ipaddr.Key(a, x.v4Bits, x.v6Bits)}
}

// StaticAPIKeys returns a lookup for WithAPIKeys over a fixed set of keys,
// each with its tier. Only the keys' SHA-256 digests are kept, and a
// presented key is looked up by its digest, so the time a lookup takes says
// nothing about the keys.
func StaticAPIKeys(keys map[string]string) func(ctx context.Context, key string) (tier string, ok bool) {
	byDigest := make(map[[sha256.Size]byte]string, len(keys))
	for k, tier := range keys {
		byDigest[sha256.Sum256([]byte(k))] = tier
	}
	return func(_ context.Context, key string) (string, bool) {
		tier, ok := byDigest[sha256.Sum256([]byte(key))]
		return tier, ok
	}
}

// apiKeyDigest is the identity value of an API key: 22 characters of
// base64url SHA-256, so the secret never reaches a backend, a Decision or a
// log.
func apiKeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// noHeader is an empty core.Header.
type noHeader struct{}

func (noHeader) Get(string) string      { return "" }
func (noHeader) Values(string) []string { return nil }

// Use returns the core option that identifies clients with an Identifier
// built from opts: the one-line form of New and core.WithIdentifier, for
// the common setups. An invalid option makes core.New fail with its error.
//
//	lim, err := core.New(
//		identify.Use(identify.WithTrustedProxies("10.0.0.0/8")), // per IP behind a load balancer
//		core.WithDefault(core.PerMinute(100)),
//	)
func Use(opts ...Option) core.Option {
	id, err := New(opts...)
	if err != nil {
		return core.WithIdentifier(invalid{err})
	}
	return core.WithIdentifier(id)
}

// invalid is the identifier of options New refused: core.New reports err
// (through Err) and never calls Identify.
type invalid struct{ err error }

func (i invalid) Identify(context.Context, core.Request) (core.Identity, error) {
	return core.Identity{}, i.err
}

func (i invalid) Err() error { return i.err }
