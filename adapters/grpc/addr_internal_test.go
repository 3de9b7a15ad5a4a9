package sluicegrpc

import (
	"net"
	"testing"
)

// TestRemoteAddrCache: a TCP peer's address is formatted once and then
// read from the cache, which never holds more than maxAddrs addresses, and
// other addresses are formatted every time.
func TestRemoteAddrCache(t *testing.T) {
	i := &interceptor{}
	a := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 51234}
	if got := i.remoteAddr(a); got != "192.0.2.7:51234" {
		t.Fatalf("remoteAddr = %q, want 192.0.2.7:51234", got)
	}
	if got := testing.AllocsPerRun(100, func() { i.remoteAddr(a) }); got != 0 {
		t.Errorf("remoteAddr of a cached address allocates %v times, want 0", got)
	}
	for n := range 3 * maxAddrs {
		b := &net.TCPAddr{IP: net.IPv6loopback, Port: n}
		if got, want := i.remoteAddr(b), b.String(); got != want {
			t.Fatalf("remoteAddr = %q, want %q", got, want)
		}
		if c := i.naddrs.Load(); c > maxAddrs {
			t.Fatalf("the cache counts %d addresses, want at most %d", c, maxAddrs)
		}
	}
	entries := 0
	i.addrs.Range(func(any, any) bool { entries++; return true })
	if entries > maxAddrs || entries == 0 {
		t.Errorf("the cache holds %d addresses, want 1 to %d", entries, maxAddrs)
	}
	u := &net.UnixAddr{Name: "/tmp/s", Net: "unix"}
	if got := i.remoteAddr(u); got != "/tmp/s" {
		t.Errorf("remoteAddr(unix) = %q, want /tmp/s", got)
	}
}
