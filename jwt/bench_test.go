package sluicejwt_test

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

// BenchmarkDecideRS256 measures a whole decision for a request carrying an
// RS256 token: with the verified-token cache (the default) and without it,
// when every request pays for parsing and an RSA-2048 verification.
func BenchmarkDecideRS256(b *testing.B) {
	k := keys()
	tok := sign(b, jwt.SigningMethodRS256, k.rsa, claims())
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cached", 10_000}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			clk := clock.NewFake(epoch)
			v, err := sluicejwt.New(sluicejwt.WithClock(clk), sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(b, &k.rsa.PublicKey)}), sluicejwt.WithCacheSize(bc.cache))
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
