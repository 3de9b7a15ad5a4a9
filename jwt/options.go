package sluicejwt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

// Option configures a [Verifier].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	keys         []key
	remotes      []*remote
	algs         []string
	issuer       string
	audience     []string
	leeway       time.Duration
	noExpiry     bool
	header       string
	cookie       string
	subject      string
	tier         string
	unverified   bool
	cacheSize    int
	cacheSizeSet bool
	clock        clock.Clock
	logger       *slog.Logger
	errs         []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("sluicejwt: "+format, args...))
}

// Keys are the keys a Verifier checks signatures with, from any of the
// sources below; set one or several. Every key is restricted to the
// algorithms of its type (and to its JWK "alg", when it has one), so that
// no key ever verifies a token of another algorithm family.
type Keys struct {
	// HMACSecret verifies HS256, HS384 and HS512 tokens. It must be at
	// least 32 bytes.
	HMACSecret []byte

	// PEM holds public keys in PEM: "PUBLIC KEY", "RSA PUBLIC KEY" or
	// "CERTIFICATE" blocks. RSA keys verify RS* and PS* tokens and must
	// have at least 2048 bits, ECDSA keys the ES* algorithm of their
	// curve, Ed25519 keys EdDSA tokens. Private keys are refused.
	PEM []byte

	// JWKS is a JSON Web Key Set (RFC 7517). A key's "kid" selects it for
	// tokens with that key ID, and its "alg" restricts it to that
	// algorithm. Encryption keys ("use": "enc") are skipped; a key with
	// an "x5u" is refused, since keys are never fetched from a key set.
	JWKS []byte

	// JWKSFile is a file holding a JSON Web Key Set, read once by New.
	JWKSFile string

	// JWKSURL is the address of an identity provider's JSON Web Key Set,
	// such as https://example.eu.auth0.com/.well-known/jwks.json. It must
	// be https, or http to a loopback address: anyone who could change the
	// set could sign tokens. The set is fetched when the first token needs
	// it, then again every JWKSRefresh, and at once (at most every
	// JWKSMinRefresh) when a token names a key ID the set lacks, as
	// providers do when they rotate keys. A fetch that fails (the
	// provider is down, answers an error, or sends anything but a key set
	// with a usable key) keeps the last good set. Symmetric ("oct") keys
	// in it are skipped: a shared secret is never public.
	JWKSURL string

	// JWKSRefresh is how often the JWKSURL set is fetched again. The
	// default is one hour.
	JWKSRefresh time.Duration

	// JWKSMinRefresh is the least time between two fetches of the JWKSURL
	// set: it paces retries while the provider fails and fetches for
	// unknown key IDs, so that tokens with made-up key IDs cannot make
	// the Verifier hammer the provider. The default is one minute.
	JWKSMinRefresh time.Duration

	// HTTPClient fetches JWKSURL. The default is a client with a
	// 10-second timeout.
	HTTPClient *http.Client
}

// WithKeys adds the keys of k to those signatures are checked with. It may
// be given several times; every key of every source counts. There is no
// default: a Verifier needs at least one key, unless WithUnverifiedSubject
// is set.
func WithKeys(k Keys) Option {
	return optionFunc(func(c *config) {
		if k.HMACSecret != nil {
			key, err := newKey("", "", slices.Clone(k.HMACSecret))
			if err != nil {
				c.fail("HMAC secret: %v", err)
			} else {
				c.keys = append(c.keys, key)
			}
		}
		if k.PEM != nil {
			c.addPEM(k.PEM)
		}
		if k.JWKS != nil {
			c.addJWKS(k.JWKS)
		}
		if k.JWKSFile != "" {
			data, err := os.ReadFile(k.JWKSFile)
			if err != nil {
				c.fail("JWKS file: %v", err)
			} else {
				c.addJWKS(data)
			}
		}
		if k.JWKSURL != "" {
			r, err := newRemote(k)
			if err != nil {
				c.fail("%v", err)
			} else {
				c.remotes = append(c.remotes, r)
			}
		}
	})
}

func (c *config) addPEM(data []byte) {
	pubs, err := parsePEM(data)
	if err != nil {
		c.fail("%v", err)
		return
	}
	for _, p := range pubs {
		k, err := newKey("", "", p)
		if err != nil {
			c.fail("PEM: %v", err)
			continue
		}
		c.keys = append(c.keys, k)
	}
}

func (c *config) addJWKS(data []byte) {
	keys, err := parseJWKS(data, false)
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.keys = append(c.keys, keys...)
}

// WithAlgorithms restricts the accepted signature algorithms ("RS256",
// "ES256", "EdDSA", "HS256", ...). The default is every algorithm the
// configured keys can verify (with a JWKSURL, every asymmetric algorithm,
// each still checked only with keys of its type). "none" is never
// accepted.
func WithAlgorithms(algs ...string) Option {
	return optionFunc(func(c *config) { c.algs = append(c.algs, algs...) })
}

// WithIssuer requires the "iss" claim to be iss. By default it is not
// checked.
func WithIssuer(iss string) Option { return optionFunc(func(c *config) { c.issuer = iss }) }

// WithAudience requires the "aud" claim to contain one of aud. By default
// it is not checked.
func WithAudience(aud ...string) Option {
	return optionFunc(func(c *config) { c.audience = append(c.audience, aud...) })
}

// WithLeeway tolerates clock skew of up to d when checking exp, nbf and
// iat. The default is none.
func WithLeeway(d time.Duration) Option { return optionFunc(func(c *config) { c.leeway = d }) }

// WithoutExpiry accepts tokens without an "exp" claim, which are cached for
// at most five minutes. By default exp is required: a token that never
// expires is a credential that can never be withdrawn.
func WithoutExpiry() Option { return optionFunc(func(c *config) { c.noExpiry = true }) }

// WithHeader reads the token from the named header instead of
// Authorization, the default. A value of the form "Bearer <token>" is
// accepted in any header; other headers may also carry the bare token.
func WithHeader(name string) Option {
	return optionFunc(func(c *config) { c.header = textproto.CanonicalMIMEHeaderKey(name) })
}

// WithCookie also reads the token from the named cookie, when the header
// carries none. By default no cookie is read.
func WithCookie(name string) Option { return optionFunc(func(c *config) { c.cookie = name }) }

// WithSubjectClaim names the claim that identifies the user. The default is
// "sub". Its value must be a non-empty string (or a whole number).
func WithSubjectClaim(name string) Option { return optionFunc(func(c *config) { c.subject = name }) }

// WithTierClaim names the claim that gives the user's tier. The default is
// "tier". A token without it has no tier, and the Limiter gives it the
// default tier (core.WithTiers).
func WithTierClaim(name string) Option { return optionFunc(func(c *config) { c.tier = name }) }

// WithUnverifiedSubject keys requests whose token does not verify (or all
// of them, when no key is configured) by the token's unverified subject,
// as a core.KindUnverified identity in the anonymous tier. It is off by
// default, and for services that only a gateway which verified the token
// can reach; see the package documentation for what it trusts.
func WithUnverifiedSubject() Option { return optionFunc(func(c *config) { c.unverified = true }) }

// WithCacheSize bounds the number of verified tokens kept. The default is
// 10,000; 0 disables the cache.
func WithCacheSize(n int) Option {
	return optionFunc(func(c *config) { c.cacheSize, c.cacheSizeSet = n, true })
}

// WithClock sets the clock exp, nbf and iat are checked against, cache
// entries expire by, and JWKS refreshes are timed by. The default is
// clock.Real.
func WithClock(clk clock.Clock) Option { return optionFunc(func(c *config) { c.clock = clk }) }

// WithLogger logs what no caller sees: a JWKSURL fetch that failed, at
// Warn, with the age of the set still in use. The default logs nothing.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

const defaultCacheSize = 10_000

func (c *config) validate() error {
	if len(c.keys) == 0 && len(c.remotes) == 0 && !c.unverified && len(c.errs) == 0 {
		c.fail("no key: use WithKeys (or opt in to WithUnverifiedSubject)")
	}
	for _, a := range c.algs {
		if !slices.Contains(hmacAlgs, a) && !slices.Contains(asymmetricAlgs, a) {
			c.fail("algorithm %q: not a supported signature algorithm", a)
		}
	}
	if c.leeway < 0 {
		c.fail("leeway %v: must not be negative", c.leeway)
	}
	if c.cacheSize < 0 {
		c.fail("cache size %d: must not be negative", c.cacheSize)
	}
	if c.subject == "" {
		c.subject = "sub"
	}
	if c.tier == "" {
		c.tier = "tier"
	}
	if c.header == "" {
		c.header = "Authorization"
	}
	if !c.cacheSizeSet {
		c.cacheSize = defaultCacheSize
	}
	if c.clock == nil {
		c.clock = clock.Real
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(c.errs...)
}
