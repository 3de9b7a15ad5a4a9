package sluiceenvoy

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/sluicehq/sluice/testkit/redistest"
)

// BenchmarkShouldRateLimit measures the service's own path, in memory:
// matching, the Limiter and the response, with no network.
func BenchmarkShouldRateLimit(b *testing.B) {
	cfg, err := parseSluice("bench.yaml", []byte(redisConfig))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name string
		req  func(i int) *rlsv3.RateLimitRequest
	}{
		{"one", func(i int) *rlsv3.RateLimitRequest {
			return request("mesh", desc("shared", strconv.Itoa(i%10000)))
		}},
		{"two", func(i int) *rlsv3.RateLimitRequest {
			return request("mesh", desc("shared", strconv.Itoa(i%10000)), desc("tenant", "t", "route", strconv.Itoa(i%1000)))
		}},
	} {
		reqs := make([]*rlsv3.RateLimitRequest, 1024)
		for i := range reqs {
			reqs[i] = tc.req(i)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.ShouldRateLimit(context.Background(), reqs[n.Add(1)%1024]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkGRPCRedis measures what Envoy waits for: a gRPC call to the
// service on loopback, deciding on a real Redis.
func BenchmarkGRPCRedis(b *testing.B) {
	srv := redistest.Start(b)
	s := redisServer(b, "redis://"+srv.Addr, "bench:")
	client := rlsv3.NewRateLimitServiceClient(serveGRPC(b, s))
	reqs := make([]*rlsv3.RateLimitRequest, 1024)
	for i := range reqs {
		reqs[i] = request("mesh", desc("remote_address", "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)))
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.ShouldRateLimit(context.Background(), reqs[n.Add(1)%1024]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
