package identify_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
)

// The trust configurations the spoofing table runs against.
var (
	noTrust  []identify.Option
	byCIDR   = []identify.Option{identify.WithTrustedProxies("10.0.0.0/8", "2001:db8:ffff::/48")}
	byRFC    = []identify.Option{identify.WithTrustedProxies("10.0.0.0/8"), identify.WithForwardedHeader("forwarded")}
	byHops   = []identify.Option{identify.WithTrustedHops(2)}
	byRealIP = []identify.Option{identify.WithTrustedProxies("10.0.0.0/8"), identify.WithClientIPHeader("X-Real-IP")}
	grouped  = []identify.Option{identify.WithIPv4Prefix(24), identify.WithIPv6Prefix(48)}
)

// hdr builds a header with the given lines, in order, for each name.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestClientIPSpoofing(t *testing.T) {
	const (
		proxy  = "10.0.0.1:443"
		client = "198.51.100.9"
	)
	huge := strings.Repeat("6.6.6.6, ", 100_000) + client
	var repeated []string
	for range 1000 {
		repeated = append(repeated, "X-Forwarded-For", "10.0.0.9")
	}
	for _, tc := range []struct {
		name   string
		opts   []identify.Option
		remote string
		header http.Header
		want   string
	}{
		// No trust: headers are never read.
		{"default ignores X-Forwarded-For", noTrust, "203.0.113.7:1", hdr("X-Forwarded-For", client), "203.0.113.7"},
		{"default ignores Forwarded", noTrust, "203.0.113.7:1", hdr("Forwarded", "for="+client), "203.0.113.7"},
		{"default ignores X-Real-IP", noTrust, "203.0.113.7:1", hdr("X-Real-IP", client), "203.0.113.7"},

		// Trusted networks, X-Forwarded-For.
		{"forged leftmost", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6, "+client), client},
		{"forged trusted-looking leftmost", byCIDR, proxy, hdr("X-Forwarded-For", "10.0.0.5, "+client), client},
		{"untrusted peer's header is ignored", byCIDR, client + ":1", hdr("X-Forwarded-For", "6.6.6.6"), client},
		{"chain of trusted proxies", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6, "+client+", 10.0.0.2, 10.0.0.3"), client},
		{"no header from a trusted peer", byCIDR, proxy, http.Header{}, "10.0.0.1"},
		{"lines joined in order", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", client+", 10.0.0.2"), client},
		{"proxy's own line last", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6, 7.7.7.7", "X-Forwarded-For", client), client},
		{"all trusted: leftmost", byCIDR, proxy, hdr("X-Forwarded-For", "10.0.0.9, 10.0.0.8"), "10.0.0.9"},
		{"repeated trusted lines", byCIDR, proxy, hdr(append([]string{"X-Forwarded-For", client}, repeated...)...), client},
		{"huge forged prefix", byCIDR, proxy, hdr("X-Forwarded-For", huge), client},
		{"no spaces", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6,"+client), client},
		{"tabs and spaces", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6 ,\t"+client+" \t"), client},

		// Malformed where the client should be: the peer.
		{"garbage rightmost", byCIDR, proxy, hdr("X-Forwarded-For", client+", garbage"), "10.0.0.1"},
		// A port above 65535 makes an element garbage, like any other.
		{"port out of range rightmost", byCIDR, proxy, hdr("X-Forwarded-For", client+", 5.5.5.5:99999"), "10.0.0.1"},
		{"port at the top of the range", byCIDR, proxy, hdr("X-Forwarded-For", "5.5.5.5:65535"), "5.5.5.5"},
		{"bracketed port out of range", byCIDR, proxy, hdr("X-Forwarded-For", client+", [2001:db8::1]:65536"), "10.0.0.1"},
		{"empty rightmost", byCIDR, proxy, hdr("X-Forwarded-For", client+", "), "10.0.0.1"},
		{"empty header", byCIDR, proxy, hdr("X-Forwarded-For", ""), "10.0.0.1"},
		{"unspecified address", byCIDR, proxy, hdr("X-Forwarded-For", "0.0.0.0"), "10.0.0.1"},
		{"leading zeros", byCIDR, proxy, hdr("X-Forwarded-For", "198.051.100.009"), "10.0.0.1"},
		{"hostname", byCIDR, proxy, hdr("X-Forwarded-For", "evil.example"), "10.0.0.1"},
		{"bad port", byCIDR, proxy, hdr("X-Forwarded-For", client+":http"), "10.0.0.1"},
		{"garbage left of the client is never read", byCIDR, proxy, hdr("X-Forwarded-For", "\x00\xff[[::, "+client), client},

		// IPv6, mapped addresses, ports, brackets and zones.
		{"ipv6 client", byCIDR, proxy, hdr("X-Forwarded-For", "2001:db8:1:2::5"), "2001:db8:1:2::/64"},
		{"ipv6 proxy, ipv4 client", byCIDR, "[2001:db8:ffff::1]:443", hdr("X-Forwarded-For", client), client},
		{"ipv4 proxy, ipv6 client", byCIDR, proxy, hdr("X-Forwarded-For", "6.6.6.6, [2001:db8:1:2::5]:443"), "2001:db8:1:2::/64"},
		{"mapped client", byCIDR, proxy, hdr("X-Forwarded-For", "::ffff:"+client), client},
		{"mapped proxy is trusted", byCIDR, "[::ffff:10.0.0.1]:443", hdr("X-Forwarded-For", client), client},
		{"mapped trusted entry is skipped", byCIDR, proxy, hdr("X-Forwarded-For", client+", ::ffff:10.0.0.2"), client},
		{"ipv4 with port", byCIDR, proxy, hdr("X-Forwarded-For", client+":4711"), client},
		{"bracketed ipv6", byCIDR, proxy, hdr("X-Forwarded-For", "[2001:db8:1:2::5]"), "2001:db8:1:2::/64"},
		{"zone dropped", byCIDR, proxy, hdr("X-Forwarded-For", "fe80::1%eth0"), "fe80::/64"},
		{"unclosed bracket", byCIDR, proxy, hdr("X-Forwarded-For", "[2001:db8::5"), "10.0.0.1"},
		{"ipv6 peer keyed by /64", noTrust, "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"mapped peer", noTrust, "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
		{"unix socket", noTrust, "@", nil, "@"},
		{"ipv4 grouped by /24", grouped, "203.0.113.7:1", nil, "203.0.113.0/24"},
		{"ipv6 grouped by /48", grouped, "[2001:db8:1:2::5]:1", nil, "2001:db8:1::/48"},
		{"mapped address grouped as ipv4", grouped, "[::ffff:203.0.113.7]:1", nil, "203.0.113.0/24"},

		// RFC 7239 Forwarded.
		{"forwarded forged leftmost", byRFC, proxy, hdr("Forwarded", "for=6.6.6.6, for="+client+";proto=https"), client},
		{"forwarded quoted ipv6 with port", byRFC, proxy, hdr("Forwarded", `for="[2001:db8:1:2::5]:4711"`), "2001:db8:1:2::/64"},
		{"forwarded quoted ipv4", byRFC, proxy, hdr("Forwarded", `for="`+client+`"`), client},
		{"forwarded parameter case", byRFC, proxy, hdr("Forwarded", "By=10.0.0.1;For="+client), client},
		{"forwarded escapes", byRFC, proxy, hdr("Forwarded", `for="\[2001:db8:1:2::5\]"`), "2001:db8:1:2::/64"},
		{"forwarded obfuscated port", byRFC, proxy, hdr("Forwarded", `for="`+client+`:_p1"`), client},
		{"forwarded obfuscated node", byRFC, proxy, hdr("Forwarded", "for="+client+", for=_hidden"), "10.0.0.1"},
		{"forwarded unknown node", byRFC, proxy, hdr("Forwarded", "for=unknown"), "10.0.0.1"},
		{"forwarded comma inside forged quotes", byRFC, proxy, hdr("Forwarded", `for="6.6.6.6, for=1.1.1.1", for=`+client), client},
		{"forwarded forged open quote", byRFC, proxy, hdr("Forwarded", `for="6.6.6.6, for=`+client), client},
		{"forwarded unbalanced quote rightmost", byRFC, proxy, hdr("Forwarded", `for="`+client), "10.0.0.1"},
		{"forwarded quote inside token", byRFC, proxy, hdr("Forwarded", `for=198.51."100.9`), "10.0.0.1"},
		{"forwarded duplicate for", byRFC, proxy, hdr("Forwarded", "for="+client+";for=6.6.6.6"), "10.0.0.1"},
		{"forwarded without for", byRFC, proxy, hdr("Forwarded", "proto=https;by=10.0.0.1"), "10.0.0.1"},
		{"forwarded pair without =", byRFC, proxy, hdr("Forwarded", "for"), "10.0.0.1"},
		{"forwarded trusted hop skipped", byRFC, proxy, hdr("Forwarded", "for="+client, "Forwarded", "for=10.0.0.2"), client},
		{"forwarded ignores x-forwarded-for", byRFC, proxy, hdr("X-Forwarded-For", client), "10.0.0.1"},
		{"x-forwarded-for ignores forwarded", byCIDR, proxy, hdr("Forwarded", "for="+client), "10.0.0.1"},

		// A hop count.
		{"hops: second from the right", byHops, "192.0.2.1:1", hdr("X-Forwarded-For", "6.6.6.6, "+client+", 192.0.2.2"), client},
		{"hops: across lines", byHops, "192.0.2.1:1", hdr("X-Forwarded-For", "6.6.6.6, "+client, "X-Forwarded-For", "192.0.2.2"), client},
		{"hops: too few", byHops, "192.0.2.1:1", hdr("X-Forwarded-For", client), "192.0.2.1"},
		{"hops: malformed there", byHops, "192.0.2.1:1", hdr("X-Forwarded-For", "6.6.6.6, nope, 192.0.2.2"), "192.0.2.1"},

		// Single-address headers.
		{"x-real-ip from a trusted peer", byRealIP, proxy, hdr("X-Real-IP", client, "X-Forwarded-For", "6.6.6.6"), client},
		{"x-real-ip from an untrusted peer", byRealIP, "203.0.113.7:1", hdr("X-Real-IP", client), "203.0.113.7"},
		{"x-real-ip with a list falls back to the chain", byRealIP, proxy, hdr("X-Real-IP", "6.6.6.6, 7.7.7.7", "X-Forwarded-For", client), client},
		{"x-real-ip garbage, no chain", byRealIP, proxy, hdr("X-Real-IP", "nope"), "10.0.0.1"},
		{"x-real-ip last line", byRealIP, proxy, hdr("X-Real-IP", "6.6.6.6", "X-Real-IP", client), client},
		{"cf-connecting-ip not enabled", byCIDR, proxy, hdr("CF-Connecting-IP", "6.6.6.6"), "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := identify.New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := core.Request{RemoteAddr: tc.remote}
			if tc.header != nil {
				r.Header = tc.header
			}
			start := time.Now()
			id, err := x.Identify(t.Context(), r)
			if err != nil {
				t.Fatalf("Identify: %v", err)
			}
			if got := id; got.Kind != core.KindIP || got.Value != tc.want {
				t.Errorf("Identify = %v, want ip:%s", got, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Identify took %v", d)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	lookup := identify.StaticAPIKeys(nil)
	for _, tc := range []struct {
		name string
		opts []identify.Option
		want string
	}{
		{"bad proxy", []identify.Option{identify.WithTrustedProxies("10.0.0.0/33")}, `trusted proxy "10.0.0.0/33"`},
		{"zone in proxy", []identify.Option{identify.WithTrustedProxies("fe80::1%eth0")}, "trusted proxy"},
		{"zero hops", []identify.Option{identify.WithTrustedHops(0)}, "at least 1"},
		{"hops and proxies", []identify.Option{identify.WithTrustedHops(1), identify.WithTrustedProxies("10.0.0.1")}, "exclusive"},
		{"header without trust", []identify.Option{identify.WithForwardedHeader("Forwarded")}, "no proxy would vouch"},
		{"unknown header", []identify.Option{identify.WithTrustedHops(1), identify.WithForwardedHeader("X-Client")}, "want"},
		{"real ip without proxies", []identify.Option{identify.WithTrustedHops(1), identify.WithClientIPHeader("X-Real-IP")}, "needs WithTrustedProxies"},
		{"real ip is a list header", []identify.Option{identify.WithTrustedProxies("10.0.0.1"), identify.WithClientIPHeader("x-forwarded-for")}, "list header"},
		{"ipv4 prefix", []identify.Option{identify.WithIPv4Prefix(33)}, "IPv4 prefix"},
		{"ipv6 prefix", []identify.Option{identify.WithIPv6Prefix(-1)}, "IPv6 prefix"},
		{"order kind", []identify.Option{identify.WithOrder(core.KindIP)}, "order[0]"},
		{"order twice", []identify.Option{identify.WithOrder(core.KindUser, core.KindUser)}, "listed twice"},
		{"api key without header", []identify.Option{identify.WithAPIKeys("", lookup)}, "WithAPIKeys"},
		{"api key without lookup", []identify.Option{identify.WithAPIKeys("X-API-Key", nil)}, "WithAPIKeys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identify.New(tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "identify: ") {
				t.Errorf("New() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
