package sluiceconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// write writes a file named name with text into dir and returns its path.
func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withLogOutput makes the logging section's logger write to w.
func withLogOutput(w io.Writer) Option { return optionFunc(func(o *options) { o.logOutput = w }) }

// withDebounce sets how long the watcher waits after a change.
func withDebounce(d time.Duration) Option { return optionFunc(func(o *options) { o.debounce = d }) }

// newService builds a Service from text, on a registry of its own, logging
// nowhere unless opts say otherwise, and closes it when the test ends.
func newService(t *testing.T, text string, opts ...Option) *Service {
	t.Helper()
	path := write(t, t.TempDir(), "sluice.toml", text)
	opts = append([]Option{WithRegisterer(prometheus.NewRegistry()), withLogOutput(io.Discard)}, opts...)
	svc, err := New(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Error(err)
		}
	})
	return svc
}

// loadErr loads text and returns the problems Load reported.
func loadErr(t *testing.T, text string) []*core.ConfigError {
	t.Helper()
	_, err := Load(write(t, t.TempDir(), "sluice.toml", text))
	return configErrorsOf(t, err)
}

// configErrorsOf returns the *core.ConfigError values err joins.
func configErrorsOf(t *testing.T, err error) []*core.ConfigError {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if err == nil || !ok {
		t.Fatalf("err = %v, want joined *core.ConfigError values", err)
	}
	var out []*core.ConfigError
	for _, e := range joined.Unwrap() {
		ce, ok := e.(*core.ConfigError)
		if !ok {
			t.Fatalf("%T %v is not a *core.ConfigError", e, e)
		}
		out = append(out, ce)
	}
	return out
}

func decide(t *testing.T, svc *Service, r core.Request) core.Decision {
	t.Helper()
	if r.RemoteAddr == "" {
		r.RemoteAddr = "192.0.2.1:1"
	}
	d, err := svc.Limiter.Decide(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const tomlConfig = `
shadow = false

[backend]
type = "memory"

[tiers]
names = ["gold"]

[[rules]]
name = "api"
path = "/api/**"
methods = ["GET", "POST"]
windows = ["100/minute", {limit = 10, period = "s", burst = 20}]
cost = 2
max_delay = "250ms"

[[rules]]
name = "login"
path = "/login"
algorithm = "sliding_log"
windows = ["5/15m"]
failure = "closed"
shadow = true

[[rules]]
name = "gold"
tiers = ["gold"]
group = "g"
windows = ["1000/h burst 50"]
`

const yamlConfig = `
shadow: false
backend:
  type: memory
tiers:
  names: [gold]
rules:
  - name: api
    path: /api/**
    methods: [GET, POST]
    windows: ["100/minute", {limit: 10, period: s, burst: 20}]
    cost: 2
    max_delay: 250ms
  - name: login
    path: /login
    algorithm: sliding_log
    windows: ["5/15m"]
    failure: closed
    shadow: true
  - name: gold
    tiers: [gold]
    group: g
    windows: ["1000/h burst 50"]
`

const jsonConfig = `{
  "shadow": false,
  "backend": {"type": "memory"},
  "tiers": {"names": ["gold"]},
  "rules": [
    {"name": "api", "path": "/api/**", "methods": ["GET", "POST"],
     "windows": ["100/minute", {"limit": 10, "period": "s", "burst": 20}],
     "cost": 2, "max_delay": "250ms"},
    {"name": "login", "path": "/login", "algorithm": "sliding_log", "windows": ["5/15m"],
     "failure": "closed", "shadow": true},
    {"name": "gold", "tiers": ["gold"], "group": "g", "windows": ["1000/h burst 50"]}
  ]
}`

func wantRules() []core.Rule {
	return []core.Rule{
		{Name: "api", Path: "/api/**", Methods: []string{"GET", "POST"}, Cost: 2, MaxDelay: 250 * time.Millisecond,
			Limits: []core.Limit{core.PerMinute(100), {N: 10, Per: time.Second, Burst: 20}}},
		{Name: "login", Path: "/login", Algorithm: backend.SlidingLog, Limits: []core.Limit{{N: 5, Per: 15 * time.Minute}},
			Failure: "closed", Shadow: true},
		{Name: "gold", Tiers: []string{"gold"}, Group: "g", Limits: []core.Limit{{N: 1000, Per: time.Hour, Burst: 50}}},
	}
}

func rulesOf(t *testing.T, c *Config) []core.Rule {
	t.Helper()
	var p problems
	rules := c.coreRules(&p)
	if err := p.err(); err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, file, text string }{
		{"toml", "sluice.toml", tomlConfig},
		{"yaml", "sluice.yaml", yamlConfig},
		{"yml", "sluice.yml", yamlConfig},
		{"json", "sluice.json", jsonConfig},
		{"no extension", "sluice", tomlConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := write(t, t.TempDir(), tc.file, tc.text)
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rulesOf(t, c), wantRules(); !reflect.DeepEqual(got, want) {
				t.Errorf("rules:\n got %+v\nwant %+v", got, want)
			}
			svc, err := New(path, WithRegisterer(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			if got, want := decide(t, svc, core.Request{Method: "GET", Path: "/api/x"}).Rule, "api"; got != want {
				t.Errorf("rule = %q, want %q", got, want)
			}
		})
	}
}

func TestGlobalShadow(t *testing.T) {
	t.Parallel()
	svc := newService(t, "shadow = true\n[[rules]]\nwindows = [\"1/minute\"]\n")
	for i := range 3 {
		d := decide(t, svc, core.Request{Path: "/"})
		if !d.Outcome.Proceed() {
			t.Fatalf("request %d: outcome %v, want one that proceeds", i, d.Outcome)
		}
		if i > 0 && d.Outcome != core.ShadowDenied {
			t.Errorf("request %d: outcome %v, want ShadowDenied", i, d.Outcome)
		}
	}
}

func TestNameOnlyRule(t *testing.T) {
	t.Parallel()
	svc := newService(t, "[[rules]]\nwindows = [\"100/minute\"]\n[[rules]]\nname = \"jobs\"\nname_only = true\nwindows = [\"1/h\"]\n")
	for i, want := range []core.Outcome{core.Allowed, core.Denied} {
		d, err := svc.Limiter.Take(t.Context(), "jobs", "tenant-1", 1)
		if err != nil || d.Outcome != want {
			t.Errorf("Take %d: %v, %v; want %v", i, d.Outcome, err, want)
		}
	}
	if got := decide(t, svc, core.Request{Path: "/jobs"}).Rule; got != "default" {
		t.Errorf("a request matched rule %q, want default (a name-only rule matches no request)", got)
	}
}

func TestEnvOverride(t *testing.T) {
	path := write(t, t.TempDir(), "sluice.toml", tomlConfig)
	t.Setenv("SLUICE_BACKEND_TYPE", "redis")
	t.Setenv("SLUICE_BACKEND_REDIS_URL", "redis+sentinel://user:secret@s1:26379?master_name=m&addr=s2:26379")
	t.Setenv("SLUICE_FAILURE_BREAKER_ENABLED", "false")
	t.Setenv("SLUICE_FAILURE_TIMEOUT", "20ms")
	t.Setenv("SLUICE_EXEMPT_IPS", "10.0.0.1,10.0.0.0/8")
	t.Setenv("SLUICE_SHADOW", "true")
	t.Setenv("SLUICE_IDENTIFY_IPV6_PREFIX", "56")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Backend.Redis.URL, "redis+sentinel://user:secret@s1:26379?master_name=m&addr=s2:26379"; got != want {
		t.Errorf("backend.redis.url = %q, want %q", got, want)
	}
	if got, want := c.Backend.Type, "redis"; got != want {
		t.Errorf("backend.type = %q, want %q", got, want)
	}
	var p problems
	if f := c.Failure.core(&p); f.BreakerFailures != -1 || f.Timeout != 20*time.Millisecond || !c.Shadow || c.Identify.IPv6Prefix != 56 {
		t.Errorf("failure = %+v, shadow = %v, ipv6_prefix = %d", f, c.Shadow, c.Identify.IPv6Prefix)
	}
	if got, want := c.Exempt.IPs, []string{"10.0.0.1", "10.0.0.0/8"}; !reflect.DeepEqual(got, want) {
		t.Errorf("exempt.ips = %q, want %q", got, want)
	}
	for _, r := range rulesOf(t, c) {
		if !r.Shadow {
			t.Errorf("rule %s: global shadow not applied", r.Name)
		}
	}
	// The backend is built without connecting.
	b, closers, err := c.Backend.Redis.backend()
	if err != nil || b == nil {
		t.Fatalf("backend() = %v, %v", b, err)
	}
	for _, c := range closers {
		c.Close()
	}
}

// TestEnvRedisURLReplacesConnection: SLUICE_BACKEND_REDIS_URL replaces
// the file's connection fields, as with the shipped example's mode =
// "standalone", but not those the environment sets too.
func TestEnvRedisURLReplacesConnection(t *testing.T) {
	t.Setenv("SLUICE_BACKEND_TYPE", "redis")
	t.Setenv("SLUICE_BACKEND_REDIS_URL", "redis://cache.internal:6379/2")
	c, err := Load("../config.example.toml")
	if err != nil {
		t.Fatalf("the example file with SLUICE_BACKEND_REDIS_URL: %v", err)
	}
	if r := c.Backend.Redis; r.URL != "redis://cache.internal:6379/2" || r.Mode != "" || len(r.connectionFields()) != 0 {
		t.Errorf("backend.redis = %+v, want the URL alone", r)
	}

	file := "[backend]\ntype = \"redis\"\n[backend.redis]\nmode = \"standalone\"\naddr = \"file:6379\"\npool_size = 9\nprefix = \"app:\"\n[[rules]]\nwindows = [\"1/s\"]\n"
	c, err = Load(write(t, t.TempDir(), "sluice.toml", file))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Backend.Redis; r.Addr != "" || r.PoolSize != 0 || r.Prefix != "app:" {
		t.Errorf("backend.redis = %+v: want the file's connection gone and its prefix kept", r)
	}

	t.Setenv("SLUICE_BACKEND_REDIS_POOL_SIZE", "5")
	errs := loadErr(t, file)
	if len(errs) != 1 || errs[0].Path != "backend.redis.url" || !strings.Contains(errs[0].Err.Error(), "(pool_size), not both") {
		t.Errorf("a URL and a pool size both from the environment: %v", errs)
	}
}

// TestURLAndFieldsInFile: a file that sets both url and connection fields
// is refused, naming them.
func TestURLAndFieldsInFile(t *testing.T) {
	t.Parallel()
	errs := loadErr(t, "[backend]\ntype = \"redis\"\n[backend.redis]\nurl = \"redis://x:1\"\nmode = \"standalone\"\naddr = \"y:2\"\n[[rules]]\nwindows = [\"1/s\"]\n")
	if len(errs) != 1 || !strings.Contains(errs[0].Err.Error(), "set either url or the connection fields (addr, mode), not both") {
		t.Errorf("errors = %v", errs)
	}
}

func TestEnvOnly(t *testing.T) {
	t.Setenv("SLUICE_LOGGING_LEVEL", "warn")
	_, err := Load("")
	errs := configErrorsOf(t, err)
	if len(errs) != 1 || errs[0].Path != "rules" {
		t.Fatalf("Load(\"\") = %v, want only the missing rules", err)
	}
}

func TestUnknownEnv(t *testing.T) {
	path := write(t, t.TempDir(), "sluice.toml", tomlConfig)
	t.Setenv("SLUICE_BACKEND_REDIS_URLL", "redis://x")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "env SLUICE_BACKEND_REDIS_URLL") {
		t.Fatalf("err = %v, want one naming SLUICE_BACKEND_REDIS_URLL", err)
	}
}

// TestErrors: Load's error joins one *core.ConfigError per problem, which
// errors.As finds, and its message starts with the package's name.
func TestErrors(t *testing.T) {
	t.Parallel()
	_, err := Load(write(t, t.TempDir(), "e.toml", "[[rules]]\nwindows = [\"10/x\"]\nalgoritm = \"fixed_window\"\n"))
	var ce *core.ConfigError
	if !errors.As(err, &ce) || ce.Path != "rules[0].algoritm" {
		t.Fatalf("errors.As(%v) = %+v", err, ce)
	}
	if !strings.HasPrefix(err.Error(), "sluiceconfig: 2 invalid setting(s):") {
		t.Errorf("message %q", err)
	}
	if got := configErrorsOf(t, err); len(got) != 2 || got[1].Path != "rules[0].windows[0]" || got[1].Value != "10/x" {
		t.Errorf("errors = %v", got)
	}
}

func TestValidationCollectsEveryError(t *testing.T) {
	t.Parallel()
	const broken = `
shadow = false
colour = "blue"

[backend]
type = "postgres"

[backend.redis]
dial_timeout = "soon"
batching = -1

[failure]
mode = "sometimes"
timeout = "-1s"

[failure.breaker]
consecutive_failures = -2

[headers]
send = ["draft10", "all"]
problem_type = "quota"

[logging]
levle = "debug"

[[rules]]
name = "a"
windows = ["100/minute"]

[[rules]]
name = "b"
windows = ["10/s", {limit = 5}]
algorithm = "leaky"

[[rules]]
name = "c"
windows = ["10/x", "ten/s", "5/m burst"]
max_delay = "2 seconds"
failure = "maybe"
tpyo = true

[[rules]]
name = "d"
`
	_, err := Load(write(t, t.TempDir(), "broken.toml", broken))
	errs := configErrorsOf(t, err)
	want := []string{
		`backend.redis.batching: -1: must not be negative`,
		`backend.redis.dial_timeout: "soon": not a duration`,
		`backend.type: "postgres": want one of memory, redis`,
		`colour: unknown key`,
		`failure.breaker.consecutive_failures: -2: must not be negative`,
		`failure.mode: "sometimes": want one of open, closed, local`,
		`failure.timeout: "-1s": must not be negative`,
		`headers.problem_type: "quota": want an absolute URI`,
		`headers.send[1]: "all": want one of draft10, triple, x, x_unix`,
		`logging.levle: unknown key`,
		`rules[1].algorithm: "leaky": unknown algorithm (want token_bucket, sliding_log, sliding_window, fixed_window, concurrency)`,
		`rules[1].windows[1].period: "": required`,
		`rules[2].failure: "maybe": want one of open, closed, local`,
		`rules[2].max_delay: "2 seconds": not a duration`,
		`rules[2].tpyo: unknown key`,
		`rules[2].windows[0]: "10/x": unknown unit "x"`,
		`rules[2].windows[1]: "ten/s": count:`,
		`rules[2].windows[2]: "5/m burst": want "N/period"`,
		`rules[3].windows: "[]": at least one window is required`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if got := len(errs); got != len(want) {
		t.Errorf("%d errors, want %d:\n%v", got, len(want), err)
	}
}

// TestRemovedKeys: keys that are no longer settings get advice, in the
// file and in the environment.
func TestRemovedKeys(t *testing.T) {
	const text = `
[exempt]
health_endpoints = ["/health"]
[headers]
set = "ietf"
[failure.breaker]
cool_down = "5s"
[[rules]]
windows = ["1/s"]
`
	t.Setenv("SLUICE_EXEMPT_HEALTH_ENDPOINTS", "/status")
	msg := ""
	for _, e := range loadErr(t, text) {
		msg += e.Path + ": " + e.Err.Error() + "\n"
	}
	for _, want := range []string{
		"exempt.health_endpoints: no longer a setting: /health, /healthz, /livez and /readyz are exempt unless a rule names one as its exact path; to limit a health endpoint, write a rule for it",
		"env SLUICE_EXEMPT_HEALTH_ENDPOINTS: exempt.health_endpoints: no longer a setting",
		"headers.set: replaced by headers.send",
		"failure.breaker.cool_down: replaced by failure.breaker.backoff",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}

func TestCoreValidationPaths(t *testing.T) {
	t.Parallel()
	const text = `
[identify]
trusted_proxies = ["10.0.0.0/8", "proxy.internal"]
[exempt]
ips = ["not-an-ip"]
endpoints = ["/metrics", "/a/**/b"]
[tiers]
default = "platinum"
[[rules]]
name = "a"
tiers = ["platinum"]
windows = ["10/s"]
cost = 11
`
	_, err := Load(write(t, t.TempDir(), "c.toml", text))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`rules[0].tiers[0]: "platinum": undeclared tier`,
		`rules[0].cost: 11: exceeds the capacity`,
		`exempt.ips[0]: "not-an-ip": exempt IP`,
		`identify.trusted_proxies[1]: "proxy.internal": trusted proxy`,
		`tiers.default: "platinum": undeclared tier`,
		`exempt.endpoints[1]: "/a/**/b"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestTypeErrorHasPath(t *testing.T) {
	t.Parallel()
	_, err := Load(write(t, t.TempDir(), "t.toml", "[[rules]]\ncost = \"lots\"\nwindows = [\"1/s\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "rules[0].cost") {
		t.Fatalf("err = %v, want one naming rules[0].cost", err)
	}
}

func TestRedisSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, redis string
		wantErr     string
	}{
		{"url standalone", `url = "redis://localhost:6379/0?pool_size=5"`, ""},
		{"url sentinel", `url = "redis+sentinel://s1:26379,s2:26379?master_name=m"`, ""},
		{"url cluster", `url = "redis+cluster://n1:6379,n2:6379"`, ""},
		{"url bad scheme", `url = "http://user:pw@x"`, `backend.redis.url: "http://…@x": sluiceredis: `},
		{"url and prefix, batching, caller clock", `url = "redis://x:1"` + "\nprefix = \"app:\"\nbatching = 0\ncaller_clock = true", ""},
		{"standalone", `addr = "localhost:6379"` + "\ndb = 2\ntls = true\ndial_timeout = \"1s\"\npool_timeout = \"2s\"\npool_size = 4", ""},
		{"sentinel", `mode = "sentinel"` + "\naddrs = [\"s1:26379\"]\nmaster_name = \"m\"\nsentinel_password = \"x\"", ""},
		{"sentinel without master", `mode = "sentinel"` + "\naddrs = [\"s1:26379\"]", "backend.redis.master_name"},
		{"cluster", `mode = "cluster"` + "\naddrs = [\"n1:6379\", \"n2:6379\"]\nprefix = \"app:\"\nbatching = 2", ""},
		{"cluster without nodes", `mode = "cluster"`, "backend.redis.addrs"},
		{"cluster with a database", `mode = "cluster"` + "\naddrs = [\"n1:6379\"]\ndb = 1", "database 0 only"},
		{"no address", `db = 1`, "backend.redis.addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := "[backend]\ntype = \"redis\"\n[backend.redis]\n" + tc.redis + "\n[[rules]]\nwindows = [\"1/s\"]\n"
			path := write(t, t.TempDir(), "r.toml", text)
			svc, err := New(path, WithRegisterer(prometheus.NewRegistry()))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRedisClientOptions: every connection field reaches the go-redis
// client, which bounds round trips by their context, and a Cluster client
// reloads its slot map every second.
func TestRedisClientOptions(t *testing.T) {
	t.Parallel()
	r := redisConfig{
		Addr: "cache:6380", Addrs: []string{"n1:6379", "n2:6379"}, MasterName: "m",
		Username: "u", Password: "p", SentinelPassword: "sp", DB: 3, TLS: true, PoolSize: 7,
		DialTimeout: "1s", ReadTimeout: "2s", WriteTimeout: "3s", PoolTimeout: "4s",
	}
	check := func(mode string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", mode, got, want)
		}
	}
	type common struct {
		User, Pass         string
		Pool               int
		Dial, Read, Write  time.Duration
		PoolWait           time.Duration
		TLS, CtxTimeout    bool
		TLSMin             uint16
		DB                 int
		Addr, Master, SPss string
	}
	want := common{User: "u", Pass: "p", Pool: 7, Dial: time.Second, Read: 2 * time.Second, Write: 3 * time.Second,
		PoolWait: 4 * time.Second, TLS: true, CtxTimeout: true, TLSMin: 0x0303, DB: 3}
	for _, mode := range []string{"standalone", "sentinel", "cluster"} {
		r.Mode = mode
		c := r.client()
		switch c := c.(type) {
		case *redis.Client:
			o := c.Options()
			got := common{o.Username, o.Password, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout,
				o.TLSConfig != nil, o.ContextTimeoutEnabled, o.TLSConfig.MinVersion, o.DB, "", "", ""}
			w := want
			if mode == "standalone" {
				got.Addr, w.Addr = o.Addr, "cache:6380"
			}
			check(mode, got, w)
		case *redis.ClusterClient:
			o := c.Options()
			got := common{o.Username, o.Password, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout,
				o.TLSConfig != nil, o.ContextTimeoutEnabled, o.TLSConfig.MinVersion, 3, "", "", ""}
			check(mode, got, want)
			check(mode+" addrs", o.Addrs, r.Addrs)
			check(mode+" reload", o.ClusterStateReloadInterval, time.Second)
		default:
			t.Errorf("%s: %T", mode, c)
		}
		c.Close()
	}
}

// TestIdentifyAndHeaders builds every identification and header setting
// and checks that an API key picks the tier.
func TestIdentifyAndHeaders(t *testing.T) {
	t.Parallel()
	const text = `
[identify]
order = ["api_key", "user"]
trusted_proxies = ["10.0.0.0/8"]
ipv6_prefix = 56
[identify.api_keys]
header = "X-API-Key"
keys = [{key = "k-123", tier = "premium"}]
[identify.jwt]
hmac_secret = "0123456789abcdef0123456789abcdef"
issuer = "me"
leeway = "5s"
[headers]
send = ["triple"]
problem_type = "https://example.com/problems/slow-down"
shadow = true
unavailable_retry_after = "5s"
[metrics]
enabled = true
[logging]
level = "warn"
format = "json"
hash_keys = true
[[rules]]
name = "premium"
tiers = ["premium"]
windows = ["2/minute"]
[[rules]]
windows = ["1/minute"]
`
	svc := newService(t, text)
	if got, want := len(svc.HTTP), 4; got != want {
		t.Errorf("%d http options, want %d", got, want)
	}
	if svc.Metrics == nil {
		t.Error("metrics.enabled built no Metrics")
	}
	d := decide(t, svc, core.Request{Path: "/", Header: http.Header{"X-Api-Key": {"k-123"}}})
	if got, want := d.Rule, "premium"; got != want {
		t.Errorf("rule = %q, want %q (API key identified)", got, want)
	}
}

// serve sends a GET of path through svc's HTTP options and returns the
// response.
func serve(t *testing.T, svc *Service, path string) *http.Response {
	t.Helper()
	h := httpcontract.New(svc.Limiter, svc.HTTP...).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = "192.0.2.1:1"
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHeadersSend(t *testing.T) {
	const rule = "[[rules]]\nwindows = [\"1/minute\"]\n"
	for _, tc := range []struct {
		name, text string
		env        string // SLUICE_HEADERS_SEND, when set
		want, not  []string
	}{
		{"default", rule, "", []string{"Ratelimit-Policy", "Ratelimit"}, []string{"Ratelimit-Limit", "X-Ratelimit-Limit"}},
		{"none", "[headers]\nsend = []\n" + rule, "", nil, []string{"Ratelimit-Policy", "Ratelimit", "Ratelimit-Limit", "X-Ratelimit-Limit"}},
		{"none from the environment", rule, "-", nil, []string{"Ratelimit-Policy", "Ratelimit", "Ratelimit-Limit", "X-Ratelimit-Limit"}},
		{"triple and x", "[headers]\nsend = [\"triple\", \"x\"]\n" + rule, "", []string{"Ratelimit-Limit", "Ratelimit-Reset", "X-Ratelimit-Limit"}, []string{"Ratelimit-Policy"}},
		{"all from the environment", rule, "draft10,triple,x_unix", []string{"Ratelimit-Policy", "Ratelimit-Limit", "X-Ratelimit-Reset"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.env {
			case "":
			case "-":
				t.Setenv("SLUICE_HEADERS_SEND", "")
			default:
				t.Setenv("SLUICE_HEADERS_SEND", tc.env)
			}
			resp := serve(t, newService(t, tc.text), "/")
			for _, h := range tc.want {
				if resp.Header.Get(h) == "" {
					t.Errorf("no %s in %v", h, resp.Header)
				}
			}
			for _, h := range tc.not {
				if resp.Header.Get(h) != "" {
					t.Errorf("%s sent: %v", h, resp.Header)
				}
			}
		})
	}
	t.Run("x_unix", func(t *testing.T) {
		resp := serve(t, newService(t, "[headers]\nsend = [\"x_unix\"]\n"+rule), "/")
		if reset := resp.Header.Get("X-Ratelimit-Reset"); len(reset) < 10 {
			t.Errorf("X-RateLimit-Reset = %q, want a Unix time", reset)
		}
	})
	t.Run("x and x_unix", func(t *testing.T) {
		errs := loadErr(t, "[headers]\nsend = [\"x\", \"x_unix\"]\n"+rule)
		if len(errs) != 1 || errs[0].Path != "headers.send" {
			t.Errorf("errors = %v", errs)
		}
	})
	t.Run("problem type", func(t *testing.T) {
		svc := newService(t, "[headers]\nproblem_type = \"https://example.com/problems/slow-down\"\n"+rule)
		serve(t, svc, "/")
		resp := serve(t, svc, "/")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"type":"https://example.com/problems/slow-down"`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestExemptEndpoints: exempt endpoints are exempt rules, after the file's
// rules: a request they match is Exempt unless a more specific rule (or
// a rule of the same pattern) matches it too.
func TestExemptEndpoints(t *testing.T) {
	t.Parallel()
	svc := newService(t, `
[exempt]
endpoints = ["/internal/**", "/metrics"]
[[rules]]
windows = ["1/minute"]
[[rules]]
name = "admin"
path = "/internal/admin"
windows = ["1/minute"]
`)
	for i, tc := range []struct {
		path string
		want core.Outcome
	}{
		{"/internal/status", core.Exempt},
		{"/internal/status", core.Exempt},
		{"/metrics", core.Exempt},
		{"/metrics", core.Exempt},
		{"/internal/admin", core.Allowed},
		{"/internal/admin", core.Denied},
		{"/healthz", core.Exempt}, // a health endpoint, exempt by default
		{"/healthz", core.Exempt},
	} {
		if d := decide(t, svc, core.Request{Method: "GET", Path: tc.path}); d.Outcome != tc.want {
			t.Errorf("request %d to %s: %v (rule %q), want %v", i, tc.path, d.Outcome, d.Rule, tc.want)
		}
	}
}

// TestHealthEndpointRule: a rule naming a health endpoint exactly limits it.
func TestHealthEndpointRule(t *testing.T) {
	t.Parallel()
	svc := newService(t, "[[rules]]\nname = \"health\"\npath = \"/healthz\"\nwindows = [\"1/minute\"]\n[[rules]]\nwindows = [\"100/minute\"]\n")
	decide(t, svc, core.Request{Path: "/healthz"})
	if d := decide(t, svc, core.Request{Path: "/healthz"}); d.Outcome != core.Denied {
		t.Errorf("second /healthz: %v, want Denied", d.Outcome)
	}
}

// TestExemptClients: exempt addresses, users and API keys are exempt, with
// no other identify setting needed.
func TestExemptClients(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	ip := newService(t, "[exempt]\nips = [\"198.51.100.0/24\"]\n[[rules]]\nwindows = [\"1/minute\"]\n")
	for range 3 {
		if d := decide(t, ip, core.Request{Path: "/", RemoteAddr: "198.51.100.7:1"}); d.Outcome != core.Exempt {
			t.Fatalf("exempt IP: %v", d.Outcome)
		}
	}
	decide(t, ip, core.Request{Path: "/"})
	if d := decide(t, ip, core.Request{Path: "/"}); d.Outcome != core.Denied {
		t.Errorf("another IP: %v, want Denied", d.Outcome)
	}

	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	keys := newService(t, "[identify.jwt]\nhmac_secret = \""+secret+"\"\n[identify.api_keys]\nheader = \"X-API-Key\"\nkeys = [{key = \"k-1\"}, {key = \"k-2\"}]\n"+
		"[exempt]\nusers = [\"ops\"]\napi_keys = [\"k-1\"]\n[[rules]]\nwindows = [\"1/minute\"]\n")
	for i, tc := range []struct {
		header http.Header
		want   core.Outcome
	}{
		{http.Header{"Authorization": {"Bearer " + tok}}, core.Exempt},
		{http.Header{"Authorization": {"Bearer " + tok}}, core.Exempt},
		{http.Header{"X-Api-Key": {"k-1"}}, core.Exempt},
		{http.Header{"X-Api-Key": {"k-1"}}, core.Exempt},
		{http.Header{"X-Api-Key": {"k-2"}}, core.Allowed},
		{http.Header{"X-Api-Key": {"k-2"}}, core.Denied},
	} {
		if d := decide(t, keys, core.Request{Path: "/", Header: tc.header}); d.Outcome != tc.want {
			t.Errorf("request %d: %v as %v, want %v", i, d.Outcome, d.Client, tc.want)
		}
	}

	for _, tc := range []struct{ text, want string }{
		{"[exempt]\napi_keys = [\"k-1\"]\n", "exempt.api_keys"},
		{"[exempt]\nusers = [\"ops\"]\n", "exempt.users"},
	} {
		errs := loadErr(t, tc.text+"[[rules]]\nwindows = [\"1/minute\"]\n")
		if len(errs) != 1 || errs[0].Path != tc.want {
			t.Errorf("%q: errors %v, want one at %s", tc.text, errs, tc.want)
		}
	}
}

func TestFailureSection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       core.Failure
		wantErr    string
	}{
		{"defaults: breaker and deny cache on", "", core.Failure{}, ""},
		{"everything", "mode = \"local\"\ntimeout = \"20ms\"\nlocal_divisor = 3\ndeny_cache = false\n[failure.breaker]\nconsecutive_failures = 3\nbackoff = \"200ms\"\n",
			core.Failure{Mode: "local", Timeout: 20 * time.Millisecond, LocalDivisor: 3, NoDenyCache: true, BreakerFailures: 3, BreakerBackoff: 200 * time.Millisecond}, ""},
		{"breaker off", "[failure.breaker]\nenabled = false\n", core.Failure{BreakerFailures: -1}, ""},
		{"breaker explicitly on", "[failure.breaker]\nenabled = true\nconsecutive_failures = 2\n", core.Failure{BreakerFailures: 2}, ""},
		{"deny cache on", "deny_cache = true\n", core.Failure{}, ""},
		{"breaker off with settings", "[failure.breaker]\nenabled = false\nbackoff = \"1s\"\n", core.Failure{}, "failure.breaker.enabled: false: the breaker is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := "[failure]\n" + tc.text + "\n[[rules]]\nwindows = [\"1/s\"]\n"
			c, err := Load(write(t, t.TempDir(), "f.toml", text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var p problems
			if got := c.Failure.core(&p); got != tc.want {
				t.Errorf("core.Failure = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestHashKeys: with logging.hash_keys the client of every log line is its
// kind and a keyed hash, never the address.
func TestHashKeys(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	svc := newService(t, "[logging]\nlevel = \"warn\"\nhash_keys = true\nhash_secret = \"s3cret\"\n[[rules]]\nwindows = [\"1/minute\"]\n",
		withLogOutput(&logs))
	decide(t, svc, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
	decide(t, svc, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"}) // denied: logged at Warn
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte("ip:192.0.2.1"))
	want := "client=ip:" + hex.EncodeToString(mac.Sum(nil))[:16]
	if out := logs.String(); !strings.Contains(out, want) || strings.Contains(out, "192.0.2.1") {
		t.Errorf("log %q, want %s and no address", out, want)
	}

	logs = lockedBuffer{}
	random := newService(t, "[logging]\nlevel = \"warn\"\nformat = \"json\"\nhash_keys = true\n[[rules]]\nwindows = [\"1/minute\"]\n",
		withLogOutput(&logs))
	decide(t, random, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
	decide(t, random, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
	if out := logs.String(); !regexp.MustCompile(`"client":"ip:[0-9a-f]{16}"`).MatchString(out) || strings.Contains(out, "192.0.2.1") {
		t.Errorf("log %q, want a hashed client and no address", out)
	}
}

// TestMemoryMaxKeys: backend.memory.max_keys bounds the memory backend: a
// client pushed out by many others starts afresh.
func TestMemoryMaxKeys(t *testing.T) {
	t.Parallel()
	const rule = "[[rules]]\nwindows = [\"1/h\"]\n"
	for _, tc := range []struct {
		text string
		want core.Outcome
	}{
		{rule, core.Denied}, // bounded to a million states
		{"[backend.memory]\nmax_keys = 16\n" + rule, core.Allowed},
		{"[backend.memory]\nmax_keys = -1\n" + rule, core.Denied}, // unbounded
	} {
		svc := newService(t, tc.text)
		decide(t, svc, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
		for i := range 200 {
			decide(t, svc, core.Request{Path: "/", RemoteAddr: fmt.Sprintf("198.51.100.%d:1", i)})
		}
		if d := decide(t, svc, core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"}); d.Outcome != tc.want {
			t.Errorf("%q: the first client again: %v, want %v", tc.text, d.Outcome, tc.want)
		}
	}
}

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Logging.Level != "info" || !c.Metrics.Enabled {
		t.Errorf("the example logs at %q with metrics %v, want info and on", c.Logging.Level, c.Metrics.Enabled)
	}
	svc := newService(t, mustRead(t, "../config.example.toml"))
	if svc.Metrics == nil {
		t.Error("no metrics")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPenalty(t *testing.T) {
	t.Parallel()
	text := "[[rules]]\nwindows = [\"5/minute\"]\n[rules.penalty]\nthreshold = 3\nwindow = \"1m\"\nbase = \"30s\"\nmultiplier = 3.0\nmax = \"10m\"\ndecay = \"1h\"\n"
	c, err := Load(write(t, t.TempDir(), "p.toml", text))
	if err != nil {
		t.Fatal(err)
	}
	got := rulesOf(t, c)[0].Penalty
	want := &core.Penalty{Threshold: 3, Window: time.Minute, Base: 30 * time.Second, Multiplier: 3, Max: 10 * time.Minute, Decay: time.Hour}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("penalty = %+v, want %+v", got, want)
	}
	bad := "[[rules]]\nwindows = [\"5/minute\"]\n[rules.penalty]\nthreshold = 0\nwindow = \"1m\"\nbase = \"ages\"\n"
	_, err = Load(write(t, t.TempDir(), "p.toml", bad))
	if err == nil || !strings.Contains(err.Error(), `rules[0].penalty.base: "ages": not a duration`) {
		t.Errorf("err = %v", err)
	}
	bad = "[[rules]]\nwindows = [\"5/minute\"]\n[rules.penalty]\nthreshold = 0\nwindow = \"1m\"\nbase = \"1s\"\n"
	_, err = Load(write(t, t.TempDir(), "p.toml", bad))
	if err == nil || !strings.Contains(err.Error(), `rules[0].penalty.threshold: 0: must be at least 1`) {
		t.Errorf("err = %v", err)
	}
}

func TestSchemaAndLibraryErrorsTogether(t *testing.T) {
	t.Parallel()
	const text = `
[logging]
level = "loud"
[exempt]
ips = ["not-an-ip"]
[[rules]]
name = "a"
tiers = ["platinum"]
windows = ["10/s"]
[[rules]]
name = "b"
windows = ["10/x"]
max_delay = "1s"
algorithm = "fixed_window"
`
	_, err := Load(write(t, t.TempDir(), "e.toml", text))
	errs := configErrorsOf(t, err)
	for _, w := range []string{`logging.level: "loud"`, `exempt.ips[0]: "not-an-ip"`, `rules[0].tiers[0]: "platinum": undeclared tier`, `rules[1].windows[0]: "10/x"`, `rules[1].max_delay: 1s: throttling needs the token_bucket`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if got, want := len(errs), 5; got != want {
		t.Errorf("%d errors, want %d (no library error repeating rules[1]'s windows error):\n%v", got, want, err)
	}
}

// TestFailedBuildRegistersNothing builds a Service that fails after its
// metrics were registered (a Redis URL no scheme accepts, set after
// validation), then builds a good one on the same registry.
func TestFailedBuildRegistersNothing(t *testing.T) {
	t.Parallel()
	c, err := Load(write(t, t.TempDir(), "sluice.toml", "[metrics]\nenabled = true\n[backend]\ntype = \"redis\"\n[backend.redis]\nurl = \"redis://127.0.0.1:1\"\n[[rules]]\nwindows = [\"1/s\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := options{reg: reg, logOutput: io.Discard}
	bad := *c
	bad.Backend.Redis.URL = "redis+ring://127.0.0.1:1"
	if _, err := build(&bad, "", o); err == nil {
		t.Fatal("a build with a redis+ring URL succeeded")
	}
	svc, err := build(c, "", o)
	if err != nil {
		t.Fatalf("a build after a failed one on the same registry: %v", err)
	}
	svc.Close()
}

// TestEnvArrays sets fields of array elements from the environment,
// SLUICE_<ARRAY>_<i>_<FIELD>, in every file format, and adds an element
// one past the end.
func TestEnvArrays(t *testing.T) {
	for _, f := range []struct{ name, text string }{{"sluice.toml", tomlConfig}, {"sluice.yaml", yamlConfig}, {"sluice.json", jsonConfig}} {
		t.Run(f.name, func(t *testing.T) {
			path := write(t, t.TempDir(), f.name, f.text)
			t.Setenv("SLUICE_RULES_0_WINDOWS", "7/s,70/minute")
			t.Setenv("SLUICE_RULES_1_SHADOW", "false")
			t.Setenv("SLUICE_RULES_1_PENALTY_THRESHOLD", "3")
			t.Setenv("SLUICE_RULES_1_PENALTY_BASE", "1m")
			t.Setenv("SLUICE_RULES_1_PENALTY_WINDOW", "1m")
			t.Setenv("SLUICE_RULES_2_TIERS", "") // an empty list, not [""]
			t.Setenv("SLUICE_RULES_3_NAME", "search")
			t.Setenv("SLUICE_RULES_3_PATH", "/search")
			t.Setenv("SLUICE_RULES_3_METHODS", "GET,HEAD")
			t.Setenv("SLUICE_RULES_3_WINDOWS", "2/s")
			t.Setenv("SLUICE_IDENTIFY_API_KEYS_HEADER", "X-API-Key")
			t.Setenv("SLUICE_IDENTIFY_API_KEYS_KEYS_0_KEY", "k-123")
			t.Setenv("SLUICE_IDENTIFY_API_KEYS_KEYS_0_TIER", "gold")
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Rules) != 4 {
				t.Fatalf("%d rules, want the file's 3 and one from the environment", len(c.Rules))
			}
			api, login, search := c.Rules[0], c.Rules[1], c.Rules[3]
			if got := []string{api.Windows[0].Text, api.Windows[1].Text}; len(api.Windows) != 2 || got[0] != "7/s" || got[1] != "70/minute" {
				t.Errorf("rules[0].windows = %+v, want 7/s and 70/minute", api.Windows)
			}
			if api.Cost != 2 || api.Path != "/api/**" {
				t.Errorf("rules[0] lost its other fields: %+v", api)
			}
			if login.Shadow || login.Penalty == nil || login.Penalty.Threshold != 3 || login.Penalty.Base != "1m" || login.Name != "login" {
				t.Errorf("rules[1] = %+v, penalty %+v; want shadow off and the penalty set", login, login.Penalty)
			}
			if search.Name != "search" || search.Path != "/search" || !reflect.DeepEqual(search.Methods, []string{"GET", "HEAD"}) || len(search.Windows) != 1 {
				t.Errorf("rules[3] = %+v, want the rule the environment added", search)
			}
			if tiers := c.Rules[2].Tiers; len(tiers) != 0 {
				t.Errorf("rules[2].tiers = %q, want empty", tiers)
			}
			if keys := c.Identify.APIKeys.Keys; len(keys) != 1 || keys[0].Key != "k-123" || keys[0].Tier != "gold" {
				t.Errorf("identify.api_keys.keys = %+v", keys)
			}
		})
	}
}

func TestEnvArraysErrors(t *testing.T) {
	path := write(t, t.TempDir(), "sluice.toml", tomlConfig)
	t.Setenv("SLUICE_RULES_5_NAME", "far")   // skips rules[3] and [4]
	t.Setenv("SLUICE_RULES_0_WINDOW", "1/s") // typo: no such field
	t.Setenv("SLUICE_RULES_X_NAME", "x")     // not an index
	t.Setenv("SLUICE_RULES_01_NAME", "x")    // not how an index is written
	_, err := Load(path)
	errs := configErrorsOf(t, err)
	for _, want := range []string{"env SLUICE_RULES_5_NAME", "env SLUICE_RULES_0_WINDOW", "env SLUICE_RULES_X_NAME", "env SLUICE_RULES_01_NAME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if len(errs) != 4 {
		t.Errorf("%d errors, want 4: %v", len(errs), err)
	}
}

// TestJWTSources: a JWKS URL, and unverified_subject alone, each turn JWT
// identification on.
func TestJWTSources(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A set with only a symmetric key: a URL never supplies one.
		fmt.Fprintf(w, `{"keys":[{"kty":"oct","kid":"k","k":%q}]}`, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY")
	}))
	defer jwks.Close()
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	auth := http.Header{"Authorization": {"Bearer " + tok}}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	es.Header["kid"] = "k"
	esTok, _ := es.SignedString(ecKey)
	rule := "[[rules]]\nwindows = [\"10/minute\"]\n"

	gateway := newService(t, "[identify.jwt]\nunverified_subject = true\n"+rule)
	if d := decide(t, gateway, core.Request{Path: "/", Header: auth}); d.Client != (core.Identity{Kind: core.KindUnverified, Value: "alice", Tier: "anonymous"}) {
		t.Errorf("unverified_subject alone: client %v (tier %q)", d.Client, d.Client.Tier)
	}
	var logs lockedBuffer
	remote := newService(t, "[logging]\nlevel = \"warn\"\n[identify.jwt]\njwks_url = \""+jwks.URL+"\"\njwks_refresh = \"10m\"\njwks_min_refresh = \"30s\"\n"+rule,
		withLogOutput(&logs))
	if d := decide(t, remote, core.Request{Path: "/", Header: auth}); d.Client.Kind != core.KindIP {
		t.Errorf("a token only a symmetric key from a URL verifies: client %v, want the IP address", d.Client)
	}
	// An ES256 token makes the Verifier fetch the set, which has no key.
	if d := decide(t, remote, core.Request{Path: "/", Header: http.Header{"Authorization": {"Bearer " + esTok}}}); d.Client.Kind != core.KindIP {
		t.Errorf("a token no key verifies: client %v, want the IP address", d.Client)
	}
	if !strings.Contains(logs.String(), "JWKS fetch failed") {
		t.Errorf("the failed fetch was not logged to the Service's logger: %q", logs.String())
	}
	for _, tc := range []struct{ jwt, want string }{
		{"jwks_url = \"http://auth.example.com/jwks\"\n", "identify.jwt: sluicejwt: JWKS URL"},
		{"jwks_url = \"https://auth.example.com/jwks\"\njwks_refresh = \"hourly\"\n", "identify.jwt.jwks_refresh"},
	} {
		_, err := Load(write(t, t.TempDir(), "j.toml", "[identify.jwt]\n"+tc.jwt+rule))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.jwt, err, tc.want)
		}
	}
}

// TestPrefetchRule checks that rules[].prefetch reaches the rule, and that
// a rule core refuses to prefetch is an error with the key's path.
func TestPrefetchRule(t *testing.T) {
	svc := newService(t, "[[rules]]\nname = \"api\"\nalgorithm = \"fixed_window\"\nwindows = [\"100/s\"]\nprefetch = \"100ms\"\n")
	if got := svc.Limiter.Rules()[0].Prefetch; got != 100*time.Millisecond {
		t.Errorf("prefetch = %v, want 100ms", got)
	}
	_, err := New(write(t, t.TempDir(), "sluice.toml", "[[rules]]\nname = \"log\"\nalgorithm = \"sliding_log\"\nwindows = [\"100/s\"]\nprefetch = \"100ms\"\n"))
	if err == nil || !strings.Contains(err.Error(), "rules[0].prefetch") {
		t.Errorf("prefetch on a sliding log: %v, want an error at rules[0].prefetch", err)
	}
}
