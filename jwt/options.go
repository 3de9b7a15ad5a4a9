package sluicejwt

import (
	"errors"
	"fmt"
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
	errs         []error
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("sluicejwt: "+format, args...))
}

// WithHMACSecret adds a secret for HS256, HS384 and HS512 tokens. It must be
// at least 32 bytes.
func WithHMACSecret(secret []byte) Option {
	return optionFunc(func(c *config) {
		k, err := newKey("", "", slices.Clone(secret))
		if err != nil {
			c.fail("HMAC secret: %v", err)
			return
		}
		c.keys = append(c.keys, k)
	})
}

// WithPublicKeyPEM adds the public keys in PEM data ("PUBLIC KEY", "RSA
// PUBLIC KEY" or "CERTIFICATE" blocks): RSA keys verify RS* and PS* tokens,
// ECDSA keys the ES* algorithm of their curve, Ed25519 keys EdDSA tokens.
// RSA keys must have at least 2048 bits. Private keys are refused.
func WithPublicKeyPEM(data []byte) Option {
	return optionFunc(func(c *config) {
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
	})
}

// WithJWKS adds the keys of a JSON Web Key Set. A key's "kid" selects it for
// tokens with that key ID and its "alg" restricts it to that algorithm.
func WithJWKS(data []byte) Option {
	return optionFunc(func(c *config) {
		keys, err := parseJWKS(data)
		if err != nil {
			c.fail("%v", err)
			return
		}
		c.keys = append(c.keys, keys...)
	})
}

// WithJWKSFile adds the keys of the JSON Web Key Set in a file, read once
// by New (see WithJWKS).
func WithJWKSFile(path string) Option {
	return optionFunc(func(c *config) {
		data, err := os.ReadFile(path)
		if err != nil {
			c.fail("JWKS file: %v", err)
			return
		}
		WithJWKS(data).apply(c)
	})
}

// WithAlgorithms restricts the accepted signature algorithms ("RS256",
// "ES256", "EdDSA", "HS256", ...). The default is every algorithm the
// configured keys can verify. "none" is never accepted.
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
// Authorization. A value of the form "Bearer <token>" is accepted in any
// header; other headers may also carry the bare token.
func WithHeader(name string) Option {
	return optionFunc(func(c *config) { c.header = textproto.CanonicalMIMEHeaderKey(name) })
}

// WithCookie also reads the token from the named cookie, when the header
// carries none. By default no cookie is read.
func WithCookie(name string) Option { return optionFunc(func(c *config) { c.cookie = name }) }

// WithSubjectClaim names the claim that identifies the user. The default is
// "sub". Its value must be a non-empty string.
func WithSubjectClaim(name string) Option { return optionFunc(func(c *config) { c.subject = name }) }

// WithTierClaim names the claim that gives the user's tier. The default is
// "tier". A token without it has no tier, and the Limiter gives it the
// default tier (core.WithTiers).
func WithTierClaim(name string) Option { return optionFunc(func(c *config) { c.tier = name }) }

// WithUnverifiedSubject keys requests whose token does not verify (or all
// of them, when no key is configured) by the token's unverified subject,
// as a core.KindUnverified identity in the anonymous tier. It is for
// services that only a gateway which verified the token can reach; see the
// package documentation for what it trusts.
func WithUnverifiedSubject() Option { return optionFunc(func(c *config) { c.unverified = true }) }

// WithCacheSize bounds the number of verified tokens kept. The default is
// 10,000; 0 disables the cache.
func WithCacheSize(n int) Option {
	return optionFunc(func(c *config) { c.cacheSize, c.cacheSizeSet = n, true })
}

// WithClock sets the clock exp, nbf and iat are checked against and cache
// entries expire by. The default is clock.Real.
func WithClock(clk clock.Clock) Option { return optionFunc(func(c *config) { c.clock = clk }) }

const defaultCacheSize = 10_000

func (c *config) validate() error {
	if len(c.keys) == 0 && !c.unverified && len(c.errs) == 0 {
		c.fail("no key: use WithHMACSecret, WithPublicKeyPEM or WithJWKS (or opt in to WithUnverifiedSubject)")
	}
	for _, a := range c.algs {
		if !slices.Contains(hmacAlgs, a) && !slices.Contains(rsaAlgs, a) && !slices.Contains(eddsaAlgs, a) &&
			a != "ES256" && a != "ES384" && a != "ES512" {
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
	return errors.Join(c.errs...)
}
