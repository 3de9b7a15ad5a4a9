package identify

import (
	"net/netip"
	"strings"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

// clientIP returns the address of r's client under the Identifier's trust
// model (see the package documentation), normalised: an IPv4-mapped IPv6
// address as IPv4 and no zone. It reports false when the peer address is
// not an IP address (a Unix socket, say). It implements core.IPResolver, so
// core.WithExemptIPs sees the same address.
func (x *Identifier) clientIP(r core.Request) (netip.Addr, bool) {
	peer, ok := ipaddr.Parse(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if r.Header == nil || (x.hops == 0 && !x.trusted(peer)) {
		return peer, true // no proxy vouches for any header
	}
	if x.ipHeader != "" {
		if a, ok := singleIP(r.Header.Values(x.ipHeader)); ok {
			return a, true
		}
	}
	if x.header != "" {
		if a, ok := x.fromChain(r.Header.Values(x.header)); ok {
			return a, true
		}
	}
	return peer, true
}

// trusted reports whether a is a trusted proxy's address.
func (x *Identifier) trusted(a netip.Addr) bool {
	for _, p := range x.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromChain finds the client in the lines of a forwarding header, read as
// one list from the right: with trusted networks, the first address that
// is not trusted (or the leftmost, when all are); with a hop count, the
// hops-th. It reports false, so the peer is used, when the list is empty,
// too short, or holds something other than an address where it looks.
func (x *Identifier) fromChain(lines []string) (netip.Addr, bool) {
	forwarded := x.header == headerForwarded
	var last netip.Addr
	seen := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			j := strings.LastIndexByte(line, ',')
			elem := line[j+1:]
			seen++
			if x.hops == 0 || seen == x.hops {
				a, ok := parseElement(elem, forwarded)
				if !ok {
					return netip.Addr{}, false
				}
				if x.hops > 0 || !x.trusted(a) {
					return a, true
				}
				last = a
			}
			if j < 0 {
				break
			}
			line = line[:j]
		}
	}
	return last, x.hops == 0 && last.IsValid()
}

// parseElement parses one element of X-Forwarded-For (an address, with an
// optional port or brackets) or of Forwarded (the node of its "for"
// parameter).
func parseElement(elem string, forwarded bool) (netip.Addr, bool) {
	elem = trimOWS(elem)
	if forwarded {
		return forwardedFor(elem)
	}
	return ipaddr.Parse(elem)
}

// forwardedFor returns the address of the "for" parameter of one Forwarded
// element (RFC 7239: `for=192.0.2.60;proto=http;by=203.0.113.43`, with
// IPv6 nodes quoted and bracketed: `for="[2001:db8::17]:4711"`). An element
// without exactly one "for", a malformed pair or quoted string, or a node
// that is not an address ("unknown", an obfuscated "_hidden") reports
// false.
func forwardedFor(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(trimOWS(pair), "=")
		if !ok || k == "" {
			return netip.Addr{}, false
		}
		if !strings.EqualFold(k, "for") {
			continue
		}
		if found {
			return netip.Addr{}, false // a parameter occurs at most once
		}
		found = true
		if node, ok = unquote(v); !ok {
			return netip.Addr{}, false
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	if i := strings.LastIndex(node, ":_"); i > 0 {
		node = node[:i] // an obfuscated port: "192.0.2.43:_p1"
	}
	return ipaddr.Parse(node)
}

// unquote returns the value of a token or quoted-string (RFC 9110).
func unquote(v string) (string, bool) {
	if v == "" || v[0] != '"' {
		return v, !strings.ContainsAny(v, "\"\\")
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	v = v[1 : len(v)-1]
	if !strings.ContainsAny(v, "\"\\") {
		return v, true
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			return "", false
		case '\\':
			if i++; i == len(v) {
				return "", false
			}
		}
		b.WriteByte(v[i])
	}
	return b.String(), true
}

// singleIP parses a single-address header such as X-Real-IP: the last line
// (a proxy that appends a line rather than replacing it appends the one to
// believe), which must hold exactly one address.
func singleIP(lines []string) (netip.Addr, bool) {
	if len(lines) == 0 {
		return netip.Addr{}, false
	}
	v := trimOWS(lines[len(lines)-1])
	if strings.IndexByte(v, ',') >= 0 {
		return netip.Addr{}, false
	}
	return ipaddr.Parse(v)
}

// trimOWS trims optional whitespace (spaces and tabs) from both ends.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
