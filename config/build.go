package sluiceconfig

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/breaker"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

func newRedisFromURL(url string) (*sluiceredis.Backend, error) { return sluiceredis.NewFromURL(url) }

// CoreRules returns the configured rules as core rules, with the global shadow
// switch applied. The Config must have been validated (by Load).
func (c *Config) CoreRules() []core.Rule {
	var p problems
	return c.coreRules(&p)
}

// policyOptions are the tier and exemption options.
func (c *Config) policyOptions() []core.Option {
	var opts []core.Option
	if c.Tiers.Default != "" || len(c.Tiers.Names) > 0 {
		opts = append(opts, core.WithTiers(c.Tiers.Default, c.Tiers.Names...))
	}
	e := &c.Exempt
	if len(e.IPs) > 0 {
		opts = append(opts, core.WithExemptIPs(e.IPs...))
	}
	if len(e.Users) > 0 {
		opts = append(opts, core.WithExemptUsers(e.Users...))
	}
	if len(e.APIKeys) > 0 {
		opts = append(opts, core.WithExemptAPIKeys(e.APIKeys...))
	}
	if len(e.Endpoints) > 0 {
		opts = append(opts, core.WithExemptEndpoints(e.Endpoints...))
	}
	if e.HealthEndpoints != nil {
		opts = append(opts, core.WithHealthEndpoints(*e.HealthEndpoints...))
	}
	return opts
}

// identifier builds the client identifier: nil (core.RemoteIP) when the
// identify section is empty.
func (c *Config) identifier() (core.Identifier, error) {
	id := &c.Identify
	var opts []identify.Option
	if len(id.TrustedProxies) > 0 {
		opts = append(opts, identify.WithTrustedProxies(id.TrustedProxies...))
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
	if k := id.APIKeys; len(k.Keys) > 0 {
		m := make(map[string]string, len(k.Keys))
		for _, e := range k.Keys {
			m[e.Key] = e.Tier
		}
		opts = append(opts, identify.WithAPIKey(k.Header, identify.StaticAPIKeys(m)))
	}
	if v, err := c.verifier(); err != nil {
		return nil, err
	} else if v != nil {
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
	if len(opts) == 0 {
		return nil, nil
	}
	return identify.New(opts...)
}

// verifier builds the JWT verifier, nil when no key is configured.
func (c *Config) verifier() (*sluicejwt.Verifier, error) {
	j := &c.Identify.JWT
	var opts []sluicejwt.Option
	if j.HMACSecret != "" {
		opts = append(opts, sluicejwt.WithHMACSecret([]byte(j.HMACSecret)))
	}
	if j.PublicKeyFile != "" {
		data, err := os.ReadFile(j.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("identify.jwt.public_key_file: %w", err)
		}
		opts = append(opts, sluicejwt.WithPublicKeyPEM(data))
	}
	if j.JWKSFile != "" {
		opts = append(opts, sluicejwt.WithJWKSFile(j.JWKSFile))
	}
	if len(opts) == 0 {
		return nil, nil
	}
	if len(j.Algorithms) > 0 {
		opts = append(opts, sluicejwt.WithAlgorithms(j.Algorithms...))
	}
	if j.Issuer != "" {
		opts = append(opts, sluicejwt.WithIssuer(j.Issuer))
	}
	if len(j.Audience) > 0 {
		opts = append(opts, sluicejwt.WithAudience(j.Audience...))
	}
	if d, _ := time.ParseDuration(j.Leeway); d > 0 {
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

// Backend builds the configured backend: nil for memory (the Limiter then
// owns its default backend). The caller closes a non-nil backend after
// the Limiter. It does not connect: the first decision does.
func (c *Config) BuildBackend() (core.Backend, io.Closer, error) {
	if c.Backend.Type != "redis" {
		return nil, nil, nil
	}
	r := &c.Backend.Redis
	var opts []sluiceredis.Option
	if r.Prefix != "" {
		opts = append(opts, sluiceredis.WithPrefix(r.Prefix))
	}
	if r.URL != "" {
		b, err := sluiceredis.NewFromURL(r.URL, opts...)
		if err != nil {
			return nil, nil, err
		}
		return b, b, nil
	}
	dur := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	var tlsConf *tls.Config
	if r.TLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	var b *sluiceredis.Backend
	switch r.Mode {
	case "sentinel":
		b = sluiceredis.NewFailover(&redis.FailoverOptions{
			MasterName: r.MasterName, SentinelAddrs: r.Addrs, SentinelPassword: r.SentinelPassword,
			Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: tlsConf, PoolSize: r.PoolSize,
			DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout), WriteTimeout: dur(r.WriteTimeout),
		}, opts...)
	case "cluster":
		b = sluiceredis.NewCluster(&redis.ClusterOptions{
			Addrs: r.Addrs, Username: r.Username, Password: r.Password, TLSConfig: tlsConf, PoolSize: r.PoolSize,
			DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout), WriteTimeout: dur(r.WriteTimeout),
		}, opts...)
	default:
		b = sluiceredis.NewStandalone(&redis.Options{
			Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: tlsConf, PoolSize: r.PoolSize,
			DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout), WriteTimeout: dur(r.WriteTimeout),
		}, opts...)
	}
	return b, b, nil
}

// Options returns the core options the configuration describes, except the
// backend (see BuildBackend) and metrics (see New): rules, tiers,
// exemptions, identification, failure handling and logging.
func (c *Config) Options() ([]core.Option, error) { return c.options(nil) }

// options is Options; with m, the breaker reports its state to m.
func (c *Config) options(m *sluiceprom.Metrics) ([]core.Option, error) {
	opts := []core.Option{core.WithRules(c.CoreRules()...)}
	opts = append(opts, c.policyOptions()...)
	id, err := c.identifier()
	if err != nil {
		return nil, err
	}
	if id != nil {
		opts = append(opts, core.WithIdentifier(id))
	}
	f := &c.Failure
	if f.Mode != "" {
		m, _ := core.ParseFailureMode(f.Mode)
		opts = append(opts, core.WithFailure(core.Failure{Mode: m}))
	}
	if f.Timeout != "" {
		d, _ := time.ParseDuration(f.Timeout)
		opts = append(opts, core.WithFailure(core.Failure{Timeout: d}))
	}
	if f.LocalDivisor > 0 {
		opts = append(opts, core.WithFailure(core.Failure{LocalDivisor: f.LocalDivisor}))
	}
	if f.DenyCache != nil {
		opts = append(opts, core.WithDenyCache(*f.DenyCache))
	}
	if b := &f.Breaker; b.Enabled {
		bo := []breaker.Option{}
		if b.ConsecutiveFailures > 0 {
			bo = append(bo, breaker.WithConsecutiveFailures(b.ConsecutiveFailures))
		}
		if b.FailureRatio > 0 || b.MinCalls > 0 {
			ratio, calls := b.FailureRatio, b.MinCalls
			if ratio == 0 {
				ratio = 0.5
			}
			if calls == 0 {
				calls = 20
			}
			bo = append(bo, breaker.WithFailureRatio(ratio, calls))
		}
		if d, _ := time.ParseDuration(b.Interval); d > 0 {
			bo = append(bo, breaker.WithInterval(d))
		}
		if d, _ := time.ParseDuration(b.CoolDown); d > 0 {
			bo = append(bo, breaker.WithCoolDown(d))
		}
		if b.Probes > 0 {
			bo = append(bo, breaker.WithProbes(b.Probes))
		}
		name := cmp.Or(c.Backend.Type, "memory")
		bo = append(bo, breaker.WithName(name))
		if m != nil {
			bo = append(bo, breaker.WithOnStateChange(m.BreakerStateChanged(name)))
		}
		if l := c.Logger(); l != nil {
			bo = append(bo, breaker.WithLogger(l))
		}
		opts = append(opts, core.WithBreaker(breaker.New(bo...)))
	}
	if l := c.Logger(); l != nil {
		opts = append(opts, core.WithLogger(l))
		if c.Logging.HashKeys {
			var secret []byte
			if c.Logging.HashSecret != "" {
				secret = []byte(c.Logging.HashSecret)
			}
			opts = append(opts, core.WithLogKeyHash(secret))
		}
	}
	return opts, nil
}

// Logger returns the logger logging.level and logging.format describe,
// writing to standard error, or nil when logging is off.
func (c *Config) Logger() *slog.Logger {
	var level slog.Level
	switch c.Logging.Level {
	case "", "off":
		return nil
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if c.Logging.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, ho))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, ho))
}

// HTTPOptions returns the httpcontract options of the headers section, for
// any adapter (their Option is httpcontract.Option).
func (c *Config) HTTPOptions() []httpcontract.Option {
	h := &c.Headers
	var opts []httpcontract.Option
	switch h.Set {
	case "legacy":
		opts = append(opts, httpcontract.WithHeaders(httpcontract.HeadersLegacy))
	case "ietf":
		opts = append(opts, httpcontract.WithHeaders(httpcontract.HeadersIETF))
	case "none":
		opts = append(opts, httpcontract.WithHeaders(httpcontract.HeadersNone))
	}
	if h.Reset == "unix" {
		opts = append(opts, httpcontract.WithResetFormat(httpcontract.ResetUnix))
	}
	if h.Shadow {
		opts = append(opts, httpcontract.WithShadowHeaders(true))
	}
	if d, _ := time.ParseDuration(h.UnavailableRetryAfter); d > 0 {
		opts = append(opts, httpcontract.WithUnavailableRetryAfter(d))
	}
	return opts
}

// Service is a Limiter built from a configuration file, with what goes
// with it.
type Service struct {
	// Limiter is ready to use; pass it to an adapter with HTTP.
	Limiter *core.Limiter
	// HTTP are the adapter options of the headers section.
	HTTP []httpcontract.Option
	// Metrics is the Prometheus collector, nil unless metrics.enabled.
	Metrics *sluiceprom.Metrics
	// Config is the configuration the Service was built from.
	Config *Config

	backend io.Closer
}

// Close closes the Limiter and then the backend it was built with.
func (s *Service) Close() error {
	err := s.Limiter.Close()
	if s.backend != nil {
		err = errors.Join(err, s.backend.Close())
	}
	return err
}

// BuildOption adjusts how New builds a Service.
type BuildOption func(*buildConfig)

type buildConfig struct {
	reg  prometheus.Registerer
	core []core.Option
}

// WithRegisterer registers the metrics (when metrics.enabled) with reg
// instead of prometheus.DefaultRegisterer.
func WithRegisterer(reg prometheus.Registerer) BuildOption {
	return func(b *buildConfig) { b.reg = reg }
}

// WithCoreOptions appends options that a file cannot express (a clock, a
// key function, an OnDecision hook); they apply after the file's.
func WithCoreOptions(opts ...core.Option) BuildOption {
	return func(b *buildConfig) { b.core = append(b.core, opts...) }
}

// New loads the file at path (see Load) and builds a Service from it:
// backend, identification, rules and everything else. Close the Service
// when done.
func New(path string, opts ...BuildOption) (*Service, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	return c.Build(opts...)
}

// Build builds a Service from a loaded Config.
func (c *Config) Build(opts ...BuildOption) (*Service, error) {
	bc := buildConfig{reg: prometheus.DefaultRegisterer}
	for _, o := range opts {
		o(&bc)
	}
	s := &Service{Config: c, HTTP: c.HTTPOptions()}
	if c.Metrics.Enabled {
		m, err := sluiceprom.New(bc.reg)
		if err != nil {
			return nil, fmt.Errorf("sluiceconfig: metrics: %w", err)
		}
		s.Metrics = m
	}
	// A Service that fails to build leaves nothing registered or open.
	fail := func(err error) (*Service, error) {
		s.closeBackend()
		if s.Metrics != nil {
			s.Metrics.Unregister(bc.reg)
		}
		return nil, err
	}
	copts, err := c.options(s.Metrics)
	if err != nil {
		return fail(err)
	}
	if s.Metrics != nil {
		copts = append(copts, core.WithObserver(s.Metrics))
	}
	b, closer, err := c.BuildBackend()
	if err != nil {
		return fail(err)
	}
	if b != nil {
		copts = append(copts, core.WithBackend(b))
		s.backend = closer
	}
	copts = append(copts, bc.core...)
	lim, err := core.New(copts...)
	if err != nil {
		return fail(err)
	}
	s.Limiter = lim
	return s, nil
}

func (s *Service) closeBackend() {
	if s.backend != nil {
		s.backend.Close()
	}
}

// Ping checks the backend, for readiness probes.
func (s *Service) Ping(ctx context.Context) error {
	_, err := s.Limiter.Ping(ctx)
	return err
}
