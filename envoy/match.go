package sluiceenvoy

import (
	"strconv"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
)

// match finds the limit of a request descriptor's entries under a domain's
// root: one level per entry, an exact value before the first matching
// wildcard before the Descriptor with no value, and no going back. It
// returns nil when the descriptor is not limited, and otherwise the limit
// and the counter key: the values of the entries a wildcard or a
// value-less Descriptor matched (a shared wildcard's pattern in place of
// the value), each preceded by its length, so that no two value lists
// share a key.
func match(root *node, entries []*commonv3.RateLimitDescriptor_Entry) (*limitRef, string) {
	n := root
	var key []byte
	for _, e := range entries {
		kn := n.children[e.GetKey()]
		if kn == nil {
			return nil, ""
		}
		v := e.GetValue()
		next := kn.exact[v]
		if next == nil {
			for i := range kn.wild {
				if w := &kn.wild[i]; len(v) >= len(w.prefix) && v[:len(w.prefix)] == w.prefix {
					next = w.n
					if w.shared {
						v = w.pattern
					}
					key = appendKeyPart(key, v)
					break
				}
			}
		}
		if next == nil && kn.any != nil {
			next = kn.any
			key = appendKeyPart(key, v)
		}
		if next == nil {
			return nil, ""
		}
		n = next
	}
	if n.limit == nil {
		return nil, ""
	}
	if len(key) == 0 {
		return n.limit, "-" // every entry matched an exact value: one counter
	}
	return n.limit, string(key)
}

func appendKeyPart(b []byte, v string) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	return append(b, v...)
}

// entriesKey is the counter key of a request descriptor whose limit the
// request itself carries: every entry's key and value, each preceded by
// its length.
func entriesKey(entries []*commonv3.RateLimitDescriptor_Entry) string {
	var b []byte
	for _, e := range entries {
		b = appendKeyPart(b, e.GetKey())
		b = appendKeyPart(b, e.GetValue())
	}
	return string(b)
}
