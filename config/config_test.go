package sluiceconfig

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
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
			Limits: []core.Limit{core.PerMinute(100), core.Limit{N: 10, Per: time.Second, Burst: 20}}},
		{Name: "login", Path: "/login", Algorithm: backend.SlidingLog, Limits: []core.Limit{core.Limit{N: 5, Per: 15*time.Minute}},
			Failure: "closed", Shadow: true},
		{Name: "gold", Tiers: []string{"gold"}, Group: "g", Limits: []core.Limit{core.Limit{N: 1000, Per: time.Hour, Burst: 50}}},
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ name, file, text string }{
		{"toml", "sluice.toml", tomlConfig},
		{"yaml", "sluice.yaml", yamlConfig},
		{"yml", "sluice.yml", yamlConfig},
		{"json", "sluice.json", jsonConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(write(t, t.TempDir(), tc.file, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.CoreRules(), wantRules(); !reflect.DeepEqual(got, want) {
				t.Errorf("rules:\n got %+v\nwant %+v", got, want)
			}
			svc, err := c.Build(WithRegisterer(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			d, err := svc.Limiter.Decide(t.Context(), core.Request{Method: "GET", Path: "/api/x", RemoteAddr: "192.0.2.1:1"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Rule, "api"; got != want {
				t.Errorf("rule = %q, want %q", got, want)
			}
		})
	}
}

func TestGlobalShadow(t *testing.T) {
	c, err := Load(write(t, t.TempDir(), "s.toml", "shadow = true\n[[rules]]\nwindows = [\"1/minute\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Build(WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for i := range 3 {
		d, err := svc.Limiter.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		if !d.Outcome.Proceed() {
			t.Fatalf("request %d: outcome %v, want one that proceeds", i, d.Outcome)
		}
		if i > 0 && d.Outcome != core.ShadowDenied {
			t.Errorf("request %d: outcome %v, want ShadowDenied", i, d.Outcome)
		}
	}
}

func TestEnvOverride(t *testing.T) {
	path := write(t, t.TempDir(), "sluice.toml", tomlConfig)
	t.Setenv("SLUICE_BACKEND_TYPE", "redis")
	t.Setenv("SLUICE_BACKEND_REDIS_URL", "redis+sentinel://user:secret@s1:26379?master_name=m&addr=s2:26379")
	t.Setenv("SLUICE_FAILURE_BREAKER_ENABLED", "true")
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
	if !c.Failure.Breaker.Enabled || c.Failure.Timeout != "20ms" || !c.Shadow || c.Identify.IPv6Prefix != 56 {
		t.Errorf("failure = %+v, shadow = %v, ipv6_prefix = %d", c.Failure, c.Shadow, c.Identify.IPv6Prefix)
	}
	if got, want := c.Exempt.IPs, []string{"10.0.0.1", "10.0.0.0/8"}; !reflect.DeepEqual(got, want) {
		t.Errorf("exempt.ips = %q, want %q", got, want)
	}
	for _, r := range c.CoreRules() {
		if !r.Shadow {
			t.Errorf("rule %s: global shadow not applied", r.Name)
		}
	}
	// The backend is built without connecting.
	b, closer, err := c.BuildBackend()
	if err != nil || b == nil {
		t.Fatalf("BuildBackend = %v, %v", b, err)
	}
	closer.Close()
}

func TestEnvOnly(t *testing.T) {
	t.Setenv("SLUICE_LOGGING_LEVEL", "warn")
	_, err := Load("")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "rules" {
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

func TestValidationCollectsEveryError(t *testing.T) {
	t.Parallel()
	const broken = `
shadow = false
colour = "blue"

[backend]
type = "postgres"

[backend.redis]
dial_timeout = "soon"

[failure]
mode = "sometimes"
timeout = "-1s"

[failure.breaker]
failure_ratio = 2.0

[headers]
set = "all"

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
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := []string{
		`backend.redis.dial_timeout: "soon": not a duration`,
		`backend.type: "postgres": want one of memory, redis`,
		`colour: unknown key`,
		`failure.breaker.failure_ratio: 2: must be between 0 and 1`,
		`failure.mode: "sometimes": want one of open, closed, local`,
		`failure.timeout: "-1s": must not be negative`,
		`headers.set: "all": want one of both, legacy, ietf, none`,
		`logging.levle: unknown key`,
		`rules[1].algorithm: "leaky": unknown algorithm`,
		`rules[1].windows[1].period: "": required`,
		`rules[2].failure: "maybe": unknown failure mode`,
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

func TestCoreValidationPaths(t *testing.T) {
	t.Parallel()
	const text = `
[exempt]
ips = ["not-an-ip"]
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
	for _, w := range []string{`rules[0].tiers[0]: "platinum": undeclared tier`, `rules[0].cost: 11: exceeds the capacity`, `exempt.ips[0]: "not-an-ip"`} {
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

func TestRedisBackends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, redis string
		wantErr     string
	}{
		{"url standalone", `url = "redis://localhost:6379/0?pool_size=5"`, ""},
		{"url sentinel", `url = "redis+sentinel://s1:26379?master_name=m&addr=s2:26379"`, ""},
		{"url cluster", `url = "redis+cluster://n1:6379?addr=n2:6379"`, ""},
		{"url bad scheme", `url = "http://user:pw@x"`, `backend.redis.url: "http://…@x": sluiceredis: `},
		{"standalone", `addr = "localhost:6379"` + "\ndb = 2\ntls = true\ndial_timeout = \"1s\"", ""},
		{"sentinel", `mode = "sentinel"` + "\naddrs = [\"s1:26379\"]\nmaster_name = \"m\"", ""},
		{"sentinel without master", `mode = "sentinel"` + "\naddrs = [\"s1:26379\"]", "backend.redis.master_name"},
		{"cluster", `mode = "cluster"` + "\naddrs = [\"n1:6379\", \"n2:6379\"]\nprefix = \"app:\"", ""},
		{"cluster without nodes", `mode = "cluster"`, "backend.redis.addrs"},
		{"url and addr", `url = "redis://x:1"` + "\naddr = \"y:2\"", "set either url or"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := "[backend]\ntype = \"redis\"\n[backend.redis]\n" + tc.redis + "\n[[rules]]\nwindows = [\"1/s\"]\n"
			c, err := Load(write(t, t.TempDir(), "r.toml", text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			svc, err := c.Build(WithRegisterer(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

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
set = "ietf"
reset = "unix"
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
	c, err := Load(write(t, t.TempDir(), "i.toml", text))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.HTTPOptions()), 4; got != want {
		t.Errorf("%d http options, want %d", got, want)
	}
	svc, err := c.Build(WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if svc.Metrics == nil {
		t.Error("metrics.enabled built no Metrics")
	}
	h := map[string][]string{"X-Api-Key": {"k-123"}}
	d, err := svc.Limiter.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1", Header: headers(h)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Rule, "premium"; got != want {
		t.Errorf("rule = %q, want %q (API key identified)", got, want)
	}
}

type headers map[string][]string

func (h headers) Get(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
func (h headers) Values(k string) []string { return h[k] }

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Build(WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
}

func TestPenalty(t *testing.T) {
	t.Parallel()
	text := "[[rules]]\nwindows = [\"5/minute\"]\n[rules.penalty]\nthreshold = 3\nwindow = \"1m\"\nbase = \"30s\"\nmultiplier = 3.0\nmax = \"10m\"\ndecay = \"1h\"\n"
	c, err := Load(write(t, t.TempDir(), "p.toml", text))
	if err != nil {
		t.Fatal(err)
	}
	got := c.CoreRules()[0].Penalty
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
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
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
	bad := *c
	bad.Backend.Redis.URL = "redis+ring://127.0.0.1:1"
	if _, err := bad.Build(WithRegisterer(reg)); err == nil {
		t.Fatal("Build with a redis+ring URL succeeded")
	}
	svc, err := c.Build(WithRegisterer(reg))
	if err != nil {
		t.Fatalf("Build after a failed Build on the same registry: %v", err)
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
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load = %v, want Errors", err)
	}
	for _, want := range []string{"env SLUICE_RULES_5_NAME", "env SLUICE_RULES_0_WINDOW", "env SLUICE_RULES_X_NAME", "env SLUICE_RULES_01_NAME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if len(errs) != 4 {
		t.Errorf("%d errors, want 4: %v", len(errs), err)
	}
}
