// Package ipaddr is the one place Sluice turns address text into client
// keys: it splits host from port, parses the spellings found in RemoteAddr,
// X-Forwarded-For and Forwarded, normalises (IPv4-mapped IPv6 to IPv4, no
// zone) and masks addresses to the prefix a client is counted by.
//
// Package core's default identifier and package core/identify both use it,
// so an address gets the same key whichever of them found it.
package ipaddr

import (
	"errors"
	"net/netip"
	"strings"
)

// DefaultIPv6Bits is the prefix length IPv6 clients are keyed by unless
// configured otherwise: a /64 is the smallest network a single host is
// usually given, so one host cannot escape its limit by rotating through
// its addresses.
const DefaultIPv6Bits = 64

// Host returns the host part of s, which may be "host:port", "[host]:port",
// "[host]" or a bare host (including a bare IPv6 address). It does not
// allocate and does not validate the host.
func Host(s string) string { return host(s, true) }

// host is Host; checkPort false trusts an IPv4 host:port to have a valid
// port, as a server's RemoteAddr does.
func host(s string, checkPort bool) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s[:i], ':') < 0 {
		if checkPort && !isPort(s[i+1:]) {
			return s
		}
		return s[:i] // "a.b.c.d:port"
	}
	if strings.HasPrefix(s, "[") {
		// The last ']': a zone may itself contain ']' ("[fe80::1%]]:80").
		if j := strings.LastIndexByte(s, ']'); j > 0 {
			rest := s[j+1:]
			if rest == "" || (rest[0] == ':' && isPort(rest[1:])) {
				return s[1:j] // "[v6]" or "[v6]:port"
			}
		}
	}
	return s
}

// isPort reports whether s is a decimal port number, 0 to 65535 (possibly
// empty, as net.SplitHostPort allows).
func isPort(s string) bool {
	if len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// Parse parses an address as proxies and servers write it: "1.2.3.4",
// "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:80", each
// optionally with a zone. The result is normalised: an IPv4-mapped IPv6
// address becomes IPv4 and the zone is dropped. The unspecified addresses
// (0.0.0.0, ::) are rejected: no client has them.
func Parse(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(Host(s))
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.WithZone("").Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// Key returns the key a client at a is counted by: the address itself for
// an IPv4 address when v4Bits is 32 (or 0), the masked prefix otherwise
// ("203.0.113.0/24", "2001:db8:1:2::/64"). v6Bits of 0 means
// DefaultIPv6Bits. a must be normalised (see Parse).
func Key(a netip.Addr, v4Bits, v6Bits int) string {
	if a.Is4() {
		if v4Bits <= 0 || v4Bits >= 32 {
			return a.String()
		}
		p, _ := a.Prefix(v4Bits)
		return p.String()
	}
	if v6Bits <= 0 {
		v6Bits = DefaultIPv6Bits
	}
	p, _ := a.Prefix(min(v6Bits, 128))
	return p.String()
}

// RemoteKey returns the default key of a connection's remote address: the
// IPv4 address, or the IPv6 /64, after normalisation. A string that is not
// an address is returned verbatim, so it still gets a counter of its own.
// It does not allocate for the common case, an IPv4 host:port in canonical
// form.
func RemoteKey(remote string) string {
	h := host(remote, false)
	if IsCanonicalIPv4(h) {
		return h
	}
	a, err := netip.ParseAddr(Host(remote))
	if err != nil {
		return remote
	}
	return Key(a.WithZone("").Unmap(), 32, DefaultIPv6Bits)
}

// IsCanonicalIPv4 reports whether s is an IPv4 address in dotted decimal
// without leading zeros, the only spelling netip.Addr.String produces.
func IsCanonicalIPv4(s string) bool {
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

// ParseNetwork parses an address ("192.0.2.7") or a CIDR prefix
// ("10.0.0.0/8", "2001:db8::/32") as configured for trusted proxies and
// exemptions, normalised like client addresses: an IPv4-mapped address or
// prefix becomes IPv4, and the prefix is masked. Zones are rejected.
func ParseNetwork(s string) (netip.Prefix, error) {
	errBad := errors.New("not an address or CIDR prefix")
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errBad
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errBad
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, errors.New("an IPv4-mapped prefix must be at least /96")
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errBad
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
