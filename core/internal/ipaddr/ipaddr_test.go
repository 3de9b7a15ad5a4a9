package ipaddr

import (
	"net/netip"
	"testing"
)

func TestIsCanonicalIPv4(t *testing.T) {
	for s, want := range map[string]bool{
		"0.0.0.0": true, "255.255.255.255": true, "1.2.3.4": true, "10.0.0.1": true,
		"256.1.1.1": false, "1.2.3": false, "1.2.3.4.5": false, "01.2.3.4": false, "1..2.3": false,
		"1.2.3.": false, ".1.2.3": false, "": false, "1.2.3.4 ": false, "a.b.c.d": false, "1.2.3.00": false,
	} {
		if got := IsCanonicalIPv4(s); got != want {
			t.Errorf("IsCanonicalIPv4(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:80", "192.0.2.1"},
		{"192.0.2.1:", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[fe80::1%eth0]:443", "fe80::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1"},
		{"0.0.0.0", ""},
		{"::", ""},
		{"192.0.2.1:http", ""},
		{"192.0.2.1:123456", ""},
		{"[2001:db8::1]x", ""},
		{"[2001:db8::1", ""},
		{"01.2.3.4", ""},
		{"", ""},
		{"@", ""},
	} {
		a, ok := Parse(tc.in)
		if got := a.String(); (ok && got != tc.want) || (!ok && tc.want != "") {
			t.Errorf("Parse(%q) = %v, %v; want %q", tc.in, a, ok, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		addr           string
		v4Bits, v6Bits int
		want           string
	}{
		{"203.0.113.7", 0, 0, "203.0.113.7"},
		{"203.0.113.7", 32, 64, "203.0.113.7"},
		{"203.0.113.7", 24, 64, "203.0.113.0/24"},
		{"2001:db8:1:2:3:4:5:6", 0, 0, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 0, 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 0, 128, "2001:db8:1:2:3:4:5:6/128"},
	} {
		if got := Key(netip.MustParseAddr(tc.addr), tc.v4Bits, tc.v6Bits); got != tc.want {
			t.Errorf("Key(%s, %d, %d) = %q, want %q", tc.addr, tc.v4Bits, tc.v6Bits, got, tc.want)
		}
	}
}

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"::ffff:0:0/80", ""},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/33", ""},
		{"nope", ""},
	} {
		p, err := ParseNetwork(tc.in)
		if got := p.String(); (err == nil && got != tc.want) || (err != nil && tc.want != "") {
			t.Errorf("ParseNetwork(%q) = %v, %v; want %q", tc.in, p, err, tc.want)
		}
	}
}

func TestRemoteKeyDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { RemoteKey("203.0.113.7:51234") }); n != 0 {
		t.Errorf("RemoteKey allocates %v times for an IPv4 host:port", n)
	}
}
