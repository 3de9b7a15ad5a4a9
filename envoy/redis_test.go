package sluiceenvoy

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/testkit/redistest"
)

const redisConfig = `
domains:
  - domain: mesh
    descriptors:
      - key: remote_address
        limits: 5/h
        algorithm: fixed_window
      - key: tenant
        descriptors:
          - key: route
            limits: [3/m, 100/h]
            algorithm: sliding_window
      - key: api_key
        limits: 4/h burst 4
      - key: shared
        limits: 50/h
        algorithm: fixed_window
`

// serveGRPC serves s on a loopback port and returns a client of it, as
// Envoy's gRPC client would reach it.
func serveGRPC(t testing.TB, s *Server) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	s.Register(gs)
	go gs.Serve(l)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// redisServer is a Server on a Redis backend at url, with a unique key
// prefix per test so that tests on one Redis never share counters.
func redisServer(t testing.TB, url, prefix string, opts ...Option) *Server {
	t.Helper()
	cfg, err := parseSluice("redis.yaml", []byte(redisConfig))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sluiceredis.NewFromURL(url, sluiceredis.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// A loaded machine can be slow: a generous timeout, so that only a
	// real outage fails a decision here.
	lopts := WithLimiterOptions(core.WithBackend(b), core.WithFailure(core.Failure{Timeout: time.Second}))
	s, err := New(cfg, append([]Option{lopts}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedis(t *testing.T) {
	t.Parallel()
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	for _, tc := range []struct{ name, url string }{
		{"standalone", "redis://" + standalone.Addr},
		{"cluster", "redis+cluster://" + strings.Join(cluster.Addrs(), ",")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t.Run("decisions", func(t *testing.T) { testRedisDecisions(t, tc.url) })
			t.Run("shared exactly", func(t *testing.T) { testRedisShared(t, tc.url) })
		})
	}
}

// testRedisDecisions sends what Envoy sends, over gRPC, for every
// algorithm, and checks the answers and the health service.
func testRedisDecisions(t *testing.T, url string) {
	s := redisServer(t, url, "decisions:")
	conn := serveGRPC(t, s)
	client := rlsv3.NewRateLimitServiceClient(conn)
	ctx := t.Context()

	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: rlsv3.RateLimitService_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", hc, err)
	}
	send := func(req *rlsv3.RateLimitRequest) *rlsv3.RateLimitResponse {
		t.Helper()
		resp, err := client.ShouldRateLimit(ctx, req)
		if err != nil {
			t.Fatalf("ShouldRateLimit: %v", err)
		}
		return resp
	}
	for _, tc := range []struct {
		name string
		req  *rlsv3.RateLimitRequest
		ok   int
	}{
		{"fixed window", request("mesh", desc("remote_address", "10.1.1.1")), 5},
		{"sliding window, nested", request("mesh", desc("tenant", "t1", "route", "/x")), 3},
		{"token bucket", request("mesh", desc("api_key", "k1")), 4},
	} {
		for i := range tc.ok + 2 {
			resp := send(tc.req)
			want := "OK: OK"
			if i >= tc.ok {
				want = "OVER_LIMIT: OVER_LIMIT"
			}
			if got := verdict(resp); got != want {
				t.Fatalf("%s, request %d: %s, want %s", tc.name, i, got, want)
			}
			if got, want := resp.GetStatuses()[0].GetLimitRemaining(), uint32(max(0, tc.ok-i-1)); got != want {
				t.Fatalf("%s, request %d: remaining %d, want %d", tc.name, i, got, want)
			}
			if header(resp, "RateLimit-Policy") == "" {
				t.Fatalf("%s: no RateLimit-Policy", tc.name)
			}
		}
	}
	// Several descriptors, one over its limit: none is charged, in Redis.
	fresh := desc("remote_address", "10.2.2.2")
	req := request("mesh", fresh, desc("remote_address", "10.1.1.1"))
	if got := verdict(send(req)); got != "OVER_LIMIT: OK OVER_LIMIT" {
		t.Fatalf("fresh and spent: %s", got)
	}
	if got := send(request("mesh", fresh)).GetStatuses()[0].GetLimitRemaining(); got != 4 {
		t.Fatalf("after the denial the fresh address has %d left, want 4", got)
	}
}

// testRedisShared runs two Servers on one Redis, each serving half of 16
// concurrent callers over gRPC: exactly the limit is admitted.
func testRedisShared(t *testing.T, url string) {
	var clients []rlsv3.RateLimitServiceClient
	for range 2 {
		clients = append(clients, rlsv3.NewRateLimitServiceClient(serveGRPC(t, redisServer(t, url, "shared:"))))
	}
	var ok, over atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			c := clients[i%2]
			for range 10 {
				resp, err := c.ShouldRateLimit(t.Context(), request("mesh", desc("shared", "all")))
				switch {
				case err != nil:
					t.Error(err)
					return
				case resp.GetOverallCode() == rlsv3.RateLimitResponse_OK:
					ok.Add(1)
				default:
					over.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || over.Load() != 110 {
		t.Fatalf("admitted %d and denied %d of 160, want exactly 50 and 110", ok.Load(), over.Load())
	}
}

// TestRedisSlow pauses Redis: every answer comes within Envoy's 20ms
// deadline, failing open (or closed) per descriptor, and decisions are
// exact again once Redis answers.
func TestRedisSlow(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg, err := parseSluice("slow.yaml", []byte(`
domains:
  - domain: d
    descriptors:
      - key: open
        limits: 100/h
      - key: closed
        limits: 100/h
        failure: closed
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sluiceredis.NewFromURL("redis://" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := New(cfg, WithLimiterOptions(core.WithBackend(b))) // the default 10ms timeout
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	client := rlsv3.NewRateLimitServiceClient(serveGRPC(t, s))
	ask := func(key string) (*rlsv3.RateLimitResponse, time.Duration, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond) // Envoy's default timeout
		defer cancel()
		begin := time.Now()
		resp, err := client.ShouldRateLimit(ctx, request("d", desc(key, "x")))
		return resp, time.Since(begin), err
	}
	// The first calls connect, to the server and to Redis, which Envoy's
	// long-lived connections do not count: they may fail open.
	decided := func() bool {
		resp, err := client.ShouldRateLimit(t.Context(), request("d", desc("open", "x")))
		return err == nil && resp.GetStatuses()[0].GetCurrentLimit() != nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for !decided() {
		if time.Now().After(deadline) {
			t.Fatal("no decision by Redis within 10s before the pause")
		}
		time.Sleep(20 * time.Millisecond) // past the breaker's backoff, if it opened
	}
	if _, err := srv.Do("CLIENT", "PAUSE", "1500", "ALL"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Do("CLIENT", "UNPAUSE") })
	paused := time.Now()
	var late int
	n := 0
	for time.Since(paused) < time.Second {
		for _, tc := range []struct{ key, want string }{{"open", "OK: OK"}, {"closed", "OVER_LIMIT: OVER_LIMIT"}} {
			resp, took, err := ask(tc.key)
			n++
			if err != nil {
				// Only a loaded machine misses the deadline: counted below.
				late++
				continue
			}
			if got := verdict(resp); got != tc.want {
				t.Fatalf("%s while Redis is paused: %s, want %s", tc.key, got, tc.want)
			}
			if took > 20*time.Millisecond {
				late++
			}
		}
	}
	if late > n/10 {
		t.Fatalf("%d of %d answers missed Envoy's 20ms while Redis was paused", late, n)
	}
	srv.Do("CLIENT", "UNPAUSE")
	deadline = time.Now().Add(5 * time.Second)
	for !decided() {
		if time.Now().After(deadline) {
			t.Fatal("not decided by Redis 5s after the pause")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d answers while Redis was paused, %d late", n, late)
}
