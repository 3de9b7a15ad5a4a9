package sluiceredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// suiteSlack keeps keys alive in real time while the suite's fake clock
// stands still between two steps of a sequence.
const suiteSlack = time.Minute

var allAlgorithms = []backend.Algorithm{
	backend.TokenBucket, backend.SlidingLog, backend.SlidingWindow, backend.FixedWindow, backend.Concurrency,
}

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformanceStandalone(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
		return New(client, WithCallerClock(), withExpirySlack(suiteSlack))
	})
}

// TestConformanceAutoPipeline runs the suite on go-redis's auto-pipelining
// client, which coalesces concurrent scripts into pipelines.
func TestConformanceAutoPipeline(t *testing.T) {
	srv := redistest.Start(t)
	ap, err := newClient(t, srv.Addr).AutoPipeline()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
		return New(ap, WithCallerClock(), withExpirySlack(suiteSlack))
	})
}

func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	t.Logf("cluster of 3 primaries and 3 replicas started and ready in %v", c.StartTime)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	t.Run("suite", func(t *testing.T) {
		testkit.RunBackendSuite(t, func(t *testing.T) backend.Backend {
			return New(client, WithCallerClock(), withExpirySlack(suiteSlack))
		})
	})
	// The suite's keys spread over all three primaries, so a script that
	// touched keys of two slots would have failed with CROSSSLOT.
	var mu sync.Mutex
	masters := 0
	err := client.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if n == 0 {
			t.Errorf("primary %s holds no keys: the cluster did not spread them", m.Options().Addr)
		}
		mu.Lock()
		masters++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if masters != 3 {
		t.Errorf("%d primaries, want 3", masters)
	}
}

// TestTwoInstances runs two backends, each on its own client as two
// application instances would be, against one Redis on the server's clock,
// and checks that together they admit exactly the limit.
func TestTwoInstances(t *testing.T) {
	srv := redistest.Start(t)
	instances := []*Backend{New(newClient(t, srv.Addr)), New(newClient(t, srv.Addr))}
	const workers, attempts = 16, 10 // per instance
	for _, alg := range allAlgorithms {
		for _, tc := range []struct {
			name    string
			windows []backend.Window
			cost    int64
			want    int64
		}{
			{"one-window", []backend.Window{{Limit: 50, Period: time.Hour}}, 1, 50},
			{"cost-2", []backend.Window{{Limit: 51, Period: time.Hour}}, 2, 25},
			{"two-windows", []backend.Window{{Limit: 50, Period: time.Minute}, {Limit: 30, Period: time.Hour}}, 1, 30},
		} {
			if alg == backend.Concurrency && len(tc.windows) > 1 {
				continue
			}
			t.Run(alg.String()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var admitted atomic.Int64
				var lease atomic.Uint64
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, b := range instances {
					for range workers {
						wg.Go(func() {
							<-start
							for range attempts {
								res, err := b.Apply(t.Context(), backend.Request{
									Namespace: "two-instances", Key: t.Name(), Algorithm: alg,
									Windows: tc.windows, Cost: tc.cost, Lease: lease.Add(1), Now: time.Now(),
								})
								if err != nil {
									t.Error(err)
									return
								}
								if res.Allowed {
									admitted.Add(1)
								}
							}
						})
					}
				}
				close(start)
				wg.Wait()
				if got := admitted.Load(); got != tc.want {
					t.Errorf("%d requests from two instances: admitted %d, want exactly %d",
						2*workers*attempts, got, tc.want)
				}
			})
		}
	}
}

// TestServerClock checks that by default the backend ignores the caller's
// clock: instances whose clocks disagree by an hour share one limit.
func TestServerClock(t *testing.T) {
	srv := redistest.Start(t)
	b := New(newClient(t, srv.Addr))
	w := []backend.Window{{Limit: 3, Period: time.Minute}}
	for _, alg := range allAlgorithms {
		t.Run(alg.String(), func(t *testing.T) {
			for i, skew := range []time.Duration{0, time.Hour, -time.Hour, 0} {
				res, err := b.Apply(t.Context(), backend.Request{
					Namespace: "server-clock", Key: "k", Algorithm: alg, Windows: w, Cost: 1,
					Lease: uint64(i + 1), Now: time.Now().Add(skew),
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := i < 3; res.Allowed != want {
					t.Errorf("request %d (clock skew %v): Allowed = %v, want %v", i, skew, res.Allowed, want)
				}
				longest := time.Minute
				if alg == backend.SlidingWindow { // both counters must leave
					longest = 2 * time.Minute
				}
				if d := res.Windows[0].ResetAfter; d <= 0 || d > longest {
					t.Errorf("request %d (clock skew %v): ResetAfter = %v, want within (0, %v]", i, skew, d, longest)
				}
			}
		})
	}
}

// TestNoScript checks that the backend reloads its scripts when the server
// has lost them (a restart, a failover, SCRIPT FLUSH).
func TestNoScript(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client)
	w := []backend.Window{{Limit: 2, Period: time.Minute}}
	for i := range 3 {
		if err := client.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := b.Apply(t.Context(), backend.Request{Namespace: "noscript", Key: "k", Windows: w, Cost: 1})
		if err != nil {
			t.Fatalf("Apply after SCRIPT FLUSH: %v", err)
		}
		if want := i < 2; res.Allowed != want {
			t.Errorf("request %d: Allowed = %v, want %v", i, res.Allowed, want)
		}
	}
	exists, err := client.ScriptExists(t.Context(), scripts[backend.TokenBucket].sha).Result()
	if err != nil || !exists[0] {
		t.Errorf("SCRIPT EXISTS after the fallback = %v, %v, want the script loaded by EVAL", exists, err)
	}
}

// TestContextDeadline checks that a decision ends with the context's
// deadline when Redis does not answer, with an error that errors.Is
// recognises.
func TestContextDeadline(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client)
	if err := b.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(t.Context(), "client", "pause", "2000", "all").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := b.Apply(ctx, backend.Request{Namespace: "deadline", Key: "k", Windows: []backend.Window{{Limit: 1, Period: time.Second}}, Cost: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Apply on a paused Redis = %v, want an error that is context.DeadlineExceeded", err)
	}
	if took := time.Since(begin); took > 500*time.Millisecond {
		t.Errorf("Apply on a paused Redis took %v, want about the 50ms deadline", took)
	}
}

func TestInvalidRequests(t *testing.T) {
	srv := redistest.Start(t)
	b := New(newClient(t, srv.Addr), WithCallerClock())
	ok := backend.Window{Limit: 1, Period: time.Second}
	now := time.Now()
	for _, tc := range []struct {
		name string
		req  backend.Request
	}{
		{"no windows", backend.Request{Cost: 1, Now: now}},
		{"too many windows", backend.Request{Windows: []backend.Window{ok, ok, ok, ok, ok}, Now: now}},
		{"zero period", backend.Request{Windows: []backend.Window{{Limit: 1}}, Now: now}},
		{"negative limit", backend.Request{Windows: []backend.Window{{Limit: -1, Period: time.Second}}, Now: now}},
		{"limit above 2^53", backend.Request{Windows: []backend.Window{{Limit: 1 << 53, Period: time.Second}}, Now: now}},
		{"burst above 2^53", backend.Request{Windows: []backend.Window{{Limit: 1, Burst: 1 << 60, Period: time.Second}}, Now: now}},
		{"negative cost", backend.Request{Windows: []backend.Window{ok}, Cost: -1, Now: now}},
		{"cost above 2^53", backend.Request{Windows: []backend.Window{ok}, Cost: 1 << 53, Now: now}},
		{"unknown algorithm", backend.Request{Windows: []backend.Window{ok}, Algorithm: 99, Now: now}},
		{"two concurrency windows", backend.Request{Windows: []backend.Window{ok, ok}, Algorithm: backend.Concurrency, Now: now}},
		{"before the epoch", backend.Request{Windows: []backend.Window{ok}, Now: time.Unix(-1, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Apply(t.Context(), tc.req); !errors.Is(err, backend.ErrInvalidRequest) {
				t.Errorf("Apply = %v, want backend.ErrInvalidRequest", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	client := redis.NewClient(&redis.Options{})
	defer client.Close()
	b := New(client, WithPrefix("p:"))
	huge := strings.Repeat("k", 64<<10)
	for _, pair := range [][2]string{
		{"ns", "key"}, {"", ""}, {"{a}", "}{"}, {"a\nb", "c:d"}, {huge, huge},
	} {
		keys := b.allKeys(pair[0], pair[1])
		if len(keys) != 26 { // (4 algorithms + 2 old formats) × 4 windows, concurrency, penalty
			t.Fatalf("allKeys = %d keys, want 26", len(keys))
		}
		tag := keys[0][strings.IndexByte(keys[0], '{') : strings.IndexByte(keys[0], '}')+1]
		for _, k := range keys {
			if !strings.HasPrefix(k, "p:"+tag) || strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 {
				t.Errorf("key %q of (%.20q, %.20q) does not start with p:%s and hold one hash tag", k, pair[0], pair[1], tag)
			}
			if want := len("p:") + tagLen + 2 + 2; len(k) > want {
				t.Errorf("key %q is %d bytes, want at most %d", k, len(k), want)
			}
		}
	}
	if a, c := b.keys("ns", "ab", backend.TokenBucket, 1)[0], b.keys("nsa", "b", backend.TokenBucket, 1)[0]; a == c {
		t.Errorf("(ns, ab) and (nsa, b) share key %q", a)
	}
	if got := b.keys("ns", "k", backend.FixedWindow, 3); !strings.HasSuffix(got[2], "}F2") {
		t.Errorf("third fixed-window key = %q, want suffix }F2", got[2])
	}
}

func TestNewFromURL(t *testing.T) {
	srv := redistest.Start(t)
	b, err := NewFromURL("redis://" + srv.Addr + "/0?pool_size=4&read_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	c, ok := b.client.(*redis.Client)
	if !ok {
		t.Fatalf("client is %T, want *redis.Client", b.client)
	}
	if o := c.Options(); o.PoolSize != 4 || o.ReadTimeout != time.Second || !o.ContextTimeoutEnabled {
		t.Errorf("options: PoolSize %d, ReadTimeout %v, ContextTimeoutEnabled %v, want 4, 1s, true", o.PoolSize, o.ReadTimeout, o.ContextTimeoutEnabled)
	}
	for url, want := range map[string]string{
		"redis+sentinel://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380": "*redis.Client",
		"redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001":                         "*redis.ClusterClient",
		"rediss+cluster://127.0.0.1:7000":                                            "*redis.ClusterClient",
	} {
		b, err := NewFromURL(url)
		if err != nil {
			t.Errorf("NewFromURL(%q): %v", url, err)
			continue
		}
		if got := fmt.Sprintf("%T", b.client); got != want {
			t.Errorf("NewFromURL(%q) client = %s, want %s", url, got, want)
		}
		b.Close()
	}
	for _, url := range []string{"localhost:6379", "http://localhost", "redis+ring://localhost", "redis://user:secret@localhost:6379?nonsense=1"} {
		if _, err := NewFromURL(url); err == nil {
			t.Errorf("NewFromURL(%q) = nil error", url)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("NewFromURL(%q) error %q reveals the password", url, err)
		}
	}
}

// TestSentinel runs a backend built from a Sentinel URL: the client asks
// the Sentinel for the primary and decides there.
func TestSentinel(t *testing.T) {
	primary := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "mymaster", primary)
	b, err := NewFromURL("redis+sentinel://" + sentinel.Addr + "?master_name=mymaster")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := []backend.Window{{Limit: 2, Period: time.Minute}}
	for i := range 3 {
		res, err := b.Apply(t.Context(), backend.Request{Namespace: "sentinel", Key: "k", Windows: w, Cost: 1})
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; res.Allowed != want {
			t.Errorf("request %d: Allowed = %v, want %v", i, res.Allowed, want)
		}
	}
	if n := newClient(t, primary.Addr).DBSize(t.Context()).Val(); n != 1 {
		t.Errorf("the primary holds %d keys, want 1", n)
	}
}

// TestACL runs every operation as a Redis user with only the permissions
// that doc.go documents.
func TestACL(t *testing.T) {
	srv := redistest.Start(t)
	admin := newClient(t, srv.Addr)
	acl := []any{"ACL", "SETUSER", "sluice", "on", ">secret", "~sluice:*", "-@all",
		"+evalsha", "+eval", "+del", "+ping", "+time", "+get", "+set", "+pexpire",
		"+zrevrange", "+zrangebyscore", "+zscore", "+zadd", "+zrem", "+hgetall", "+hset", "+hdel"}
	if err := admin.Do(t.Context(), acl...).Err(); err != nil {
		t.Fatal(err)
	}
	// The server's clock (TIME), and the caller's, whose steps below
	// make the scripts prune expired entries.
	for _, b := range []*Backend{
		newStandalone(&redis.Options{Addr: srv.Addr, Username: "sluice", Password: "secret"}),
		newStandalone(&redis.Options{Addr: srv.Addr, Username: "sluice", Password: "secret"}, WithCallerClock()),
	} {
		defer b.Close()
		testACL(t, admin, b)
	}
}

func testACL(t *testing.T, admin *redis.Client, b *Backend) {
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	now := time.Now()
	for _, alg := range allAlgorithms {
		// Charges, a peek and a denial, then charges after the first
		// have expired, which prunes them.
		for i, step := range []struct {
			at   time.Duration
			cost int64
		}{{0, 1}, {time.Second, 2}, {time.Second, 0}, {time.Second, 100}, {2 * time.Minute, 1}} {
			req := backend.Request{
				Namespace: "acl", Key: "k", Algorithm: alg, Windows: []backend.Window{{Limit: 5, Period: time.Minute}},
				Cost: step.cost, Lease: uint64(i + 1), Now: now.Add(step.at),
			}
			if _, err := b.Apply(t.Context(), req); err != nil {
				t.Errorf("%v: Apply(cost %d at %v): %v", alg, step.cost, step.at, err)
			}
		}
	}
	if err := b.Release(t.Context(), backend.Request{Namespace: "acl", Key: "k", Lease: 5, Now: now.Add(2 * time.Minute)}); err != nil {
		t.Errorf("Release: %v", err)
	}
	if err := b.Reset(t.Context(), "acl", "k"); err != nil {
		t.Errorf("Reset: %v", err)
	}
	if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(t.Context(), backend.Request{Namespace: "acl", Key: "k", Windows: []backend.Window{{Limit: 5, Period: time.Minute}}, Cost: 1, Now: now}); err != nil {
		t.Errorf("Apply after SCRIPT FLUSH (EVAL): %v", err)
	}
}

// TestURLCommaSeeds checks that Sentinel and Cluster URLs may list their
// seed addresses separated by commas, as docs/redis.md writes them.
func TestURLCommaSeeds(t *testing.T) {
	b, err := NewFromURL("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002?read_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := b.client.(*redis.ClusterClient).Options()
	if want := []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}; !slices.Equal(o.Addrs, want) || o.Username != "u" || o.Password != "p" || o.ReadTimeout != 2*time.Second {
		t.Errorf("cluster options: Addrs %v, user %q, password %q, ReadTimeout %v; want %v, u, p, 2s", o.Addrs, o.Username, o.Password, o.ReadTimeout, want)
	}
	for in, want := range map[string]string{
		"h1:1,h2:2,h3:3":        "h1:1?addr=h2%3A2&addr=h3%3A3",
		"h1:1,h2:2/0?x=1":       "h1:1/0?x=1&addr=h2%3A2",
		"u:p@h1:1,h2:2?x=1&y=2": "u:p@h1:1?x=1&y=2&addr=h2%3A2",
		"h1:1?addr=h2:2":        "h1:1?addr=h2:2",
		"h1:1":                  "h1:1",
	} {
		if got, err := commaHosts(in); err != nil || got != want {
			t.Errorf("commaHosts(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// An empty seed would become localhost:6379 in go-redis.
	for _, in := range []string{"h1:1,,", ",h2:2", "h1:1,,h3:3/0", "u:p@,h2:2?x=1"} {
		if got, err := commaHosts(in); err == nil {
			t.Errorf("commaHosts(%q) = %q, want an error for the empty seed", in, got)
		}
	}
	if _, err := NewFromURL("redis+sentinel://,s2:26379?master_name=m"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("a Sentinel URL with an empty seed: err = %v, want one naming it", err)
	}
	// Sentinel: the rewritten URL parses to every seed.
	rest, err := commaHosts("u:p@s1:26379,s2:26379,s3:26379?master_name=m")
	if err != nil {
		t.Fatal(err)
	}
	fo, err := redis.ParseFailoverURL("redis://" + rest)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"s1:26379", "s2:26379", "s3:26379"}; !slices.Equal(fo.SentinelAddrs, want) || fo.MasterName != "m" {
		t.Errorf("sentinel options: %v, master %q; want %v, m", fo.SentinelAddrs, fo.MasterName, want)
	}
}

// FuzzCommaHosts checks that the comma rewrite never panics and leaves
// nothing to rewrite: applying it twice changes nothing more.
func FuzzCommaHosts(f *testing.F) {
	for _, s := range []string{"h1:1,h2:2", "u:p@h1,h2/0?x=1", ",", "@,", "a,b?", "/,", "?,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		once, err := commaHosts(rest)
		if err != nil {
			return
		}
		if twice, err := commaHosts(once); err != nil || twice != once {
			t.Fatalf("commaHosts(%q) = %q, then %q, %v", rest, once, twice, err)
		}
	})
}

// TestResetDeletesOldFormats: Reset deletes a client's keys of the value
// formats that earlier versions wrote (t and f), which the backend no
// longer reads, as well as the current ones.
func TestResetDeletesOldFormats(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.Addr)
	b := New(client)
	ctx := t.Context()
	base := string(b.keyBase("ns", "client", 0))
	old := []string{base + "t0", base + "f1"}
	for _, k := range old {
		if err := client.Set(ctx, k, "1", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Apply(ctx, backend.Request{Namespace: "ns", Key: "client", Algorithm: backend.TokenBucket,
		Windows: []backend.Window{{Limit: 10, Period: time.Minute}}, Cost: 1, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(ctx, "ns", "client"); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, append(old, base+"T0")...).Result(); err != nil || n != 0 {
		t.Fatalf("after Reset, %d of the client's keys remain (err %v), want 0", n, err)
	}
}
