package sluicejwt_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

func ExampleNew() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	secret := []byte("an HMAC secret of at least 32 bytes")
	v, err := sluicejwt.New(sluicejwt.WithHMACSecret(secret), sluicejwt.WithIssuer("auth.example.com"), sluicejwt.WithClock(clk))
	if err != nil {
		panic(err)
	}
	id, err := identify.New(identify.WithUser(v))
	if err != nil {
		panic(err)
	}
	lim, err := core.New(core.WithIdentifier(id), core.WithClock(clk),
		core.WithDefault(core.PerMinute(10)),
		core.WithRules(core.Rule{Name: "premium", Tiers: []string{"premium"}, Limits: []core.Limit{core.PerMinute(1000)}}))
	if err != nil {
		panic(err)
	}
	defer lim.Close()

	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "tier": "premium", "iss": "auth.example.com", "exp": clk.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "tier": "premium", "iss": "auth.example.com", "exp": clk.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("somebody else's secret, 32+ bytes"))

	for _, tok := range []string{token, forged, ""} {
		req := core.Request{Method: "GET", Path: "/items", RemoteAddr: "203.0.113.7:51234",
			Header: http.Header{"Authorization": {"Bearer " + tok}}}
		d, _ := lim.Decide(context.Background(), req)
		fmt.Println(d.Client, d.Client.Tier, d.Rule, d.Limit)
	}
	// Output:
	// user:alice premium premium 1000
	// ip:203.0.113.7 anonymous default 10
	// ip:203.0.113.7 anonymous default 10
}

func ExampleWithUnverifiedSubject() {
	// Behind a gateway that verified the token already: key by its subject,
	// which never brings a tier.
	v, err := sluicejwt.New(sluicejwt.WithUnverifiedSubject())
	if err != nil {
		panic(err)
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "tier": "premium"}).
		SignedString([]byte("the gateway's secret, unknown here"))
	id, ok := v.Identify(context.Background(), core.Request{Header: http.Header{"Authorization": {"Bearer " + token}}})
	fmt.Println(id, ok, id.Tier)
	// Output:
	// unverified:alice true anonymous
}
