package sluiceenvoy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	sluiceenvoy "github.com/sluicehq/sluice/envoy"
)

func entry(key, value string) *commonv3.RateLimitDescriptor_Entry {
	return &commonv3.RateLimitDescriptor_Entry{Key: key, Value: value}
}

// A configuration as a literal: 2 requests a minute per client address,
// and the answers to what Envoy would send for one address.
func ExampleNew() {
	srv, err := sluiceenvoy.New(&sluiceenvoy.Config{Domains: []sluiceenvoy.Domain{{
		Name: "edge",
		Descriptors: []sluiceenvoy.Descriptor{{
			Key: "remote_address", Algorithm: backend.FixedWindow, Limits: []core.Limit{core.PerMinute(2)},
		}},
	}}})
	if err != nil {
		log.Fatal(err) // every problem, with its path
	}
	defer srv.Close()

	req := &rlsv3.RateLimitRequest{Domain: "edge", Descriptors: []*commonv3.RateLimitDescriptor{
		{Entries: []*commonv3.RateLimitDescriptor_Entry{entry("remote_address", "192.0.2.7")}},
	}}
	for range 3 {
		resp, err := srv.ShouldRateLimit(context.Background(), req)
		if err != nil {
			log.Fatal(err)
		}
		st := resp.GetStatuses()[0]
		fmt.Println(resp.GetOverallCode(), st.GetCurrentLimit().GetRequestsPerUnit(), "per", st.GetCurrentLimit().GetUnit(), "remaining", st.GetLimitRemaining())
	}
	// Output:
	// OK 2 per MINUTE remaining 1
	// OK 2 per MINUTE remaining 0
	// OVER_LIMIT 2 per MINUTE remaining 0
}

// Sluice's own format: several windows and an algorithm per descriptor.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ratelimit.yaml")
	os.WriteFile(path, []byte(`
domains:
  - domain: api
    descriptors:
      - key: api_key
        limits: [10/s, 1000/h]
        algorithm: sliding_window
      - key: api_key
        value: internal-*
        unlimited: true
`), 0o600)

	cfg, err := sluiceenvoy.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	d := cfg.Domains[0].Descriptors[0]
	fmt.Println(cfg.Domains[0].Name, d.Key, d.Limits, d.Algorithm)
	// Output:
	// api api_key [10/s 1000/h] sliding_window
}

// envoyproxy/ratelimit's format, imported as it is; a bad file is
// reported with the path of each problem.
func ExampleImport() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "edge.yaml"), []byte(`
domain: edge
descriptors:
  - key: remote_address
    rate_limit:
      unit: minute
      requests_per_unit: 100
`), 0o600)
	cfg, err := sluiceenvoy.Import(dir)
	if err != nil {
		log.Fatal(err)
	}
	d := cfg.Domains[0].Descriptors[0]
	fmt.Println(cfg.Domains[0].Name, d.Key, d.Limits, d.Algorithm)

	os.WriteFile(filepath.Join(dir, "edge.yaml"), []byte(`
domain: edge
descriptors:
  - key: remote_address
    rate_limit:
      unit: fortnight
      requests_per_unit: 100
`), 0o600)
	_, err = sluiceenvoy.Import(dir)
	var ce *core.ConfigError
	if errors.As(err, &ce) {
		fmt.Println(ce.Path)
	}
	// Output:
	// edge remote_address [100/m] fixed_window
	// descriptors[0].rate_limit.unit
}

// Serving on gRPC, with the configuration reloaded when its file changes.
func ExampleServer_Register() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ratelimit.yaml")
	os.WriteFile(path, []byte("domains: [{domain: edge, descriptors: [{key: remote_address, limits: 100/m}]}]\n"), 0o600)

	cfg, err := sluiceenvoy.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := sluiceenvoy.New(cfg) // in memory; core.WithBackend in WithLimiterOptions for Redis
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Watch(ctx, path, sluiceenvoy.Load); err != nil {
		log.Fatal(err)
	}

	gs := grpc.NewServer()
	srv.Register(gs) // envoy.service.ratelimit.v3.RateLimitService and grpc.health.v1.Health
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go gs.Serve(l)
	defer gs.Stop()
	fmt.Println("serving")
	// Output: serving
}
