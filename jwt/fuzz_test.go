package sluicejwt_test

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

// FuzzToken feeds arbitrary Authorization and Cookie headers to a
// Verifier: it must never panic, and it may identify somebody only from a
// token that was validly signed (one of the seeds).
func FuzzToken(f *testing.F) {
	k := keys()
	valid := map[string]bool{}
	for _, c := range []jwt.MapClaims{claims(), claims(func(c jwt.MapClaims) { c["sub"] = "bob" })} {
		valid[sign(f, jwt.SigningMethodRS256, k.rsa, c)] = true
		valid[sign(f, jwt.SigningMethodHS256, k.hmac, c)] = true
	}
	for tok := range valid {
		f.Add("Bearer "+tok, "")
		f.Add("", "session="+tok)
	}
	f.Add("Bearer "+sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()), "")
	f.Add("Bearer "+sign(f, jwt.SigningMethodHS256, publicPEM(f, &k.rsa.PublicKey), claims()), "session=x")
	f.Add("bearer a.b.c", "session=\"a.b.c\"")
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", ";;=")
	v := newVerifier(f, sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(f, &k.rsa.PublicKey), HMACSecret: k.hmac}), sluicejwt.WithCookie("session"))
	f.Fuzz(func(t *testing.T, auth, cookie string) {
		r := core.Request{Header: http.Header{"Authorization": {auth}, "Cookie": {cookie}}}
		id, ok := v.Identify(t.Context(), r)
		if !ok {
			return
		}
		if tok := sluicejwt.Token(v, r); !valid[tok] {
			t.Fatalf("identified %v from a token that was never signed: %q", id, tok)
		}
		if id.Kind != core.KindUser || (id.Value != "alice" && id.Value != "bob") {
			t.Fatalf("identified %v", id)
		}
	})
}
