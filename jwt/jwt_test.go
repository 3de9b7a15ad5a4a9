package sluicejwt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testKeys are generated once per test binary.
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	hmac      []byte
}

var keys = sync.OnceValue(func() testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k testKeys
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.hmac = []byte("0123456789abcdef0123456789abcdef")
	return k
})

func publicPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims are valid claims for user alice in the premium tier at epoch.
func claims(edit ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice", "tier": "premium", "iss": "https://auth.example.com", "aud": "api",
		"iat": epoch.Add(-time.Minute).Unix(), "nbf": epoch.Add(-time.Minute).Unix(), "exp": epoch.Add(time.Hour).Unix(),
	}
	for _, e := range edit {
		e(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims, header ...string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for i := 0; i < len(header); i += 2 {
		tok.Header[header[i]] = header[i+1]
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, opts ...sluicejwt.Option) *sluicejwt.Verifier {
	t.Helper()
	v, err := sluicejwt.New(append([]sluicejwt.Option{sluicejwt.WithClock(clock.NewFake(epoch))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func bearer(token string) core.Request {
	return core.Request{RemoteAddr: "203.0.113.7:1", Header: http.Header{"Authorization": {"Bearer " + token}}}
}

func TestVerify(t *testing.T) {
	k := keys()
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	rsaOnly := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: rsaPEM}))
	allPEM := slices.Concat(rsaPEM, publicPEM(t, &k.ec.PublicKey), publicPEM(t, k.ed.Public()))
	all := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: allPEM, HMACSecret: k.hmac}))
	strict := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: rsaPEM}), sluicejwt.WithIssuer("https://auth.example.com"), sluicejwt.WithAudience("api"))
	lenient := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: rsaPEM}), sluicejwt.WithLeeway(time.Minute), sluicejwt.WithoutExpiry())
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims())
	valid := sign(t, jwt.SigningMethodRS256, k.rsa, claims())
	parts := strings.Split(valid, ".")
	forgedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","tier":"enterprise","exp":1999999999}`))
	alice := core.Identity{Kind: core.KindUser, Value: "alice", Tier: "premium"}
	for _, tc := range []struct {
		name  string
		v     *sluicejwt.Verifier
		token string
		want  core.Identity // zero: refused
	}{
		{"RS256", rsaOnly, valid, alice},
		{"PS256", rsaOnly, sign(t, jwt.SigningMethodPS256, k.rsa, claims()), alice},
		{"ES256", all, sign(t, jwt.SigningMethodES256, k.ec, claims()), alice},
		{"EdDSA", all, sign(t, jwt.SigningMethodEdDSA, k.ed, claims()), alice},
		{"HS256", all, sign(t, jwt.SigningMethodHS256, k.hmac, claims()), alice},
		{"RS256 among all keys", all, valid, alice},
		{"alg none", all, noneTok, core.Identity{}},
		{"alg none, signature stripped", rsaOnly, parts[0] + "." + parts[1] + ".", core.Identity{}},
		{"HS256 signed with the RSA public key", rsaOnly, sign(t, jwt.SigningMethodHS256, rsaPEM, claims()), core.Identity{}},
		{"HS256 signed with the RSA public key, HMAC configured", all, sign(t, jwt.SigningMethodHS256, rsaPEM, claims()), core.Identity{}},
		{"HS256 without an HMAC key", rsaOnly, sign(t, jwt.SigningMethodHS256, k.hmac, claims()), core.Identity{}},
		{"wrong RSA key", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa2, claims()), core.Identity{}},
		{"wrong HMAC secret", all, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claims()), core.Identity{}},
		{"forged payload", rsaOnly, parts[0] + "." + forgedPayload + "." + parts[2], core.Identity{}},
		{"expired", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["exp"] = epoch.Add(-time.Second).Unix() })), core.Identity{}},
		{"expired within leeway", lenient, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["exp"] = epoch.Add(-time.Second).Unix() })), alice},
		{"not yet valid", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["nbf"] = epoch.Add(time.Minute).Unix() })), core.Identity{}},
		{"issued in the future", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["iat"] = epoch.Add(time.Hour).Unix() })), core.Identity{}},
		{"no exp", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "exp") })), core.Identity{}},
		{"no exp when not required", lenient, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "exp") })), alice},
		{"issuer and audience", strict, valid, alice},
		{"wrong audience", strict, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), core.Identity{}},
		{"no audience", strict, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "aud") })), core.Identity{}},
		{"wrong issuer", strict, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), core.Identity{}},
		{"no subject", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "sub") })), core.Identity{}},
		{"subject not a string", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["sub"] = []int{1} })), core.Identity{}},
		{"numeric subject", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["sub"] = 42 })), core.Identity{Kind: core.KindUser, Value: "42", Tier: "premium"}},
		{"no tier", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { delete(c, "tier") })), core.Identity{Kind: core.KindUser, Value: "alice"}},
		{"garbage", rsaOnly, "not-a-token", core.Identity{}},
		{"three garbage parts", rsaOnly, "a.b.c", core.Identity{}},
		{"bad base64", rsaOnly, "!!!.???.***", core.Identity{}},
		{"json array header", rsaOnly, base64.RawURLEncoding.EncodeToString([]byte("[]")) + "." + parts[1] + "." + parts[2], core.Identity{}},
		{"too large", rsaOnly, valid + strings.Repeat("A", 8<<10), core.Identity{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2 { // the second round may be served by the cache
				got, ok := tc.v.Identify(t.Context(), bearer(tc.token))
				if ok != (tc.want != core.Identity{}) || got != tc.want {
					t.Fatalf("round %d: Identify = %v (tier %q), %v; want %v (tier %q)", round, got, got.Tier, ok, tc.want, tc.want.Tier)
				}
			}
		})
	}
}

func TestTokenSources(t *testing.T) {
	k := keys()
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims())
	pemKey := sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &k.rsa.PublicKey)})
	def := newVerifier(t, pemKey)
	custom := newVerifier(t, pemKey, sluicejwt.WithHeader("X-Access-Token"), sluicejwt.WithCookie("session"))
	for _, tc := range []struct {
		name   string
		v      *sluicejwt.Verifier
		header http.Header
		ok     bool
	}{
		{"bearer", def, http.Header{"Authorization": {"Bearer " + tok}}, true},
		{"scheme in any case", def, http.Header{"Authorization": {"bEaReR  " + tok + " "}}, true},
		{"no scheme", def, http.Header{"Authorization": {tok}}, false},
		{"basic", def, http.Header{"Authorization": {"Basic " + tok}}, false},
		{"empty", def, http.Header{"Authorization": {""}}, false},
		{"no header", def, http.Header{}, false},
		{"cookie not enabled", def, http.Header{"Cookie": {"session=" + tok}}, false},
		{"custom header, bare", custom, http.Header{"X-Access-Token": {tok}}, true},
		{"custom header, bearer", custom, http.Header{"X-Access-Token": {"Bearer " + tok}}, true},
		{"authorization ignored with a custom header", custom, http.Header{"Authorization": {"Bearer " + tok}}, false},
		{"cookie", custom, http.Header{"Cookie": {"a=1; session=" + tok}}, true},
		{"second cookie line", custom, http.Header{"Cookie": {"a=1", "session=" + tok}}, true},
		{"other cookie", custom, http.Header{"Cookie": {"sessions=" + tok}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := tc.v.Identify(t.Context(), core.Request{Header: tc.header})
			if ok != tc.ok {
				t.Errorf("Identify ok = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	k := keys()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	rsaJWK := func(kid string, pub *rsa.PublicKey) map[string]string {
		return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	}
	set, _ := json.Marshal(map[string]any{"keys": []any{
		rsaJWK("one", &k.rsa.PublicKey),
		rsaJWK("two", &k.rsa2.PublicKey),
		map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(k.ed.Public().(ed25519.PublicKey))},
		map[string]string{"kty": "RSA", "kid": "enc", "use": "enc", "n": b64(k.rsa.N.Bytes()), "e": "AQAB"},
	}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{JWKSFile: path}))
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"kid one", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "kid", "one"), true},
		{"kid two", sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "kid", "two"), true},
		{"no kid: any key", sign(t, jwt.SigningMethodRS256, k.rsa2, claims()), true},
		{"kid of another key", sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "kid", "one"), false},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "kid", "three"), false},
		{"key restricted to RS256", sign(t, jwt.SigningMethodPS256, k.rsa, claims(), "kid", "one"), false},
		{"ed25519", sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "kid", "ed"), true},
		{"HS256 with the JWK's modulus as secret", sign(t, jwt.SigningMethodHS256, k.rsa.N.Bytes(), claims(), "kid", "one"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := v.Identify(t.Context(), bearer(tc.token)); ok != tc.ok {
				t.Errorf("Identify ok = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	k := keys()
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.rsa)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tc := range []struct {
		name string
		opts []sluicejwt.Option
		want string
	}{
		{"no key", nil, "no key"},
		{"short secret", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: []byte("short")})}, "at least 32 bytes"},
		{"private key", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{PEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})})}, "never a private key"},
		{"not PEM", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{PEM: []byte("hello")})}, "no PEM public key"},
		{"small RSA key", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &small.PublicKey)})}, "2048 bits"},
		{"alg none", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: k.hmac}), sluicejwt.WithAlgorithms("none")}, `"none"`},
		{"algorithms no key verifies", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: k.hmac}), sluicejwt.WithAlgorithms("RS256")}, "no configured key"},
		{"bad JWKS", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{JWKS: []byte(`{"keys":[{"kty":"RSA"}]}`)})}, "JWKS key 0"},
		{"JWKS x5u", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{JWKS: []byte(`{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY","x5u":"https://example.com/x"}]}`)})}, "x5u"},
		{"missing JWKS file", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{JWKSFile: filepath.Join(t.TempDir(), "nope.json")})}, "JWKS file"},
		{"negative cache", []sluicejwt.Option{sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: k.hmac}), sluicejwt.WithCacheSize(-1)}, "cache size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sluicejwt.New(tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sluicejwt: ") {
				t.Errorf("New() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCacheUntilExpiry: a cached token stops identifying anyone when it
// expires, and a cached token never vouches for a different one.
func TestCacheUntilExpiry(t *testing.T) {
	k := keys()
	clk := clock.NewFake(epoch)
	v, err := sluicejwt.New(sluicejwt.WithClock(clk), sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &k.rsa.PublicKey)}))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["exp"] = epoch.Add(time.Minute).Unix() }))
	if _, ok := v.Identify(t.Context(), bearer(tok)); !ok {
		t.Fatal("valid token refused")
	}
	// One character changed in the middle of the signature, where each
	// carries six bits of it. (Replacing the last two with "AA", as this
	// test once did, left the signature's bytes unchanged 1 time in 256:
	// the last character carries only two bits.)
	b := []byte(tok)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	if _, ok := v.Identify(t.Context(), bearer(string(b))); ok {
		t.Error("a token differing in its signature was accepted after the original was cached")
	}
	clk.Advance(59 * time.Second)
	if _, ok := v.Identify(t.Context(), bearer(tok)); !ok {
		t.Error("cached token refused before its expiry")
	}
	clk.Advance(time.Second)
	if _, ok := v.Identify(t.Context(), bearer(tok)); ok {
		t.Error("cached token accepted at its expiry")
	}
}

func TestUnverifiedSubject(t *testing.T) {
	k := keys()
	v := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &k.rsa.PublicKey)}), sluicejwt.WithUnverifiedSubject())
	forged := sign(t, jwt.SigningMethodRS256, k.rsa2, claims(func(c jwt.MapClaims) { c["sub"] = "mallory"; c["tier"] = "premium" }))
	if got, ok := v.Identify(t.Context(), bearer(forged)); !ok || got != (core.Identity{Kind: core.KindUnverified, Value: "mallory", Tier: "anonymous"}) {
		t.Errorf("forged token: %v (tier %q), %v; want unverified mallory, anonymous", got, got.Tier, ok)
	}
	if got, ok := v.Identify(t.Context(), bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claims()))); !ok || got.Kind != core.KindUser || got.Tier != "premium" {
		t.Errorf("valid token: %v (tier %q), %v; want verified user in premium", got, got.Tier, ok)
	}
	if _, ok := v.Identify(t.Context(), bearer("garbage")); ok {
		t.Error("garbage identified somebody")
	}
	gateway := newVerifier(t, sluicejwt.WithUnverifiedSubject())
	if got, ok := gateway.Identify(t.Context(), bearer(forged)); !ok || got.Kind != core.KindUnverified || got.Tier != "anonymous" {
		t.Errorf("no keys: %v (tier %q), %v; want unverified, anonymous", got, got.Tier, ok)
	}
}

// TestLimiterNeverTrustsAnInvalidToken: a request with an invalid token is
// an anonymous client, keyed by IP: it cannot spend a user's quota, get a
// tier or a user's exemption.
func TestLimiterNeverTrustsAnInvalidToken(t *testing.T) {
	k := keys()
	v := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &k.rsa.PublicKey)}))
	id, err := identify.New(identify.WithUser(v), identify.WithExemptUsers("ops"))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := core.New(core.WithClock(clock.NewFake(epoch)), core.WithIdentifier(id),
		core.WithDefault(core.PerMinute(1)),
		core.WithRules(core.Rule{Name: "premium", Tiers: []string{"premium"}, Limits: []core.Limit{core.PerMinute(100)}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	forge := func(sub string) string {
		return sign(t, jwt.SigningMethodRS256, k.rsa2, claims(func(c jwt.MapClaims) { c["sub"] = sub }))
	}
	for i, tc := range []struct {
		token    string
		wantKind core.IdentityKind
		wantTier string
		want     core.Outcome
	}{
		{forge("alice"), core.KindIP, "anonymous", core.Allowed},
		{forge("alice"), core.KindIP, "anonymous", core.Denied},
		{sign(t, jwt.SigningMethodRS256, k.rsa, claims()), core.KindUser, "premium", core.Allowed}, // alice's counter is untouched
		{forge("ops"), core.KindIP, "anonymous", core.Denied},                                      // no exemption
		{sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["sub"] = "ops" })), core.KindUser, "premium", core.Exempt},
	} {
		d, err := lim.Decide(t.Context(), core.Request{Method: "GET", Path: "/", RemoteAddr: "203.0.113.7:1", Header: bearer(tc.token).Header})
		if err != nil || d.Outcome != tc.want || d.Client.Kind != tc.wantKind || d.Client.Tier != tc.wantTier {
			t.Errorf("request %d: %v as %v tier %q (%v); want %v as %v tier %q", i, d.Outcome, d.Client, d.Client.Tier, err, tc.want, tc.wantKind, tc.wantTier)
		}
	}
}

// TestConcurrentIdentify shares one Verifier and its cache between
// goroutines (run under -race).
func TestConcurrentIdentify(t *testing.T) {
	k := keys()
	v := newVerifier(t, sluicejwt.WithKeys(sluicejwt.Keys{PEM: publicPEM(t, &k.rsa.PublicKey)}), sluicejwt.WithCacheSize(4))
	var toks []string
	for i := range 8 {
		toks = append(toks, sign(t, jwt.SigningMethodRS256, k.rsa, claims(func(c jwt.MapClaims) { c["sub"] = string(rune('a' + i)) })))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				tok := toks[(g+i)%len(toks)]
				if id, ok := v.Identify(t.Context(), bearer(tok)); !ok || id.Value != string(rune('a'+(g+i)%len(toks))) {
					t.Errorf("goroutine %d request %d: %v %v", g, i, id, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}
