package identify

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/sluicehq/sluice/core"
)

// fuzzChain checks the property the trust model rests on, for one header:
// whatever a client prepends to the header the proxies wrote (a forged
// element or a whole forged line), the client found is the same, as long
// as it was found among untrusted addresses; and nothing panics.
func fuzzChain(f *testing.F, header string, seeds [][2]string) {
	x, err := New(WithTrustedProxies("10.0.0.0/8", "2001:db8:ffff::/48"), WithForwardedHeader(header))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, forged, written string) {
		req := func(lines ...string) core.Request {
			return core.Request{RemoteAddr: "10.0.0.1:443", Header: http.Header{header: lines}}
		}
		got, ok := x.clientIP(req(written))
		if !ok {
			t.Fatalf("ClientIP(%q) reports no address for an IP peer", written)
		}
		if got != got.Unmap() || got.Zone() != "" || !got.IsValid() {
			t.Fatalf("ClientIP(%q) = %v: not normalised", written, got)
		}
		if got == peer || x.trusted(got) {
			return // the peer, or an all-trusted chain: a forged prefix may matter
		}
		for _, lines := range [][]string{{forged + "," + written}, {forged, written}} {
			if again, _ := x.clientIP(req(lines...)); again != got {
				t.Fatalf("prepending %q changed the client: %v, then %v with %q", forged, got, again, lines)
			}
		}
		// An untrusted peer is the client, whatever the header says.
		r := req(written)
		r.RemoteAddr = "203.0.113.7:1"
		if a, _ := x.clientIP(r); a != netip.MustParseAddr("203.0.113.7") {
			t.Fatalf("an untrusted peer's header was believed: %v", a)
		}
	})
}

func FuzzXForwardedFor(f *testing.F) {
	fuzzChain(f, headerXForwardedFor, [][2]string{
		{"6.6.6.6", "198.51.100.9"},
		{"10.0.0.5", "198.51.100.9, 10.0.0.2"},
		{"[2001:db8::1]:80", "2001:db8:1:2::5"},
		{"", "::ffff:198.51.100.9, 10.0.0.2"},
		{"\"", "198.51.100.9:4711"},
		{"x,", "fe80::1%eth0"},
	})
}

func FuzzForwarded(f *testing.F) {
	fuzzChain(f, headerForwarded, [][2]string{
		{"for=6.6.6.6", "for=198.51.100.9;proto=https"},
		{`for="`, `for="[2001:db8:1:2::5]:4711"`},
		{`for="6.6.6.6, for=1.1.1.1"`, "For=198.51.100.9, for=10.0.0.2"},
		{"for=_hidden", `for="\[2001:db8::5\]"`},
		{";;", `for="198.51.100.9:_p1";by=10.0.0.1`},
	})
}
