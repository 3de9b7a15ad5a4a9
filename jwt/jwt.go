package sluicejwt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// maxTokenSize is the longest token read, in bytes; longer ones are
// refused unread.
const maxTokenSize = 8 << 10

// noExpiryTTL is how long a token without exp stays cached (WithoutExpiry).
const noExpiryTTL = 5 * time.Minute

// errNoSubject: the token verified but its subject claim is missing, empty
// or not a string.
var errNoSubject = errors.New("sluicejwt: no subject")

// Verifier identifies the users of requests by their verified JWT. It is an
// identify.Source: pass it to identify.WithUser. Create one with [New].
type Verifier struct {
	cfg     config
	parser  *jwt.Parser
	lax     *jwt.Parser // for WithUnverifiedSubject
	algs    []string
	cache   *cache
	remotes []*remote
}

var _ identify.Source = (*Verifier)(nil)

// New returns a Verifier configured by opts. At least one key is required
// (WithKeys), unless WithUnverifiedSubject is set. It returns an error,
// joining every problem found, if the options are invalid. It does no
// I/O: a JWKSURL is fetched when the first token needs it.
func New(opts ...Option) (*Verifier, error) {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: c, cache: newCache(c.cacheSize), remotes: c.remotes}
	// The valid methods: the requested ones, or every one a key can
	// verify, and never one no key can verify. A fetched set may hold
	// any public key.
	for _, k := range c.keys {
		for _, a := range k.algs {
			if !slices.Contains(v.algs, a) && (len(c.algs) == 0 || slices.Contains(c.algs, a)) {
				v.algs = append(v.algs, a)
			}
		}
	}
	if len(c.remotes) > 0 {
		for _, a := range asymmetricAlgs {
			if !slices.Contains(v.algs, a) && (len(c.algs) == 0 || slices.Contains(c.algs, a)) {
				v.algs = append(v.algs, a)
			}
		}
	}
	if (len(c.keys) > 0 || len(c.remotes) > 0) && len(v.algs) == 0 {
		return nil, fmt.Errorf("sluicejwt: no configured key can verify the algorithms %v", c.algs)
	}
	for _, r := range v.remotes {
		r.clk, r.logger = c.clock, c.logger.With(slog.String("source", "sluicejwt"))
		if v.cache != nil {
			r.changed = v.cache.clear
		}
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
//
// With a JWKSURL, a token may wait for a fetch of the key set: the first
// one, or one for a key ID the set lacks (see Keys). ctx bounds that wait.
func (v *Verifier) Identify(ctx context.Context, r core.Request) (core.Identity, bool) {
	token := v.token(r)
	if token == "" {
		return core.Identity{}, false
	}
	id, err := v.verify(ctx, token)
	if err == nil {
		return id, true
	}
	if v.lax != nil && len(token) <= maxTokenSize {
		return v.unverifiedSubject(token)
	}
	return core.Identity{}, false
}

// token returns the token r carries: the header's (WithHeader), or the
// cookie's (WithCookie) when the header has none; "" when there is none.
func (v *Verifier) token(r core.Request) string {
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

// verify checks a token's signature and claims and returns its user. The
// error says why a token was refused; Identify discards it.
func (v *Verifier) verify(ctx context.Context, token string) (core.Identity, error) {
	if len(token) > maxTokenSize {
		return core.Identity{}, errors.New("sluicejwt: token too large")
	}
	if len(v.cfg.keys) == 0 && len(v.remotes) == 0 {
		return core.Identity{}, errors.New("sluicejwt: no key configured")
	}
	now := v.cfg.clock.Now()
	if v.cache != nil {
		if id, ok := v.cache.get(token, now); ok {
			return id, nil
		}
	}
	claims := jwt.MapClaims{}
	keyFor := func(t *jwt.Token) (any, error) { return v.keyFor(ctx, t) }
	if _, err := v.parser.ParseWithClaims(token, claims, keyFor); err != nil {
		return core.Identity{}, fmt.Errorf("sluicejwt: %w", err)
	}
	sub, ok := claimString(claims[v.cfg.subject])
	if !ok {
		return core.Identity{}, errNoSubject
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
// narrowed by the token's "kid" when some key has that ID. A kid that no
// key has makes the fetched sets refresh first (see remote.refresh).
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	keys := v.cfg.keys
	if len(v.remotes) > 0 {
		fetched := make([][]key, len(v.remotes))
		for i, r := range v.remotes {
			fetched[i] = r.current(ctx)
		}
		if kid != "" && !hasKID(keys, kid) && !slices.ContainsFunc(fetched, func(ks []key) bool { return hasKID(ks, kid) }) {
			for i, r := range v.remotes {
				fetched[i] = r.refresh(ctx)
			}
		}
		keys = slices.Concat(append([][]key{keys}, fetched...)...)
	}
	var byKid, anyKid []jwt.VerificationKey
	for _, k := range keys {
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

func hasKID(keys []key, kid string) bool {
	return slices.ContainsFunc(keys, func(k key) bool { return k.kid == kid })
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
