package sluiceredis

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"unsafe"

	"github.com/sluicehq/sluice/core/backend"
)

// tagLen is the length of the hash tag: 16 bytes of digest in unpadded
// base64url.
var tagLen = base64.RawURLEncoding.EncodedLen(16)

// suffixes name each algorithm's keys; the window index follows, except for
// Concurrency, which has one window. A suffix changes with the format of
// its values, so that instances of two versions, side by side during a
// rolling upgrade, never read each other's values (each keeps its own
// counters until the upgrade is done): T and F replaced t and f when token
// buckets began to store their limit's tag and fixed windows their period.
var suffixes = [...]byte{
	backend.TokenBucket:   'T',
	backend.SlidingLog:    'l',
	backend.SlidingWindow: 'w',
	backend.FixedWindow:   'F',
	backend.Concurrency:   'c',
}

// oldSuffixes are the suffixes of earlier value formats. Reset deletes
// those keys too; the rest of the backend never reads them, and they
// expire on their own.
var oldSuffixes = [...]byte{'t', 'f'}

// keyBase returns the part of every key of (namespace, key) before its
// suffix: prefix{tag}. The tag is a digest of the length-prefixed namespace
// followed by the key, so that any bytes (braces, colons, newlines, 64 KiB
// keys) give a short key, distinct pairs give distinct keys, and all keys of
// one pair share the tag and so one Cluster slot. The digest is the first
// 128 bits of SHA-256: crafting a collision between two clients is
// infeasible, and no secret seed is needed, so every instance derives the
// same keys.
func (b *Backend) keyBase(namespace, key string, extra int) []byte {
	// The hashed input is varint(len(namespace)) namespace key, built on
	// the stack when it fits, so the common key costs no allocation.
	var stack [256]byte
	in := binary.AppendUvarint(stack[:0], uint64(len(namespace)))
	in = append(in, namespace...)
	in = append(in, key...)
	sum := sha256.Sum256(in)
	buf := make([]byte, 0, len(b.prefix)+tagLen+2+extra)
	buf = append(buf, b.prefix...)
	buf = append(buf, '{')
	buf = base64.RawURLEncoding.AppendEncode(buf, sum[:16])
	buf = append(buf, '}')
	return buf
}

// keys returns the keys of a request's windows: prefix{tag}T0, T1, ... (the suffix letter per algorithm, see suffixes)
func (b *Backend) keys(namespace, key string, alg backend.Algorithm, windows int) []string {
	base := b.keyBase(namespace, key, 2)
	if alg == backend.Concurrency {
		return []string{string(append(base, 'c'))}
	}
	// Every key is base and two bytes: one string holds them all, and the
	// keys are slices of it.
	n := len(base) + 2
	all := make([]byte, 0, n*windows)
	for i := range windows {
		all = append(append(all, base...), suffixes[alg], byte('0'+i))
	}
	s := unsafe.String(unsafe.SliceData(all), len(all)) // all is never written again
	keys := make([]string, windows)
	for i := range keys {
		keys[i] = s[i*n : (i+1)*n]
	}
	return keys
}

// allKeys returns every key (namespace, key) can have, for Reset: its
// windows' and its penalty state's (p, see penalty.go).
func (b *Backend) allKeys(namespace, key string) []string {
	base := b.keyBase(namespace, key, 2)
	keys := make([]string, 0, (4+len(oldSuffixes))*backend.MaxWindows+2)
	for _, s := range append(suffixes[:backend.Concurrency:backend.Concurrency], oldSuffixes[:]...) {
		for i := range backend.MaxWindows {
			keys = append(keys, string(append(base, s, byte('0'+i))))
		}
	}
	keys = append(keys, string(append(base, 'c')))
	return append(keys, string(append(base, 'p'))) // base is reused: one append at a time
}
