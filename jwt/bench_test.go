package sluicejwt_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

// BenchmarkDecideRS256 measures a whole decision for a request carrying an
// RS256 token: with the verified-token cache (the default) and without it,
// when every request pays for parsing and an RSA-2048 verification; with
// the key from PEM and from a key set fetched from a URL.
func BenchmarkDecideRS256(b *testing.B) {
	k := keys()
	tok := sign(b, jwt.SigningMethodRS256, k.rsa, claims(), "kid", "one")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey)))
	}))
	b.Cleanup(srv.Close)
	pemKeys := sluicejwt.Keys{PEM: publicPEM(b, &k.rsa.PublicKey)}
	urlKeys := sluicejwt.Keys{JWKSURL: srv.URL}
	for _, bc := range []struct {
		name  string
		keys  sluicejwt.Keys
		cache int
	}{{"cached", pemKeys, 10_000}, {"uncached", pemKeys, 0}, {"jwks_url/cached", urlKeys, 10_000}, {"jwks_url/uncached", urlKeys, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			clk := clock.NewFake(epoch)
			v, err := sluicejwt.New(sluicejwt.WithClock(clk), sluicejwt.WithKeys(bc.keys), sluicejwt.WithCacheSize(bc.cache))
			if err != nil {
				b.Fatal(err)
			}
			id, err := identify.New(identify.WithUser(v))
			if err != nil {
				b.Fatal(err)
			}
			lim, err := core.New(core.WithClock(clk), core.WithIdentifier(id), core.WithDefault(core.PerSecond(1<<40)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { lim.Close() })
			req := core.Request{Method: "GET", Path: "/api/items", RemoteAddr: "203.0.113.7:1",
				Header: http.Header{"Authorization": {"Bearer " + tok}}}
			b.ReportAllocs()
			for b.Loop() {
				d, err := lim.Decide(b.Context(), req)
				if err != nil || d.Client.Kind != core.KindUser {
					b.Fatalf("%v as %v", err, d.Client)
				}
			}
		})
	}
}
