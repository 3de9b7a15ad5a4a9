package e2e

import (
	"fmt"
	"strings"
	"time"
)

// The limits of the shared configuration file; the scenarios check them.
const (
	exactLimit    = 20 // tb, log, fixed, swc: per hour
	anonLimit     = 10 // /api/** for anonymous clients, per hour
	standardLimit = 20 // /api/** for standard users
	premiumLimit  = 40 // /api/** for premium users
	loginLimit    = 3  // POST /login, per hour
	reloadBefore  = 30 // /api/reload/**, per hour, until the reload
	reloadAfter   = 10 // ... and after it
	localLimit    = 30 // /api/local/**, per hour; per instance L/3 when Redis is down
	localDivisor  = 3
	clientsLimit  = 5         // /api/clients/**, per second
	clientLimit   = 10        // /api/client/**, per second: scenario 7's sluiceclient
	clientCalls   = 100       // calls per adapter
	clientCallers = 4         // in flight at once
	hotLimit      = 1000      // /api/hot/{direct,lease}/**, per second
	hotUnderLimit = 1_000_000 // /api/hot/{direct,lease}-under/**, per second
	hotWorkers    = 24        // closed loops flooding a hot key
	crashLimit    = 2000      // /api/hot/crash/**, per crashPeriod
	crashPeriod   = 2 * time.Second
	crashRate     = 2000 // requests per second on it
	jwtSecret     = "e2e-secret-0123456789abcdef0123456789abcdef"

	// backendTimeout bounds each backend call (failure.timeout). The
	// default, 50ms, is for production; on a shared 2-core CI machine
	// running seven Redis servers, seven instances and the load, a call can
	// take longer, and a timed-out decision fails open and admits.
	backendTimeout = 200 * time.Millisecond
)

// params are what varies in the configuration file.
type params struct {
	RedisURL       string
	TrustedProxies string // a TOML array
	OpenFailure    string // failure mode of the "open" rule
	TierClaim      string // the JWT claim holding the tier
	ReloadName     string // name of the reload rule
	ReloadLimit    int
	Prefetch       string // rules[].prefetch of the leasing rules
}

func defaultParams(redisURL string) params {
	return params{
		RedisURL:       redisURL,
		TrustedProxies: `["127.0.0.1"]`,
		OpenFailure:    "open",
		TierClaim:      "tier",
		ReloadName:     "reload",
		ReloadLimit:    reloadBefore,
		Prefetch:       "100ms",
	}
}

// render returns the configuration file. Every instance reads the same
// file; the standalone group overrides the Redis URL with
// SLUICE_BACKEND_REDIS_URL.
func (p params) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, `[backend]
type = "redis"

[backend.redis]
url = %q

[identify]
trusted_proxies = %s

[identify.jwt]
hmac_secret = %q
tier_claim = %q

# The circuit breaker is on by default (open after 5 consecutive failures,
# probe after 50ms, doubling up to 400ms), and responses carry the draft-10
# RateLimit and RateLimit-Policy fields: the defaults are what is tested.
[failure]
mode = "open"
timeout = %q
local_divisor = %d

[metrics]
enabled = true

[logging]
level = "warn"
`, p.RedisURL, p.TrustedProxies, jwtSecret, p.TierClaim, backendTimeout.String(), localDivisor)
	rule := func(name, path, algorithm string, limit string, extra ...string) {
		fmt.Fprintf(&b, "\n[[rules]]\nname = %q\npath = %q\nalgorithm = %q\nwindows = [%q]\n", name, path, algorithm, limit)
		for _, e := range extra {
			b.WriteString(e + "\n")
		}
	}
	perHour := func(n int) string { return fmt.Sprintf("%d/h", n) }
	// Scenario 1: one rule per algorithm, each exactly exactLimit per hour.
	rule("tb", "/api/tb/**", "token_bucket", perHour(exactLimit))
	rule("log", "/api/log/**", "sliding_log", perHour(exactLimit))
	rule("fixed", "/api/fixed/**", "fixed_window", perHour(exactLimit))
	rule("swc", "/api/swc/**", "sliding_window", perHour(exactLimit))
	// Scenario 2: tiers on /api/**, and a login rule of its own.
	rule("api-premium", "/api/**", "token_bucket", perHour(premiumLimit), `tiers = ["premium"]`)
	rule("api-standard", "/api/**", "token_bucket", perHour(standardLimit), `tiers = ["standard"]`)
	rule("api", "/api/**", "token_bucket", perHour(anonLimit))
	rule("login", "/login", "sliding_log", perHour(loginLimit), `methods = ["POST"]`)
	// Scenario 4: one rule per failure mode.
	rule("open", "/api/open/**", "token_bucket", perHour(1_000_000), fmt.Sprintf("failure = %q", p.OpenFailure))
	rule("closed", "/api/closed/**", "token_bucket", perHour(1_000_000), `failure = "closed"`)
	rule("local", "/api/local/**", "sliding_log", perHour(localLimit), `failure = "local"`)
	// Scenario 5: the rule the reload lowers. A counting algorithm, so
	// that "usage is kept" means the same count.
	rule(p.ReloadName, "/api/reload/**", "sliding_log", perHour(p.ReloadLimit))
	// Scenario 6: a per-second limit, so Retry-After is short.
	rule("clients", "/api/clients/**", "token_bucket", fmt.Sprintf("%d/s", clientsLimit))
	// Scenario 7: the limit sluiceclient learns from the responses.
	rule("client", "/api/client/**", "token_bucket", fmt.Sprintf("%d/s", clientLimit))
	// Scenario 9: one hot key, a fixed window leased in batches or decided
	// by one Redis call per decision, over its limit and under it.
	var lease string
	if p.Prefetch != "" {
		lease = fmt.Sprintf("prefetch = %q", p.Prefetch)
	}
	perSecond := func(n int) string { return fmt.Sprintf("%d/s", n) }
	rule("hot-direct", "/api/hot/direct/**", "fixed_window", perSecond(hotLimit))
	rule("hot-lease", "/api/hot/lease/**", "fixed_window", perSecond(hotLimit), lease)
	rule("hot-direct-under", "/api/hot/direct-under/**", "fixed_window", perSecond(hotUnderLimit))
	rule("hot-lease-under", "/api/hot/lease-under/**", "fixed_window", perSecond(hotUnderLimit), lease)
	rule("hot-crash", "/api/hot/crash/**", "fixed_window", fmt.Sprintf("%d/%v", crashLimit, crashPeriod), lease)
	b.WriteString("\n[[rules]]\nname = \"default\"\nwindows = [\"1000/minute\"]\n")
	return b.String()
}
