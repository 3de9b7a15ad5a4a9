package sluicejwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid, alg string, pub *rsa.PublicKey) map[string]string {
	m := map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
		"x": b64(pub.X.FillBytes(make([]byte, 32))), "y": b64(pub.Y.FillBytes(make([]byte, 32)))}
}

func jwks(keys ...map[string]string) string {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// provider is an identity provider's JWKS endpoint whose answer a test
// changes: a key set, an error status, or garbage.
type provider struct {
	srv     *httptest.Server
	mu      sync.Mutex
	status  int
	body    string
	fetches atomic.Int64
}

func newProvider(t *testing.T, body string) *provider {
	p := &provider{status: http.StatusOK, body: body}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		status, body := p.status, p.body
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) serve(status int, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.body = status, body
}

// logBuffer collects log output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// remoteVerifier returns a Verifier on p's key set, refreshed hourly and
// at most once a minute, on a fake clock.
func remoteVerifier(t *testing.T, p *provider, clk clock.Fake, opts ...sluicejwt.Option) *sluicejwt.Verifier {
	t.Helper()
	v, err := sluicejwt.New(append([]sluicejwt.Option{sluicejwt.WithClock(clk), sluicejwt.WithKeys(sluicejwt.Keys{
		JWKSURL: p.srv.URL + "/.well-known/jwks.json", JWKSRefresh: time.Hour, JWKSMinRefresh: time.Minute,
	})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sluicejwt.WaitJWKS(v) })
	return v
}

// userToken signs an RS256 token for sub with key, naming kid, valid for
// an hour from clk's time.
func userToken(t *testing.T, clk clock.Clock, key *rsa.PrivateKey, kid, sub string) string {
	now := clk.Now()
	return sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) {
		c["sub"], c["iat"], c["nbf"], c["exp"] = sub, now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
	}), "kid", kid)
}

func identifies(t *testing.T, v *sluicejwt.Verifier, token string) bool {
	t.Helper()
	_, ok := v.Identify(t.Context(), bearer(token))
	return ok
}

// TestJWKSURLRotation follows a provider through a key rotation: the set
// is fetched when the first token needs it, a new key ID is fetched at
// once (at most once a minute), made-up key IDs cannot make the Verifier
// fetch more often than that, and the hourly refresh drops a retired key,
// tokens cached under it included.
func TestJWKSURLRotation(t *testing.T) {
	k := keys()
	p := newProvider(t, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey)))
	clk := clock.NewFake(epoch)
	v := remoteVerifier(t, p, clk)
	if got := p.fetches.Load(); got != 0 {
		t.Fatalf("New fetched the key set %d times, want 0", got)
	}
	cached := userToken(t, clk, k.rsa, "one", "alice")
	if !identifies(t, v, cached) {
		t.Fatal("a token signed by the published key was refused")
	}
	if !identifies(t, v, userToken(t, clk, k.rsa, "one", "bob")) {
		t.Fatal("a second token was refused")
	}
	if got := p.fetches.Load(); got != 1 {
		t.Fatalf("%d fetches for two tokens of one key, want 1", got)
	}

	// The provider rotates: it publishes key two and signs with it.
	p.serve(http.StatusOK, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey), rsaJWK("two", "RS256", &k.rsa2.PublicKey)))
	newKey := userToken(t, clk, k.rsa2, "two", "carol")
	if identifies(t, v, newKey) {
		t.Fatal("key two verified before any fetch could have found it")
	}
	if got := p.fetches.Load(); got != 1 {
		t.Fatalf("an unknown key ID fetched within a minute of the last fetch (%d fetches)", got)
	}
	clk.Advance(time.Minute)
	if !identifies(t, v, newKey) {
		t.Fatal("key two refused after the minute: an unknown key ID should fetch the set")
	}
	if got := p.fetches.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}

	// Forged key IDs: at most one fetch a minute, however many.
	for round := range 3 {
		for i := range 50 {
			if identifies(t, v, userToken(t, clk, k.rsa2, fmt.Sprintf("forged-%d-%d", round, i), "mallory")) {
				t.Fatal("a token with a made-up key ID was accepted")
			}
		}
		if got, want := p.fetches.Load(), int64(2+round); got != want {
			t.Fatalf("round %d: %d fetches after 50 made-up key IDs, want %d", round, got, want)
		}
		clk.Advance(time.Minute)
	}

	// Key one retires. The hourly refresh runs in the background while
	// the set in use keeps verifying.
	p.serve(http.StatusOK, jwks(rsaJWK("two", "RS256", &k.rsa2.PublicKey)))
	clk.Advance(time.Hour)
	before := p.fetches.Load()
	if !identifies(t, v, userToken(t, clk, k.rsa, "one", "dave")) {
		t.Fatal("the set in use stopped verifying before the refresh ended")
	}
	sluicejwt.WaitJWKS(v)
	if got := p.fetches.Load(); got != before+1 {
		t.Fatalf("%d fetches after the refresh, want %d", got, before+1)
	}
	if identifies(t, v, userToken(t, clk, k.rsa, "one", "erin")) {
		t.Error("a token of the retired key was accepted after the refresh")
	}
	if identifies(t, v, cached) {
		t.Error("a cached token of the retired key was accepted after the refresh")
	}
	if !identifies(t, v, userToken(t, clk, k.rsa2, "two", "frank")) {
		t.Error("key two refused after the refresh")
	}
}

// TestJWKSProviderFailing: while the provider is down, answers errors or
// sends garbage, the last good set keeps verifying, each failure is
// logged, and retries come at most once a minute.
func TestJWKSProviderFailing(t *testing.T) {
	k := keys()
	good := jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey))
	p := newProvider(t, good)
	clk := clock.NewFake(epoch)
	var logs logBuffer
	v := remoteVerifier(t, p, clk, sluicejwt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if !identifies(t, v, userToken(t, clk, k.rsa, "one", "alice")) {
		t.Fatal("valid token refused")
	}
	clk.Advance(time.Hour) // the set is due for a refresh from now on
	for i, bad := range []struct {
		name   string
		status int
		body   string
	}{
		{"down", http.StatusServiceUnavailable, "upstream connect error"},
		{"not found", http.StatusNotFound, good},
		{"HTML", http.StatusOK, "<html><body>Please log in</body></html>"},
		{"truncated", http.StatusOK, good[:len(good)/2]},
		{"empty set", http.StatusOK, `{"keys":[]}`},
		{"no keys member", http.StatusOK, `{}`},
		{"symmetric key only", http.StatusOK, `{"keys":[{"kty":"oct","kid":"one","k":"` + b64(k.hmac) + `"}]}`},
		{"broken key", http.StatusOK, `{"keys":[{"kty":"RSA","kid":"one","n":"AQAB"}]}`},
		{"too large", http.StatusOK, `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`},
	} {
		p.serve(bad.status, bad.body)
		if !identifies(t, v, userToken(t, clk, k.rsa, "one", fmt.Sprintf("user-%d", i))) {
			t.Fatalf("%s: the last good set stopped verifying", bad.name)
		}
		sluicejwt.WaitJWKS(v)
		if got, want := p.fetches.Load(), int64(2+i); got != want {
			t.Fatalf("%s: %d fetches, want %d", bad.name, got, want)
		}
		if !identifies(t, v, userToken(t, clk, k.rsa, "one", fmt.Sprintf("user-%d-again", i))) {
			t.Fatalf("%s: a failed fetch dropped the last good set", bad.name)
		}
		if got, want := sluicejwt.WaitJWKS(v), 2+i; got != want {
			t.Fatalf("%s: retried within the minute (%d fetches, want %d)", bad.name, got, want)
		}
		clk.Advance(time.Minute)
	}
	if n := strings.Count(logs.String(), "JWKS fetch failed"); n != 9 {
		t.Errorf("%d failed fetches logged, want 9:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "keys_age=1h") {
		t.Errorf("the log does not say how old the set in use is:\n%s", logs.String())
	}

	// The provider recovers with a new key: the pending refresh finds it.
	p.serve(http.StatusOK, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey), rsaJWK("two", "RS256", &k.rsa2.PublicKey)))
	identifies(t, v, userToken(t, clk, k.rsa, "one", "zoe"))
	sluicejwt.WaitJWKS(v)
	fetches := p.fetches.Load()
	if !identifies(t, v, userToken(t, clk, k.rsa2, "two", "yann")) {
		t.Error("the new key refused after the provider recovered")
	}
	if got := p.fetches.Load(); got != fetches {
		t.Errorf("the new key fetched again (%d fetches, want %d)", got, fetches)
	}
}

// TestJWKSProviderDownAtStart: with no set yet, tokens identify nobody
// (the requests count as anonymous clients) until a fetch succeeds, and
// fetches are still at most a minute apart.
func TestJWKSProviderDownAtStart(t *testing.T) {
	k := keys()
	p := newProvider(t, "")
	p.serve(http.StatusBadGateway, "")
	clk := clock.NewFake(epoch)
	v := remoteVerifier(t, p, clk)
	tok := userToken(t, clk, k.rsa, "one", "alice")
	for range 10 {
		if identifies(t, v, tok) {
			t.Fatal("a token verified without any key set")
		}
	}
	if got := p.fetches.Load(); got != 1 {
		t.Fatalf("%d fetches within a minute, want 1", got)
	}
	p.serve(http.StatusOK, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey)))
	clk.Advance(time.Minute)
	if !identifies(t, v, tok) {
		t.Fatal("token refused once the provider answered")
	}

	// Nothing listens at all.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	v, err := sluicejwt.New(sluicejwt.WithClock(clk), sluicejwt.WithKeys(sluicejwt.Keys{JWKSURL: url}))
	if err != nil {
		t.Fatal(err)
	}
	if identifies(t, v, tok) {
		t.Fatal("a token verified with the provider unreachable")
	}
}

// TestJWKSNoAlgorithmConfusion: a fetched key verifies only the
// algorithms of its type and its "alg"; a symmetric key published in the
// set verifies nothing, and neither does "none".
func TestJWKSNoAlgorithmConfusion(t *testing.T) {
	k := keys()
	secret := []byte("a shared secret published by mistake")
	p := newProvider(t, jwks(
		rsaJWK("rsa", "RS256", &k.rsa.PublicKey),
		rsaJWK("rsa-any", "", &k.rsa2.PublicKey),
		ecJWK("ec", &k.ec.PublicKey),
		map[string]string{"kty": "oct", "kid": "hs", "alg": "HS256", "k": b64(secret)},
	))
	clk := clock.NewFake(epoch)
	v := remoteVerifier(t, p, clk)
	// With a secret of its own, HS256 is an algorithm this one accepts.
	withSecret := remoteVerifier(t, p, clk, sluicejwt.WithKeys(sluicejwt.Keys{HMACSecret: k.hmac}))
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"HS256 with the configured secret", sign(t, jwt.SigningMethodHS256, k.hmac, claims()), true},
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "kid", "rsa"), true},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, claims(), "kid", "ec"), true},
		{"PS256 on a key without alg", sign(t, jwt.SigningMethodPS256, k.rsa2, claims(), "kid", "rsa-any"), true},
		{"PS256 on a key marked RS256", sign(t, jwt.SigningMethodPS256, k.rsa, claims(), "kid", "rsa"), false},
		{"HS256 with the published symmetric key", sign(t, jwt.SigningMethodHS256, secret, claims(), "kid", "hs"), false},
		{"HS256 with the RSA public key as secret", sign(t, jwt.SigningMethodHS256, rsaPEM, claims(), "kid", "rsa"), false},
		{"HS256 with the JWK's modulus as secret", sign(t, jwt.SigningMethodHS256, k.rsa.N.Bytes(), claims(), "kid", "rsa"), false},
		{"ES256 naming the RSA key", sign(t, jwt.SigningMethodES256, k.ec, claims(), "kid", "rsa"), false},
		{"RS256 naming the EC key", sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "kid", "ec"), false},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(), "kid", "rsa"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := identifies(t, withSecret, tc.token); got != tc.ok {
				t.Errorf("Identify ok = %v, want %v", got, tc.ok)
			}
			if got := identifies(t, v, tc.token); got != (tc.ok && !strings.HasPrefix(tc.name, "HS256")) {
				t.Errorf("without a secret: Identify ok = %v", got)
			}
		})
	}
}

// TestJWKSWaitEndsWithContext: a request waiting for the first fetch gives
// up when its context ends, and the fetch still completes for the next.
func TestJWKSWaitEndsWithContext(t *testing.T) {
	k := keys()
	release := make(chan struct{})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		fmt.Fprint(w, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey)))
	}))
	defer srv.Close()
	clk := clock.NewFake(epoch)
	v, err := sluicejwt.New(sluicejwt.WithClock(clk), sluicejwt.WithKeys(sluicejwt.Keys{JWKSURL: srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tok := userToken(t, clk, k.rsa, "one", "alice")
	if _, ok := v.Identify(ctx, bearer(tok)); ok {
		t.Fatal("identified without a key set")
	}
	close(release)
	sluicejwt.WaitJWKS(v)
	if !identifies(t, v, tok) {
		t.Fatal("the fetch the canceled request started did not serve the next one")
	}
	if got := fetches.Load(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

// TestJWKSConcurrent shares a Verifier on a fetched set between
// goroutines while it starts, rotates and refreshes (run under -race).
func TestJWKSConcurrent(t *testing.T) {
	k := keys()
	p := newProvider(t, jwks(rsaJWK("one", "RS256", &k.rsa.PublicKey), rsaJWK("two", "RS256", &k.rsa2.PublicKey)))
	clk := clock.NewFake(epoch)
	v := remoteVerifier(t, p, clk, sluicejwt.WithCacheSize(8))
	// Tokens valid all day, so that the clock moving under the
	// goroutines expires none.
	tokens := map[string]string{}
	for i := range 10 {
		for kid, key := range map[string]*rsa.PrivateKey{"one": k.rsa, "two": k.rsa2} {
			sub := fmt.Sprintf("u%d", i)
			tokens[kid+sub] = sign(t, jwt.SigningMethodRS256, key, claims(func(c jwt.MapClaims) {
				c["sub"], c["exp"] = sub, epoch.Add(24*time.Hour).Unix()
			}), "kid", kid)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 40 {
				kid, sub := "one", fmt.Sprintf("u%d", (g+i)%10)
				if i%2 == 1 {
					kid = "two"
				}
				if id, ok := v.Identify(t.Context(), bearer(tokens[kid+sub])); !ok || id != (core.Identity{Kind: core.KindUser, Value: sub, Tier: "premium"}) {
					t.Errorf("goroutine %d request %d: %v %v", g, i, id, ok)
					return
				}
			}
		})
	}
	for range 3 {
		clk.Advance(time.Hour)
	}
	wg.Wait()
}

func TestJWKSURLValidation(t *testing.T) {
	for _, tc := range []struct {
		keys sluicejwt.Keys
		want string // "" when valid
	}{
		{sluicejwt.Keys{JWKSURL: "https://example.eu.auth0.com/.well-known/jwks.json"}, ""},
		{sluicejwt.Keys{JWKSURL: "http://127.0.0.1:8080/realms/x/protocol/openid-connect/certs"}, ""},
		{sluicejwt.Keys{JWKSURL: "http://localhost:8080/jwks"}, ""},
		{sluicejwt.Keys{JWKSURL: "http://[::1]:8080/jwks"}, ""},
		{sluicejwt.Keys{JWKSURL: "http://auth.example.com/jwks"}, "want https"},
		{sluicejwt.Keys{JWKSURL: "ftp://auth.example.com/jwks"}, "want https"},
		{sluicejwt.Keys{JWKSURL: "auth.example.com/jwks"}, "no host"},
		{sluicejwt.Keys{JWKSURL: "https://auth.example.com/jwks", JWKSRefresh: -time.Second}, "must not be negative"},
	} {
		_, err := sluicejwt.New(sluicejwt.WithKeys(tc.keys))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.keys, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sluicejwt: ")):
			t.Errorf("%+v: error %v, want one with %q", tc.keys, err, tc.want)
		}
	}
}
