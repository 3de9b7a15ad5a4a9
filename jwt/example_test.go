package sluicejwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	v, err := sluicejwt.New(sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: secret}),
		sluicejwt.WithIssuer("auth.example.com"), sluicejwt.WithClock(clk))
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

func ExampleWithKeys() {
	// An identity provider publishing its key set, as Auth0, Keycloak,
	// Cognito and Entra ID do at a well-known URL.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	coord := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pub, _ := key.PublicKey.ECDH()
	xy := pub.Bytes()[1:] // the uncompressed point: 0x04, x, y
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"2030-01","x":%q,"y":%q}]}`,
			coord(xy[:32]), coord(xy[32:]))
	}))
	defer idp.Close()

	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	v, err := sluicejwt.New(
		sluicejwt.WithKeys(sluicejwt.Keys{JWKSURL: idp.URL + "/.well-known/jwks.json"}),
		sluicejwt.WithIssuer("https://auth.example.com/"), sluicejwt.WithClock(clk))
	if err != nil {
		panic(err)
	}
	sign := func(kid string) string {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"sub": "alice", "iss": "https://auth.example.com/", "exp": clk.Now().Add(time.Hour).Unix(),
		})
		t.Header["kid"] = kid
		s, _ := t.SignedString(key)
		return s
	}
	for _, kid := range []string{"2030-01", "forged"} {
		req := core.Request{Header: http.Header{"Authorization": {"Bearer " + sign(kid)}}}
		id, ok := v.Identify(context.Background(), req)
		fmt.Printf("kid %s: %q %v\n", kid, id.Value, ok)
	}
	// Output:
	// kid 2030-01: "alice" true
	// kid forged: "" false
}
