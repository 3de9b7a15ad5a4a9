package sluiceconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

// identifier builds the client identifier of the identify and exempt
// sections; logger receives what the JWT verifier logs. An address that
// does not parse, and a JWT setting the verifier refuses, are reported to
// p at their paths and left out; the error is identify's, about the
// combination of settings.
func (c *Config) identifier(p *problems, logger *slog.Logger) (*identify.Identifier, error) {
	id := &c.Identify
	var opts []identify.Option
	// Each address on its own first, so that a bad one is reported at its
	// path rather than in the joined error of the whole identifier.
	addrs := func(path string, list []string, opt func(...string) identify.Option) []string {
		var good []string
		for i, a := range list {
			if _, err := identify.New(opt(a)); err != nil {
				p.add(fmt.Sprintf("%s[%d]", path, i), a, "%s", strings.TrimPrefix(err.Error(), "identify: "))
				continue
			}
			good = append(good, a)
		}
		return good
	}
	if proxies := addrs("identify.trusted_proxies", id.TrustedProxies, identify.WithTrustedProxies); len(proxies) > 0 {
		opts = append(opts, identify.WithTrustedProxies(proxies...))
	}
	if id.TrustedHops != 0 {
		opts = append(opts, identify.WithTrustedHops(id.TrustedHops))
	}
	if id.ForwardedHeader != "" {
		opts = append(opts, identify.WithForwardedHeader(id.ForwardedHeader))
	}
	if id.ClientIPHeader != "" {
		opts = append(opts, identify.WithClientIPHeader(id.ClientIPHeader))
	}
	if id.IPv4Prefix != 0 {
		opts = append(opts, identify.WithIPv4Prefix(id.IPv4Prefix))
	}
	if id.IPv6Prefix != 0 {
		opts = append(opts, identify.WithIPv6Prefix(id.IPv6Prefix))
	}
	if k := id.APIKeys; len(k.Keys) > 0 && k.Header != "" {
		m := make(map[string]string, len(k.Keys))
		for _, e := range k.Keys {
			m[e.Key] = e.Tier
		}
		opts = append(opts, identify.WithAPIKeys(k.Header, identify.StaticAPIKeys(m)))
	}
	v, err := id.JWT.verifier(logger)
	var ce *core.ConfigError
	switch {
	case errors.As(err, &ce):
		p.errs = append(p.errs, ce)
	case err != nil:
		p.wrap("identify.jwt", nil, err)
	case v != nil:
		opts = append(opts, identify.WithUser(v))
	}
	if len(id.Order) > 0 {
		kinds := make([]core.IdentityKind, 0, len(id.Order))
		for _, o := range id.Order {
			switch o {
			case "user":
				kinds = append(kinds, core.KindUser)
			case "api_key":
				kinds = append(kinds, core.KindAPIKey)
			}
		}
		opts = append(opts, identify.WithOrder(kinds...))
	}
	e := &c.Exempt
	if ips := addrs("exempt.ips", e.IPs, identify.WithExemptIPs); len(ips) > 0 {
		opts = append(opts, identify.WithExemptIPs(ips...))
	}
	if len(e.Users) > 0 {
		opts = append(opts, identify.WithExemptUsers(e.Users...))
	}
	if len(e.APIKeys) > 0 {
		opts = append(opts, identify.WithExemptAPIKeys(e.APIKeys...))
	}
	return identify.New(opts...)
}

// verifies reports whether the section has a key to verify tokens with.
func (j *jwtConfig) verifies() bool {
	return j.HMACSecret != "" || j.PublicKeyFile != "" || j.JWKSFile != "" || j.JWKSURL != ""
}

// verifier builds the JWT verifier: nil when the section sets no key and
// no unverified_subject.
func (j *jwtConfig) verifier(logger *slog.Logger) (*sluicejwt.Verifier, error) {
	if !j.verifies() && !j.UnverifiedSubject {
		return nil, nil
	}
	dur := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	keys := sluicejwt.Keys{
		JWKSFile: j.JWKSFile, JWKSURL: j.JWKSURL,
		JWKSRefresh: dur(j.JWKSRefresh), JWKSMinRefresh: dur(j.JWKSMinRefresh),
	}
	if j.HMACSecret != "" {
		keys.HMACSecret = []byte(j.HMACSecret)
	}
	if j.PublicKeyFile != "" {
		data, err := os.ReadFile(j.PublicKeyFile)
		if err != nil {
			return nil, &core.ConfigError{Path: "identify.jwt.public_key_file", Value: j.PublicKeyFile, Err: err}
		}
		keys.PEM = data
	}
	opts := []sluicejwt.Option{sluicejwt.WithKeys(keys), sluicejwt.WithLogger(logger)}
	if len(j.Algorithms) > 0 {
		opts = append(opts, sluicejwt.WithAlgorithms(j.Algorithms...))
	}
	if j.Issuer != "" {
		opts = append(opts, sluicejwt.WithIssuer(j.Issuer))
	}
	if len(j.Audience) > 0 {
		opts = append(opts, sluicejwt.WithAudience(j.Audience...))
	}
	if d := dur(j.Leeway); d > 0 {
		opts = append(opts, sluicejwt.WithLeeway(d))
	}
	if j.AllowNoExpiry {
		opts = append(opts, sluicejwt.WithoutExpiry())
	}
	if j.Header != "" {
		opts = append(opts, sluicejwt.WithHeader(j.Header))
	}
	if j.Cookie != "" {
		opts = append(opts, sluicejwt.WithCookie(j.Cookie))
	}
	if j.SubjectClaim != "" {
		opts = append(opts, sluicejwt.WithSubjectClaim(j.SubjectClaim))
	}
	if j.TierClaim != "" {
		opts = append(opts, sluicejwt.WithTierClaim(j.TierClaim))
	}
	if j.UnverifiedSubject {
		opts = append(opts, sluicejwt.WithUnverifiedSubject())
	}
	if j.CacheSize != 0 {
		opts = append(opts, sluicejwt.WithCacheSize(j.CacheSize))
	}
	return sluicejwt.New(opts...)
}

// tierOptions are the core options of the tiers section.
func (c *Config) tierOptions() []core.Option {
	if c.Tiers.Default == "" && len(c.Tiers.Names) == 0 {
		return nil
	}
	return []core.Option{core.WithTiers(c.Tiers.Default, c.Tiers.Names...)}
}
