package sluiceconfig

// Config is a configuration file as Load read and validated it. Its fields
// mirror the file's keys (the mapstructure tags), section by section:
// c.Backend.Redis.URL is backend.redis.url. docs/configuration.md
// documents every key and config.example.toml comments each one. The zero
// value of a field means the library's default.
//
// Rules and Shadow are reloadable (see Service.Reload); every other section
// needs a restart, and a reload that changes one is rejected.
type Config struct {
	// Shadow puts every rule in shadow mode: decide and report, never deny.
	Shadow bool `mapstructure:"shadow"`
	// Backend selects where counters live.
	Backend backendConfig `mapstructure:"backend"`
	// Identify says how clients are identified.
	Identify identifyConfig `mapstructure:"identify"`
	// Tiers declares service tiers.
	Tiers tiersConfig `mapstructure:"tiers"`
	// Rules are the limits, one core.Rule each.
	Rules []ruleConfig `mapstructure:"rules"`
	// Exempt lists clients and endpoints that are never limited.
	Exempt exemptConfig `mapstructure:"exempt"`
	// Headers configures the HTTP responses (package httpcontract).
	Headers headersConfig `mapstructure:"headers"`
	// Failure says what happens when the backend fails.
	Failure failureConfig `mapstructure:"failure"`
	// Metrics turns Prometheus metrics on.
	Metrics metricsConfig `mapstructure:"metrics"`
	// Logging configures the logs.
	Logging loggingConfig `mapstructure:"logging"`
}

// The sections are unexported types with exported fields: a Config's
// fields are all readable and settable, and the package exports no name
// per section. Their documentation is docs/configuration.md.

type backendConfig struct {
	Type   string       `mapstructure:"type"`
	Memory memoryConfig `mapstructure:"memory"`
	Redis  redisConfig  `mapstructure:"redis"`
}

type memoryConfig struct {
	MaxKeys int `mapstructure:"max_keys"`
}

type redisConfig struct {
	URL string `mapstructure:"url"`

	// The connection fields, which url excludes.
	Mode             string   `mapstructure:"mode"`
	Addr             string   `mapstructure:"addr"`
	Addrs            []string `mapstructure:"addrs"`
	MasterName       string   `mapstructure:"master_name"`
	Username         string   `mapstructure:"username"`
	Password         string   `mapstructure:"password"`
	SentinelPassword string   `mapstructure:"sentinel_password"`
	DB               int      `mapstructure:"db"`
	TLS              bool     `mapstructure:"tls"`
	PoolSize         int      `mapstructure:"pool_size"`
	DialTimeout      string   `mapstructure:"dial_timeout"`
	ReadTimeout      string   `mapstructure:"read_timeout"`
	WriteTimeout     string   `mapstructure:"write_timeout"`
	PoolTimeout      string   `mapstructure:"pool_timeout"`

	// The backend's own settings, with url or without.
	Prefix      string `mapstructure:"prefix"`
	Batching    *int   `mapstructure:"batching"`
	CallerClock bool   `mapstructure:"caller_clock"`
}

// redisConnectionKeys are the keys of redisConfig that url excludes.
var redisConnectionKeys = []string{
	"mode", "addr", "addrs", "master_name", "username", "password", "sentinel_password",
	"db", "tls", "pool_size", "dial_timeout", "read_timeout", "write_timeout", "pool_timeout",
}

type identifyConfig struct {
	Order           []string      `mapstructure:"order"`
	TrustedProxies  []string      `mapstructure:"trusted_proxies"`
	TrustedHops     int           `mapstructure:"trusted_hops"`
	ForwardedHeader string        `mapstructure:"forwarded_header"`
	ClientIPHeader  string        `mapstructure:"client_ip_header"`
	IPv4Prefix      int           `mapstructure:"ipv4_prefix"`
	IPv6Prefix      int           `mapstructure:"ipv6_prefix"`
	APIKeys         apiKeysConfig `mapstructure:"api_keys"`
	JWT             jwtConfig     `mapstructure:"jwt"`
}

type apiKeysConfig struct {
	Header string         `mapstructure:"header"`
	Keys   []apiKeyConfig `mapstructure:"keys"`
}

type apiKeyConfig struct {
	Key  string `mapstructure:"key"`
	Tier string `mapstructure:"tier"`
}

type jwtConfig struct {
	HMACSecret        string   `mapstructure:"hmac_secret"`
	PublicKeyFile     string   `mapstructure:"public_key_file"`
	JWKSFile          string   `mapstructure:"jwks_file"`
	JWKSURL           string   `mapstructure:"jwks_url"`
	JWKSRefresh       string   `mapstructure:"jwks_refresh"`
	JWKSMinRefresh    string   `mapstructure:"jwks_min_refresh"`
	Algorithms        []string `mapstructure:"algorithms"`
	Issuer            string   `mapstructure:"issuer"`
	Audience          []string `mapstructure:"audience"`
	Leeway            string   `mapstructure:"leeway"`
	AllowNoExpiry     bool     `mapstructure:"allow_no_expiry"`
	Header            string   `mapstructure:"header"`
	Cookie            string   `mapstructure:"cookie"`
	SubjectClaim      string   `mapstructure:"subject_claim"`
	TierClaim         string   `mapstructure:"tier_claim"`
	UnverifiedSubject bool     `mapstructure:"unverified_subject"`
	CacheSize         int      `mapstructure:"cache_size"`
}

type tiersConfig struct {
	Default string   `mapstructure:"default"`
	Names   []string `mapstructure:"names"`
}

type ruleConfig struct {
	Name      string         `mapstructure:"name"`
	Path      string         `mapstructure:"path"`
	Methods   []string       `mapstructure:"methods"`
	Tiers     []string       `mapstructure:"tiers"`
	NameOnly  bool           `mapstructure:"name_only"`
	Algorithm string         `mapstructure:"algorithm"`
	Windows   []windowConfig `mapstructure:"windows"`
	Cost      int64          `mapstructure:"cost"`
	MaxDelay  string         `mapstructure:"max_delay"`
	Lease     string         `mapstructure:"lease"`
	Prefetch  string         `mapstructure:"prefetch"`
	Group     string         `mapstructure:"group"`
	Failure   string         `mapstructure:"failure"`
	Shadow    bool           `mapstructure:"shadow"`
	Exempt    bool           `mapstructure:"exempt"`
	Penalty   *penaltyConfig `mapstructure:"penalty"`
}

type penaltyConfig struct {
	Threshold  int64   `mapstructure:"threshold"`
	Window     string  `mapstructure:"window"`
	Base       string  `mapstructure:"base"`
	Multiplier float64 `mapstructure:"multiplier"`
	Max        string  `mapstructure:"max"`
	Decay      string  `mapstructure:"decay"`
}

// windowConfig is one limit: Text when the file writes it as a string
// ("100/minute"), the other fields when it writes a table.
type windowConfig struct {
	Text   string `mapstructure:"-"`
	Limit  int64  `mapstructure:"limit"`
	Period string `mapstructure:"period"`
	Burst  int64  `mapstructure:"burst"`
	Name   string `mapstructure:"name"`
}

type exemptConfig struct {
	IPs       []string `mapstructure:"ips"`
	Users     []string `mapstructure:"users"`
	APIKeys   []string `mapstructure:"api_keys"`
	Endpoints []string `mapstructure:"endpoints"`
}

type headersConfig struct {
	// Send is nil when unset (the default profile), empty for none.
	Send                  *[]string `mapstructure:"send"`
	ProblemType           string    `mapstructure:"problem_type"`
	Shadow                bool      `mapstructure:"shadow"`
	UnavailableRetryAfter string    `mapstructure:"unavailable_retry_after"`
}

type failureConfig struct {
	Mode         string        `mapstructure:"mode"`
	Timeout      string        `mapstructure:"timeout"`
	LocalDivisor int           `mapstructure:"local_divisor"`
	DenyCache    *bool         `mapstructure:"deny_cache"`
	Breaker      breakerConfig `mapstructure:"breaker"`
}

type breakerConfig struct {
	Enabled             *bool  `mapstructure:"enabled"`
	ConsecutiveFailures int    `mapstructure:"consecutive_failures"`
	Backoff             string `mapstructure:"backoff"`
}

type metricsConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

type loggingConfig struct {
	Level      string `mapstructure:"level"`
	Format     string `mapstructure:"format"`
	HashKeys   bool   `mapstructure:"hash_keys"`
	HashSecret string `mapstructure:"hash_secret"`
}

// removedKeys are keys that configurations once had, with what to write
// instead: an old file gets this advice rather than a bare "unknown key".
var removedKeys = map[string]string{
	"exempt.health_endpoints": "no longer a setting: /health, /healthz, /livez and /readyz are exempt " +
		"unless a rule names one as its exact path; to limit a health endpoint, write a rule for it",
	"headers.set":                   `replaced by headers.send, a list of profiles: "draft10", "triple", "x", "x_unix" ([] sends none)`,
	"headers.reset":                 `replaced by headers.send: "x_unix" sends X-RateLimit-Reset as a Unix time`,
	"failure.breaker.cool_down":     "replaced by failure.breaker.backoff",
	"failure.breaker.failure_ratio": "no longer a setting: the breaker opens after consecutive_failures failed calls",
	"failure.breaker.min_calls":     "no longer a setting: the breaker opens after consecutive_failures failed calls",
	"failure.breaker.interval":      "no longer a setting: the breaker opens after consecutive_failures failed calls",
	"failure.breaker.probes":        "no longer a setting: an open breaker lets one probe through after backoff",
}
