package e2e

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// group is a set of instances sharing one Redis.
type group struct {
	name string
	ins  []*instance
}

func (h *harness) groups() []group {
	return []group{{"cluster", h.onCluster}, {"standalone", h.onStandalone}}
}

// admittedEach returns how many requests of each tag were admitted, in tag
// order, and a summary such as "20 each" or "20, 21, 20".
func admittedEach(res map[string][]result, tags []string) (counts []int, summary string) {
	for _, tag := range tags {
		counts = append(counts, summarise(res[tag]).admitted)
	}
	return counts, countsSummary(counts)
}

func countsSummary(counts []int) string {
	if len(counts) > 0 && slices.Min(counts) == slices.Max(counts) {
		return fmt.Sprintf("%d each", counts[0])
	}
	s := make([]string, len(counts))
	for i, c := range counts {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ", ")
}

// noFailures checks that no response was a 5xx or a transport error.
func noFailures(sr *scenarioReport, what string, rs []result) {
	sr.t.Helper()
	s := summarise(rs)
	sr.expectEq(what+": 5xx and transport errors", "0 of "+strconv.Itoa(s.requests),
		strconv.Itoa(s.unavailable+s.other5xx+s.errors)+" of "+strconv.Itoa(s.requests))
}

// avoidHourBoundary waits for the next hour when it is less than a burst's
// length away: fixed windows and sliding window counters are aligned to the
// clock, and a burst across a boundary may rightly admit up to twice the
// limit (see docs/algorithms.md), which is not what scenario 1 checks.
func avoidHourBoundary(h *harness) {
	now := time.Now()
	next := now.Truncate(time.Hour).Add(time.Hour)
	if left := next.Sub(now); left < 30*time.Second {
		h.t.Logf("waiting %v for the hour boundary to pass", left.Round(time.Millisecond))
		time.Sleep(left + time.Second)
	}
}

// Scenario 1: for a limit L per window, the total admitted over all
// instances is exactly L per client, under every algorithm, on the Cluster
// and on the standalone Redis.
func scenarioExactness(h *harness, sr *scenarioReport) {
	avoidHourBoundary(h)
	const clients, requests = 6, 3 * exactLimit
	for _, g := range h.groups() {
		var shots [][]shot
		tags := map[string][]string{}
		algorithms := []string{"tb", "log", "fixed", "swc"}
		for _, alg := range algorithms {
			for i := range clients {
				tag := fmt.Sprintf("%s/%s/%d", g.name, alg, i)
				tags[alg] = append(tags[alg], tag)
				shots = append(shots, spread(g.ins, requests, "GET", "/api/"+alg+"/item", client{ip: h.newIP()}, tag))
			}
		}
		res := h.burst(interleave(shots...), 48)
		for _, alg := range algorithms {
			counts, summary := admittedEach(res, tags[alg])
			// A decision that times out fails open and admits: say so,
			// since it explains an admission beyond the limit.
			if fo := summarise(merge(mapValues(res, tags[alg])...)).failOpen; fo > 0 {
				summary += fmt.Sprintf(" (%d failed open: the backend timed out)", fo)
			}
			sr.expect(slices.Min(counts) == exactLimit && slices.Max(counts) == exactLimit,
				fmt.Sprintf("%s, %s: admitted per client (%d clients × %d requests racing over %d instances)",
					g.name, alg, clients, requests, len(g.ins)),
				fmt.Sprintf("%d each", exactLimit), summary)
		}
		sr.recordAll(res)
		noFailures(sr, g.name, merge(slices.Collect(maps.Values(res))...))
	}
}

// token returns a JWT for subject with the given tier ("" for none),
// signed with secret, valid for an hour.
func token(subject, tier string, secret []byte) string {
	claims := jwt.MapClaims{"sub": subject, "exp": time.Now().Add(time.Hour).Unix()}
	if tier != "" {
		claims["tier"] = tier
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		panic(err)
	}
	return s
}

// unsigned returns an "alg: none" token claiming subject and tier.
func unsigned(subject, tier string) string {
	claims := jwt.MapClaims{"sub": subject, "tier": tier, "exp": time.Now().Add(time.Hour).Unix()}
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		panic(err)
	}
	return s
}

// Scenario 2: premium users get their limit, standard users and anonymous
// clients theirs; /login and /api/** count separately; exempt health checks
// never see 429.
func scenarioTiers(h *harness, sr *scenarioReport) {
	const n, requests = 3, 60
	secret := []byte(jwtSecret)
	for _, g := range h.groups() {
		var shots [][]shot
		var premium, standard, anon []string
		anonClients := map[string]client{}
		for i := range n {
			// A user is keyed by the verified subject, whatever its address:
			// every request of a user comes from a different IP.
			p := fmt.Sprintf("%s/premium/%d", g.name, i)
			premium = append(premium, p)
			tok := token("premium-"+p, "premium", secret)
			var ps []shot
			for j := range requests {
				ps = append(ps, shot{in: g.ins[j%len(g.ins)], method: "GET", path: "/api/data",
					c: client{ip: h.newIP(), token: tok}, tag: p})
			}
			shots = append(shots, ps)
			s := fmt.Sprintf("%s/standard/%d", g.name, i)
			standard = append(standard, s)
			shots = append(shots, spread(g.ins, requests, "GET", "/api/data",
				client{ip: h.newIP(), token: token("standard-"+s, "", secret)}, s))
			a := fmt.Sprintf("%s/anonymous/%d", g.name, i)
			anon = append(anon, a)
			anonClients[a] = client{ip: h.newIP()}
			shots = append(shots, spread(g.ins, requests, "GET", "/api/data", anonClients[a], a))
		}
		res := h.burst(interleave(shots...), 48)
		for _, c := range []struct {
			who   string
			tags  []string
			limit int
		}{{"premium users (JWT tier=premium, a new IP per request)", premium, premiumLimit},
			{"standard users (JWT without tier)", standard, standardLimit},
			{"anonymous clients (IP)", anon, anonLimit}} {
			_, summary := admittedEach(res, c.tags)
			sr.expectEq(fmt.Sprintf("%s, %s: admitted of %d on /api/**", g.name, c.who, requests),
				fmt.Sprintf("%d each", c.limit), summary)
		}
		sr.recordAll(res)

		// The anonymous clients used up /api/**; /login is counted apart,
		// and health checks are exempt.
		var after [][]shot
		var logins, healths, apis []string
		for _, a := range anon {
			c := anonClients[a]
			logins = append(logins, a+"/login")
			after = append(after, spread(g.ins, 2*loginLimit, "POST", "/login", c, a+"/login"))
			healths = append(healths, a+"/healthz")
			after = append(after, spread(g.ins, 30, "GET", "/healthz", c, a+"/healthz"))
		}
		// A fresh client logs in first, then uses /api/**: the logins did
		// not spend its /api/** quota.
		fresh := client{ip: h.newIP()}
		res2 := h.burst(interleave(after...), 24)
		res3 := h.burst(spread(g.ins, 2*loginLimit, "POST", "/login", fresh, "fresh/login"), 1)
		apis = append(apis, "fresh/api")
		res4 := h.burst(spread(g.ins, 2*anonLimit, "GET", "/api/data", fresh, "fresh/api"), 1)
		_, s := admittedEach(res2, logins)
		sr.expectEq(g.name+", anonymous clients that used up /api/**: POST /login admitted of 6", fmt.Sprintf("%d each", loginLimit), s)
		hs := summarise(merge(mapValues(res2, healths)...))
		sr.expectEq(g.name+", exempt GET /healthz from clients over their limits: 429s", "0 of "+strconv.Itoa(hs.requests),
			strconv.Itoa(hs.denied)+" of "+strconv.Itoa(hs.requests))
		sr.expectEq(g.name+", exempt GET /healthz: 200s", hs.requests, hs.admitted)
		_, s = admittedEach(res4, apis)
		sr.expectEq(g.name+", a client after 6 logins (3 admitted): GET /api/data admitted of 20", fmt.Sprintf("%d each", anonLimit), s)
		_, s = admittedEach(res3, []string{"fresh/login"})
		sr.expectEq(g.name+", that client's POST /login admitted of 6", fmt.Sprintf("%d each", loginLimit), s)
		sr.recordAll(res2, res3, res4)
	}
}

func mapValues(m map[string][]result, keys []string) [][]result {
	out := make([][]result, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// fromAddress returns an HTTP client whose connections come from the given
// loopback address, which the instances do not trust as a proxy.
func fromAddress(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 64,
	}}
}

// Scenario 3: a client forging X-Forwarded-For from an untrusted address is
// limited by its real address; a forged or unsigned JWT claiming premium is
// limited as anonymous, and never spends the real user's counter.
func scenarioSpoofing(h *harness, sr *scenarioReport) {
	const requests = 60
	for i, g := range h.groups() {
		// 127.0.0.1 is the trusted proxy; 127.0.0.2 and .3 are clients
		// connecting directly.
		src := "127.0.0." + strconv.Itoa(2+i)
		direct := fromAddress(src)
		var spoof []shot
		for j := range requests {
			spoof = append(spoof, shot{in: g.ins[j%len(g.ins)], method: "GET", path: "/api/data",
				c: client{xff: h.newIP(), via: direct}, tag: "spoof"})
		}
		victim := "victim-" + g.name
		wrongKey := token(victim, "premium", []byte("not-the-secret-0123456789abcdef0123456789"))
		shots := interleave(spoof,
			spread(g.ins, requests, "GET", "/api/data", client{ip: h.newIP(), token: wrongKey}, "wrong-key"),
			spread(g.ins, requests, "GET", "/api/data", client{ip: h.newIP(), token: unsigned(victim, "premium")}, "alg-none"),
			spread(g.ins, requests, "GET", "/api/data", client{ip: h.newIP(), token: "premium." + victim + ".garbage"}, "garbage"),
		)
		res := h.burst(shots, 32)
		direct.CloseIdleConnections()
		_, s := admittedEach(res, []string{"spoof"})
		sr.expectEq(fmt.Sprintf("%s, a client at %s forging a new X-Forwarded-For per request: admitted of %d", g.name, src, requests),
			fmt.Sprintf("%d each", anonLimit), s)
		for _, tag := range []string{"wrong-key", "alg-none", "garbage"} {
			_, s := admittedEach(res, []string{tag})
			sr.expectEq(fmt.Sprintf("%s, token claiming premium (%s): admitted of %d", g.name, tag, requests),
				fmt.Sprintf("%d each", anonLimit), s)
		}
		// The real user's counter was never touched by the forgeries.
		real := h.burst(spread(g.ins, premiumLimit+10, "GET", "/api/data",
			client{ip: h.newIP(), token: token(victim, "premium", []byte(jwtSecret))}, "victim"), 8)
		_, s = admittedEach(real, []string{"victim"})
		sr.expectEq(g.name+", the real premium user afterwards: admitted of 50", fmt.Sprintf("%d each", premiumLimit), s)
		sr.recordAll(res, real)
		for _, r := range []map[string][]result{res, real} {
			for _, rs := range r {
				noFailures(sr, g.name, rs)
			}
		}
	}
}

// scrape returns the value of one sample of an instance's /metrics, such
// as `sluice_config_reloads_total{result="success"}`, or -1.
func (h *harness) scrape(in *instance, sample string) float64 {
	resp, err := h.client.Get(in.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}
