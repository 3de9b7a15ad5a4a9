package core

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Counter keys.
//
// A counter is addressed by a backend namespace and a key. The namespace
// (see namespace) is "kind:r:rule" or "kind:g:group", with the rule or
// group name escaped; the key is clientKey of the client's identity value,
// computed wherever a backend request is built (Decide, Reset, Release),
// so an Identity always holds the value as identified and sending it back
// reaches the same counter. Together they keep every counter apart:
//
//   - clients of different kinds never share a counter: the kind is in the
//     namespace, so the user "10.0.0.1" is not the IP 10.0.0.1;
//   - rules never share a counter unless they name the same group: names
//     are escaped, so no name can spell another rule's namespace, and
//     "r:" and "g:" keep rule names and group names apart;
//   - tiers: a rule that names tiers is a rule of its own with its own
//     namespace; a rule shared by several tiers counts a client once,
//     whatever its tier;
//   - clients of one kind: clientKey is injective (short values made only of
//     safe characters are kept, everything else is replaced by "#" and a
//     SHA-256 digest, and no kept value starts with "#"), so no crafted
//     identifier, with separators, braces or anything else, can spell
//     another client's key.
//
// Backends that join namespace and key into one string stay unambiguous:
// the namespace has exactly two ':' before the escaped name and contains no
// '{' or '}', and the key comes last.

// maxKeptKey is the longest identity value clientKey keeps verbatim.
const maxKeptKey = 96

// keySafe marks the bytes an identity value may hold and still be used as a
// key verbatim: letters, digits and "-._~@+:/=", enough for IP addresses and
// prefixes, e-mail addresses, UUIDs, numeric and base64url IDs.
var keySafe = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-._~@+:/=" {
		t[c] = true
	}
	return t
}()

// clientKey returns the key a client with identity value v is counted by:
// v itself when it is non-empty, at most maxKeptKey bytes long and made of
// safe bytes only, and "#" followed by the base64url SHA-256 of v otherwise.
// It does not allocate for kept values.
func clientKey(v string) string {
	if len(v) > 0 && len(v) <= maxKeptKey {
		i := 0
		for i < len(v) && keySafe[v[i]] {
			i++
		}
		if i == len(v) {
			return v
		}
	}
	sum := sha256.Sum256([]byte(v))
	return "#" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// escapeName escapes a rule or group name for a namespace: bytes outside
// letters, digits and "-._~@+/" become "%XX", so ':' '{' '}' and '%' never
// appear unescaped and distinct names stay distinct.
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keySafe[c] && c != ':' && c != '=' {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
