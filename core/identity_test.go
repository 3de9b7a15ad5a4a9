package core

import (
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice/core/internal/ipaddr"
)

func TestIPKey(t *testing.T) {
	for _, tc := range []struct{ name, remote, want string }{
		{"ipv4 with port", "203.0.113.7:51234", "203.0.113.7"},
		{"ipv4 without port", "203.0.113.7", "203.0.113.7"},
		{"ipv6 with port", "[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"ipv6 same /64", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", "2001:db8:1:2::/64"},
		{"ipv6 without port", "2001:db8::1", "2001:db8::/64"},
		{"ipv6 zone", "[fe80::1%eth0]:80", "fe80::/64"},
		{"ipv4-mapped ipv6", "[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"ipv4-mapped ipv6 hex", "[::ffff:cb00:7107]:80", "203.0.113.7"},
		{"loopback v6", "[::1]:80", "::/64"},
		{"leading zeros are not canonical", "01.2.3.4:80", "01.2.3.4:80"},
		{"garbage kept verbatim", "not an address", "not an address"},
		{"empty", "", ""},
		{"unix socket", "@", "@"},
		{"unclosed bracket", "[2001:db8::1", "[2001:db8::1"},
		{"port only", ":80", ":80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ipKey(tc.remote); got != tc.want {
				t.Errorf("ipKey(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

// FuzzIPKey checks that ipKey never panics, is deterministic, keeps IPv4
// addresses exact, and maps every IPv6 address to its /64.
func FuzzIPKey(f *testing.F) {
	for _, s := range []string{"1.2.3.4:80", "[::1]:80", "[::ffff:1.2.3.4]:1", "fe80::1%eth0", "[", "]:", "::", "1.2.3.4", "01.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		got := ipKey(remote)
		if got != ipKey(remote) {
			t.Fatal("not deterministic")
		}
		if ipaddr.IsCanonicalIPv4(got) {
			if a, err := netip.ParseAddr(got); err != nil || !a.Is4() {
				t.Fatalf("ipKey(%q) = %q: canonical IPv4 check accepted a non-address", remote, got)
			}
			return
		}
		_, errAddr := netip.ParseAddr(remote)
		_, errAddrPort := netip.ParseAddrPort(remote)
		if errAddr != nil && errAddrPort != nil && got == remote {
			return // a non-address is kept verbatim (even "::/0")
		}
		if got == remote {
			t.Fatalf("ipKey(%q) kept an address verbatim", remote)
		}
		if p, err := netip.ParsePrefix(got); err != nil || p.Bits() != 64 || p.Addr().Is4() || p != p.Masked() {
			t.Fatalf("ipKey(%q) = %q, want a masked IPv6 /64", remote, got)
		}
	})
}
