package identify

import (
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
	keys      APIKeyLookup
	keyFunc   KeyFunc
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
// HeaderXForwardedFor (the default) or HeaderForwarded (RFC 7239). Only one
// is read: a proxy that writes one passes the other through from the
// client untouched.
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

// WithAPIKey identifies clients by the API key in the named header, when
// lookup accepts it (see StaticAPIKeys). The identity holds the key's
// digest, never the key. A rejected key passes the request on, in the end
// to its IP address, so a client cannot escape its limit by inventing keys.
func WithAPIKey(header string, lookup APIKeyLookup) Option {
	return optionFunc(func(c *config) {
		c.keyHeader, c.keys = textproto.CanonicalMIMEHeaderKey(header), lookup
		if header == "" || lookup == nil {
			c.errs = append(c.errs, errors.New("identify: WithAPIKey needs a header name and a lookup"))
		}
	})
}

// WithKeyFunc identifies clients by a key of your own (see KeyFunc).
func WithKeyFunc(f KeyFunc) Option { return optionFunc(func(c *config) { c.keyFunc = f }) }

// WithOrder sets the order in which identifiers are tried: any of
// core.KindUser (WithUser), core.KindAPIKey (WithAPIKey) and
// core.KindCustom (WithKeyFunc), each at most once. The default is user,
// API key, custom. Kinds left out are not tried; the IP address always comes
// last.
func WithOrder(kinds ...core.IdentityKind) Option {
	return optionFunc(func(c *config) { c.order = append(make([]core.IdentityKind, 0, len(kinds)), kinds...) })
}

func (c *config) build() (*Identifier, error) {
	errs := c.errs
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("identify: "+format, args...)) }
	x := &Identifier{
		hops: c.hops, header: c.header, ipHeader: c.ipHeader,
		v4Bits: c.v4Bits, v6Bits: c.v6Bits,
		user: c.user, keyHeader: c.keyHeader, keys: c.keys, keyFunc: c.keyFunc,
		order: c.order,
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
			x.header = HeaderXForwardedFor
		}
	case HeaderXForwardedFor, HeaderForwarded:
		if !trusting {
			bad("WithForwardedHeader(%q) without WithTrustedProxies or WithTrustedHops: no proxy would vouch for it", x.header)
		}
	default:
		bad("forwarded header %q: want %q or %q", x.header, HeaderXForwardedFor, HeaderForwarded)
	}
	if x.ipHeader != "" {
		switch {
		case len(c.proxies) == 0:
			bad("WithClientIPHeader(%q) needs WithTrustedProxies: the header is believed only from a trusted peer", x.ipHeader)
		case x.ipHeader == HeaderXForwardedFor || x.ipHeader == HeaderForwarded:
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
		x.order = []core.IdentityKind{core.KindUser, core.KindAPIKey, core.KindCustom}
	}
	for i, k := range x.order {
		switch {
		case k != core.KindUser && k != core.KindAPIKey && k != core.KindCustom:
			bad("order[%d] %v: want user, apikey or custom", i, k)
		case slices.Index(x.order, k) != i:
			bad("order[%d] %v: listed twice", i, k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return x, nil
}
