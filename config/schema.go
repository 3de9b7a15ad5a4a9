package sluiceconfig

// Config is the whole configuration file. Every field is documented in
// docs/configuration.md and commented in config.example.toml; the
// mapstructure tags are the keys. The zero value of every field means "the
// library's default".
//
// Reloadable sections (see [Watcher]) are marked so; every other section
// needs a restart, and a reload that changes one is rejected.
type Config struct {
	// Shadow puts every rule in shadow mode: decide and report, never deny.
	// Reloadable.
	Shadow bool `mapstructure:"shadow"`
	// Backend selects where counters live. Restart only.
	Backend Backend `mapstructure:"backend"`
	// Identify says how clients are identified. Restart only.
	Identify Identify `mapstructure:"identify"`
	// Tiers declares service tiers. Restart only.
	Tiers Tiers `mapstructure:"tiers"`
	// Rules are the limits. Reloadable.
	Rules []Rule `mapstructure:"rules"`
	// Exempt lists clients and endpoints that are never limited. Restart
	// only.
	Exempt Exempt `mapstructure:"exempt"`
	// Headers configures the HTTP contract. Restart only.
	Headers Headers `mapstructure:"headers"`
	// Failure says what happens when the backend fails. Restart only.
	Failure Failure `mapstructure:"failure"`
	// Metrics turns Prometheus metrics on. Restart only.
	Metrics Metrics `mapstructure:"metrics"`
	// Logging configures the Limiter's logs. Restart only.
	Logging Logging `mapstructure:"logging"`
}

// Backend selects the store.
type Backend struct {
	// Type is "memory" (the default) or "redis".
	Type string `mapstructure:"type"`
	// Redis configures the Redis backend when Type is "redis".
	Redis Redis `mapstructure:"redis"`
}

// Redis configures the Redis backend: either URL, or Mode with the
// addresses of that deployment.
type Redis struct {
	// URL is a sluiceredis.NewFromURL URL; it excludes the other
	// connection fields.
	URL string `mapstructure:"url"`
	// Mode is "standalone" (the default), "sentinel" or "cluster".
	Mode string `mapstructure:"mode"`
	// Addr is the standalone server's host:port.
	Addr string `mapstructure:"addr"`
	// Addrs are cluster nodes (cluster) or Sentinels (sentinel).
	Addrs []string `mapstructure:"addrs"`
	// MasterName is the Sentinel primary's name.
	MasterName string `mapstructure:"master_name"`
	// Username and Password authenticate to Redis.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// SentinelPassword authenticates to the Sentinels.
	SentinelPassword string `mapstructure:"sentinel_password"`
	// DB selects the database (standalone and sentinel).
	DB int `mapstructure:"db"`
	// TLS connects over TLS with the system roots.
	TLS bool `mapstructure:"tls"`
	// PoolSize is the connection pool size (per node for cluster).
	PoolSize int `mapstructure:"pool_size"`
	// DialTimeout, ReadTimeout and WriteTimeout are Go durations.
	DialTimeout  string `mapstructure:"dial_timeout"`
	ReadTimeout  string `mapstructure:"read_timeout"`
	WriteTimeout string `mapstructure:"write_timeout"`
	// Prefix is the key prefix (sluiceredis.WithPrefix).
	Prefix string `mapstructure:"prefix"`
}

// Identify configures package identify and, under JWT, sluicejwt.
type Identify struct {
	// Order lists "user", "api_key" in the order they are tried; the IP
	// address always comes last.
	Order []string `mapstructure:"order"`
	// TrustedProxies are addresses or networks of trusted reverse proxies.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// TrustedHops is a fixed number of proxies in front of the server.
	TrustedHops int `mapstructure:"trusted_hops"`
	// ForwardedHeader is "X-Forwarded-For" (default) or "Forwarded".
	ForwardedHeader string `mapstructure:"forwarded_header"`
	// ClientIPHeader is a single-address header a trusted proxy sets.
	ClientIPHeader string `mapstructure:"client_ip_header"`
	// IPv4Prefix and IPv6Prefix key clients by their network.
	IPv4Prefix int `mapstructure:"ipv4_prefix"`
	IPv6Prefix int `mapstructure:"ipv6_prefix"`
	// APIKeys identifies clients by static API keys.
	APIKeys APIKeys `mapstructure:"api_keys"`
	// JWT identifies verified users by their token.
	JWT JWT `mapstructure:"jwt"`
}

// APIKeys identifies clients by an API key header.
type APIKeys struct {
	// Header is the header carrying the key, such as "X-API-Key".
	Header string `mapstructure:"header"`
	// Keys are the accepted keys with their tiers.
	Keys []APIKey `mapstructure:"keys"`
}

// APIKey is one accepted API key.
type APIKey struct {
	Key  string `mapstructure:"key"`
	Tier string `mapstructure:"tier"`
}

// JWT configures a sluicejwt.Verifier; it is on when any key is set.
type JWT struct {
	HMACSecret    string   `mapstructure:"hmac_secret"`
	PublicKeyFile string   `mapstructure:"public_key_file"`
	JWKSFile      string   `mapstructure:"jwks_file"`
	Algorithms    []string `mapstructure:"algorithms"`
	Issuer        string   `mapstructure:"issuer"`
	Audience      []string `mapstructure:"audience"`
	Leeway        string   `mapstructure:"leeway"`
	AllowNoExpiry bool     `mapstructure:"allow_no_expiry"`
	Header        string   `mapstructure:"header"`
	Cookie        string   `mapstructure:"cookie"`
	SubjectClaim  string   `mapstructure:"subject_claim"`
	TierClaim     string   `mapstructure:"tier_claim"`
	// UnverifiedSubject keys by the unverified subject (gateway verified).
	UnverifiedSubject bool `mapstructure:"unverified_subject"`
	CacheSize         int  `mapstructure:"cache_size"`
}

// Tiers declares tiers beyond the built-in anonymous, standard, premium.
type Tiers struct {
	// Default is the tier of identified clients without a declared tier.
	Default string `mapstructure:"default"`
	// Names are the extra tiers.
	Names []string `mapstructure:"names"`
}

// Rule is one core.Rule.
type Rule struct {
	Name      string   `mapstructure:"name"`
	Path      string   `mapstructure:"path"`
	Methods   []string `mapstructure:"methods"`
	Tiers     []string `mapstructure:"tiers"`
	Algorithm string   `mapstructure:"algorithm"`
	// Windows are limits in the grammar "100/minute", "1000/h burst 50"
	// or tables {limit, period, burst, name}.
	Windows  []Window `mapstructure:"windows"`
	Cost     int64    `mapstructure:"cost"`
	MaxDelay string   `mapstructure:"max_delay"`
	Lease    string   `mapstructure:"lease"`
	Group    string   `mapstructure:"group"`
	Failure  string   `mapstructure:"failure"`
	Shadow   bool     `mapstructure:"shadow"`
	Exempt   bool     `mapstructure:"exempt"`
	// Penalty turns on progressive penalties for the rule.
	Penalty *Penalty `mapstructure:"penalty"`
}

// Penalty is a core.Penalty: a client denied Threshold times within Window
// is blocked for Base × Multiplier^k, capped at Max; the block length
// decays back to Base after Decay without a block.
type Penalty struct {
	Threshold  int64   `mapstructure:"threshold"`
	Window     string  `mapstructure:"window"`
	Base       string  `mapstructure:"base"`
	Multiplier float64 `mapstructure:"multiplier"`
	Max        string  `mapstructure:"max"`
	Decay      string  `mapstructure:"decay"`
}

// Window is one limit: either Text ("100/minute") or the table fields.
type Window struct {
	// Text is set when the window was written as a string.
	Text   string `mapstructure:"-"`
	Limit  int64  `mapstructure:"limit"`
	Period string `mapstructure:"period"`
	Burst  int64  `mapstructure:"burst"`
	Name   string `mapstructure:"name"`
}

// Exempt lists exemptions.
type Exempt struct {
	IPs       []string `mapstructure:"ips"`
	Users     []string `mapstructure:"users"`
	APIKeys   []string `mapstructure:"api_keys"`
	Endpoints []string `mapstructure:"endpoints"`
	// HealthEndpoints replaces the default health endpoints when set
	// (an empty list exempts none).
	HealthEndpoints *[]string `mapstructure:"health_endpoints"`
}

// Headers configures the HTTP contract (package httpcontract).
type Headers struct {
	// Set is "both" (default), "legacy", "ietf" or "none".
	Set string `mapstructure:"set"`
	// Reset is "seconds" (default) or "unix".
	Reset string `mapstructure:"reset"`
	// Shadow sends headers for shadow decisions.
	Shadow bool `mapstructure:"shadow"`
	// UnavailableRetryAfter is the Retry-After of a 503.
	UnavailableRetryAfter string `mapstructure:"unavailable_retry_after"`
}

// Failure configures backend failure handling.
type Failure struct {
	// Mode is "open" (default), "closed" or "local".
	Mode         string  `mapstructure:"mode"`
	Timeout      string  `mapstructure:"timeout"`
	LocalDivisor int     `mapstructure:"local_divisor"`
	DenyCache    *bool   `mapstructure:"deny_cache"`
	Breaker      Breaker `mapstructure:"breaker"`
}

// Breaker configures package core/breaker.
type Breaker struct {
	Enabled             bool    `mapstructure:"enabled"`
	ConsecutiveFailures uint32  `mapstructure:"consecutive_failures"`
	FailureRatio        float64 `mapstructure:"failure_ratio"`
	MinCalls            uint32  `mapstructure:"min_calls"`
	Interval            string  `mapstructure:"interval"`
	CoolDown            string  `mapstructure:"cool_down"`
	Probes              uint32  `mapstructure:"probes"`
}

// Metrics turns on Prometheus metrics (package sluiceprom).
type Metrics struct {
	Enabled bool `mapstructure:"enabled"`
}

// Logging configures the Limiter's slog output.
type Logging struct {
	// Level is "off" (default), "debug", "info", "warn" or "error".
	Level string `mapstructure:"level"`
	// Format is "text" (default) or "json".
	Format string `mapstructure:"format"`
	// HashKeys logs clients as keyed hashes.
	HashKeys bool `mapstructure:"hash_keys"`
	// HashSecret is the HMAC secret; empty makes a random one.
	HashSecret string `mapstructure:"hash_secret"`
}
