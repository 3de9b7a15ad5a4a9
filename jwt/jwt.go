package sluicejwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
)

// MaxTokenSize is the longest token read, in bytes; longer ones are
// rejected without parsing.
const MaxTokenSize = 8 << 10

// noExpiryTTL is how long a token without exp stays cached (WithoutExpiry).
const noExpiryTTL = 5 * time.Minute

// Errors Verify wraps, for tests and logs. A token that fails to verify for
// any reason identifies nobody.
var (
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("sluicejwt: no token")
	// ErrTokenTooLarge: the token is longer than MaxTokenSize.
	ErrTokenTooLarge = errors.New("sluicejwt: token too large")
	// ErrNoSubject: the token verified but its subject claim is missing,
	// empty or not a string.
	ErrNoSubject = errors.New("sluicejwt: no subject")
)

// Verifier identifies the users of requests by their verified JWT. It is an
// identify.Source: pass it to identify.WithUser. Create one with [New].
type Verifier struct {
	cfg    config
	parser *jwt.Parser
	lax    *jwt.Parser // for WithUnverifiedSubject
	algs   []string
	cache  *cache
}

var _ identify.Source = (*Verifier)(nil)

// New returns a Verifier configured by opts. At least one key is required,
// unless WithUnverifiedSubject is set. It returns an error, joining every
// problem found, if the options are invalid.
func New(opts ...Option) (*Verifier, error) {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: c, cache: newCache(c.cacheSize)}
	// The valid methods: the requested ones, or every one a key can
	// verify, and never one no key can verify.
	for _, k := range c.keys {
		for _, a := range k.algs {
			if !slices.Contains(v.algs, a) && (len(c.algs) == 0 || slices.Contains(c.algs, a)) {
				v.algs = append(v.algs, a)
			}
		}
	}
	if len(c.keys) > 0 && len(v.algs) == 0 {
		return nil, fmt.Errorf("sluicejwt: no configured key can verify the algorithms %v", c.algs)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.leeway),
		jwt.WithTimeFunc(c.clock.Now),
	}
	if !c.noExpiry {
		popts = append(popts, jwt.WithExpirationRequired())
	}
	if c.issuer != "" {
		popts = append(popts, jwt.WithIssuer(c.issuer))
	}
	if len(c.audience) > 0 {
		popts = append(popts, jwt.WithAudience(c.audience...))
	}
	v.parser = jwt.NewParser(popts...)
	if c.unverified {
		v.lax = jwt.NewParser()
	}
	return v, nil
}

// Identify returns the user of r's verified token, as a core.KindUser
// identity with the tier claim as its tier. It reports false for a request
// without a valid token, which is then identified by what comes next in
// the identifier's order (see package identify): anonymous, by IP address.
// With WithUnverifiedSubject, a token that does not verify is keyed by its
// subject as a core.KindUnverified identity instead.
func (v *Verifier) Identify(_ context.Context, r core.Request) (core.Identity, bool) {
	token := v.Token(r)
	if token == "" {
		return core.Identity{}, false
	}
	id, err := v.Verify(token)
	if err == nil {
		return id, true
	}
	if v.lax != nil && len(token) <= MaxTokenSize {
		return v.unverifiedSubject(token)
	}
	return core.Identity{}, false
}

// Token returns the token r carries: the header's (WithHeader), or the
// cookie's (WithCookie) when the header has none; "" when there is none.
func (v *Verifier) Token(r core.Request) string {
	if r.Header == nil {
		return ""
	}
	if t := headerToken(r.Header.Get(v.cfg.header), v.cfg.header == "Authorization"); t != "" {
		return t
	}
	if v.cfg.cookie == "" {
		return ""
	}
	for _, line := range r.Header.Values("Cookie") {
		cookies, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cookies {
			if c.Name == v.cfg.cookie && c.Value != "" {
				return c.Value
			}
		}
	}
	return ""
}

// headerToken extracts the token of a header value: "Bearer <token>" (the
// scheme in any case), or, unless bearerOnly, the bare value.
func headerToken(v string, bearerOnly bool) string {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	if bearerOnly || strings.ContainsAny(v, " \t") {
		return ""
	}
	return v
}

// Verify checks a token's signature and claims and returns its user. The
// error says why a token was refused; Identify discards it.
func (v *Verifier) Verify(token string) (core.Identity, error) {
	if token == "" {
		return core.Identity{}, ErrNoToken
	}
	if len(token) > MaxTokenSize {
		return core.Identity{}, ErrTokenTooLarge
	}
	if len(v.cfg.keys) == 0 {
		return core.Identity{}, errors.New("sluicejwt: no key configured")
	}
	now := v.cfg.clock.Now()
	if v.cache != nil {
		if id, ok := v.cache.get(token, now); ok {
			return id, nil
		}
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return core.Identity{}, fmt.Errorf("sluicejwt: %w", err)
	}
	sub, ok := claimString(claims[v.cfg.subject])
	if !ok {
		return core.Identity{}, ErrNoSubject
	}
	tier, _ := claimString(claims[v.cfg.tier])
	id := core.Identity{Kind: core.KindUser, Value: sub, Tier: tier}
	if v.cache != nil {
		expires := now.Add(noExpiryTTL)
		if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
			expires = exp.Time
		}
		v.cache.put(token, id, now, expires)
	}
	return id, nil
}

// keyFor returns the keys that may verify a token: those whose type the
// token's algorithm is for (so an HMAC algorithm never sees a public key),
// narrowed by the token's "kid" when some key has that ID.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	var byKid, anyKid []jwt.VerificationKey
	for _, k := range v.cfg.keys {
		if !slices.Contains(k.algs, alg) {
			continue
		}
		if kid != "" && k.kid == kid {
			byKid = append(byKid, k.pub)
		}
		if kid == "" || k.kid == "" {
			anyKid = append(anyKid, k.pub)
		}
	}
	if len(byKid) > 0 {
		return jwt.VerificationKeySet{Keys: byKid}, nil
	}
	if len(anyKid) > 0 {
		return jwt.VerificationKeySet{Keys: anyKid}, nil
	}
	return nil, fmt.Errorf("no key for algorithm %q and key ID %q", alg, kid)
}

// unverifiedSubject reads the subject of a token without verifying it.
func (v *Verifier) unverifiedSubject(token string) (core.Identity, bool) {
	claims := jwt.MapClaims{}
	if _, _, err := v.lax.ParseUnverified(token, claims); err != nil {
		return core.Identity{}, false
	}
	sub, ok := claimString(claims[v.cfg.subject])
	if !ok {
		return core.Identity{}, false
	}
	return core.Identity{Kind: core.KindUnverified, Value: sub, Tier: "anonymous"}, true
}

// claimString returns a claim as a string: a non-empty string, or a whole
// number (some issuers use numeric subjects).
func claimString(c any) (string, bool) {
	switch c := c.(type) {
	case string:
		return c, c != ""
	case float64:
		if c == math.Trunc(c) && math.Abs(c) < 1<<53 {
			return strconv.FormatInt(int64(c), 10), true
		}
	}
	return "", false
}
