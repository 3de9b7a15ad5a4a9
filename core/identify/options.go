package identify

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"slices"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// Option configures an [Identifier].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	proxies   []string
	hops      int
	hopsSet   bool
	header    string
	ipHeader  string
	v4Bits    int
	v6Bits    int
	order     []core.IdentityKind
	user      Source
	keyHeader string
	keys      func(ctx context.Context, key string) (tier string, ok bool)
	exemptIPs []string
	exUsers   []string
	exKeys    []string
	errs      []error
}

// WithTrustedProxies trusts the proxies at these addresses ("10.0.0.7") or
// networks ("10.0.0.0/8", "2001:db8::/32"): when the connection's peer is
// one of them, the client is the rightmost address of the forwarding
// header (X-Forwarded-For unless WithForwardedHeader says Forwarded) that
// is not a trusted proxy. Requests from any other peer are keyed by the
// peer, whatever their headers say. The default trusts no proxy.
func WithTrustedProxies(networks ...string) Option {
	return optionFunc(func(c *config) { c.proxies = append(c.proxies, networks...) })
}

// WithTrustedHops declares that exactly n reverse proxies, each appending
// the address of its peer to the forwarding header, stand between clients
// and this server, and that nothing else can reach it: the client is the
// n-th address from the right. A header with fewer addresses, or a
// malformed one there, makes the peer the client. Prefer WithTrustedProxies
// when the proxies' addresses are known: a hop count cannot tell a proxy
// from a client that reached the server directly.
func WithTrustedHops(n int) Option {
	return optionFunc(func(c *config) { c.hops, c.hopsSet = n, true })
}

// WithForwardedHeader selects the forwarding header trusted proxies write:
// "X-Forwarded-For" (the default) or "Forwarded" (RFC 7239). Only one is
// read: a proxy that writes one passes the other through from the client
// untouched.
func WithForwardedHeader(name string) Option {
	return optionFunc(func(c *config) { c.header = textproto.CanonicalMIMEHeaderKey(name) })
}

// WithClientIPHeader reads the client address from a single-address header
// a trusted proxy sets, such as "X-Real-IP", "CF-Connecting-IP" or
// "True-Client-IP", before the forwarding header. It is read only when the
// peer is one of WithTrustedProxies, which it therefore requires, and only
// if it holds exactly one address. Enable it only if every trusted proxy
// sets (not passes through) that header.
func WithClientIPHeader(name string) Option {
	return optionFunc(func(c *config) { c.ipHeader = textproto.CanonicalMIMEHeaderKey(name) })
}

// WithIPv6Prefix keys IPv6 clients by their network of this many bits. The
// default is 64, the network a single host is usually given; 56 or 48 group
// a whole site, so one customer cannot escape the limit by rotating through
// its networks either.
func WithIPv6Prefix(bits int) Option { return optionFunc(func(c *config) { c.v6Bits = bits }) }

// WithIPv4Prefix keys IPv4 clients by their network of this many bits, such
// as 24, instead of by their address (32, the default).
func WithIPv4Prefix(bits int) Option { return optionFunc(func(c *config) { c.v4Bits = bits }) }

// WithUser sets the source of verified users, such as a sluicejwt.Verifier.
// Its identities come first in the default order.
func WithUser(src Source) Option { return optionFunc(func(c *config) { c.user = src }) }

// WithAPIKeys identifies clients by the API key in the named header, when
// lookup accepts it and gives its tier (see StaticAPIKeys); lookup must be
// safe for concurrent use. The identity holds the key's digest, never the
// key. A rejected key passes the request on, in the end to its IP address,
// so a client cannot escape its limit by inventing keys.
func WithAPIKeys(header string, lookup func(ctx context.Context, key string) (tier string, ok bool)) Option {
	return optionFunc(func(c *config) {
		c.keyHeader, c.keys = textproto.CanonicalMIMEHeaderKey(header), lookup
		if header == "" || lookup == nil {
			c.errs = append(c.errs, errors.New("identify: WithAPIKeys needs a header name and a lookup"))
		}
	})
}

// WithOrder sets the order in which credentials are tried: core.KindUser
// (WithUser) and core.KindAPIKey (WithAPIKeys), each at most once. The
// default is user, then API key. Kinds left out are not tried; the IP
// address always comes last.
func WithOrder(kinds ...core.IdentityKind) Option {
	return optionFunc(func(c *config) { c.order = append(make([]core.IdentityKind, 0, len(kinds)), kinds...) })
}

// WithExemptIPs exempts clients whose IP address is one of addrs, each an
// address ("192.0.2.7") or a network ("10.0.0.0/8"): their requests are
// never limited. The address is the client's as the Identifier finds it:
// behind trusted proxies, the forwarded client address; otherwise the
// connection's peer. It applies whatever identity the request is counted
// by. An invalid address is an error of New.
func WithExemptIPs(addrs ...string) Option {
	return optionFunc(func(c *config) { c.exemptIPs = append(c.exemptIPs, addrs...) })
}

// WithExemptUsers exempts the verified users (KindUser identities) with
// these IDs. It never applies to an unverified identifier (KindUnverified),
// so a forged token cannot claim an exempt user's ID.
func WithExemptUsers(ids ...string) Option {
	return optionFunc(func(c *config) { c.exUsers = append(c.exUsers, ids...) })
}

// WithExemptAPIKeys exempts the clients that present one of these API keys
// accepted by WithAPIKeys. Only the keys' digests are kept.
func WithExemptAPIKeys(keys ...string) Option {
	return optionFunc(func(c *config) { c.exKeys = append(c.exKeys, keys...) })
}

func (c *config) build() (*Identifier, error) {
	errs := c.errs
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("identify: "+format, args...)) }
	x := &Identifier{
		hops: c.hops, header: c.header, ipHeader: c.ipHeader,
		v4Bits: c.v4Bits, v6Bits: c.v6Bits,
		user: c.user, keyHeader: c.keyHeader, keys: c.keys,
		order: c.order,
	}
	for _, s := range c.exemptIPs {
		p, err := ipaddr.ParseNetwork(s)
		if err != nil {
			bad("exempt IP %q: %v", s, err)
			continue
		}
		x.exemptNets = append(x.exemptNets, p)
	}
	if len(c.exUsers) > 0 {
		x.exemptUsers = make(map[string]bool, len(c.exUsers))
		for _, u := range c.exUsers {
			x.exemptUsers[u] = true
		}
	}
	if len(c.exKeys) > 0 {
		x.exemptKeys = make(map[string]bool, len(c.exKeys))
		for _, k := range c.exKeys {
			x.exemptKeys[apiKeyDigest(k)] = true
		}
	}
	for _, s := range c.proxies {
		p, err := ipaddr.ParseNetwork(s)
		if err != nil {
			bad("trusted proxy %q: %v", s, err)
			continue
		}
		x.proxies = append(x.proxies, p)
	}
	switch {
	case c.hopsSet && c.hops < 1:
		bad("trusted hops %d: must be at least 1", c.hops)
	case c.hopsSet && len(c.proxies) > 0:
		bad("WithTrustedHops and WithTrustedProxies are exclusive: trust proxies by address or by count")
	}
	trusting := len(c.proxies) > 0 || c.hopsSet
	switch x.header {
	case "":
		if trusting {
			x.header = headerXForwardedFor
		}
	case headerXForwardedFor, headerForwarded:
		if !trusting {
			bad("WithForwardedHeader(%q) without WithTrustedProxies or WithTrustedHops: no proxy would vouch for it", x.header)
		}
	default:
		bad("forwarded header %q: want %q or %q", x.header, headerXForwardedFor, headerForwarded)
	}
	if x.ipHeader != "" {
		switch {
		case len(c.proxies) == 0:
			bad("WithClientIPHeader(%q) needs WithTrustedProxies: the header is believed only from a trusted peer", x.ipHeader)
		case x.ipHeader == headerXForwardedFor || x.ipHeader == headerForwarded:
			bad("WithClientIPHeader(%q): a list header, use WithForwardedHeader", x.ipHeader)
		}
	}
	if c.v4Bits != 0 && (c.v4Bits < 1 || c.v4Bits > 32) {
		bad("IPv4 prefix /%d: want 1 to 32", c.v4Bits)
	}
	if c.v6Bits != 0 && (c.v6Bits < 1 || c.v6Bits > 128) {
		bad("IPv6 prefix /%d: want 1 to 128", c.v6Bits)
	}
	if x.order == nil {
		x.order = []core.IdentityKind{core.KindUser, core.KindAPIKey}
	}
	for i, k := range x.order {
		switch {
		case k != core.KindUser && k != core.KindAPIKey:
			bad("order[%d] %v: want user or apikey", i, k)
		case slices.Index(x.order, k) != i:
			bad("order[%d] %v: listed twice", i, k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return x, nil
}
