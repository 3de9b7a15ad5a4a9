package sluiceenvoy_test

import (
	"context"
	"net"

	"google.golang.org/grpc"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	sluiceenvoy "github.com/sluicehq/sluice/envoy"
)

// serve is the program of docs/envoy.md, compiled here so that the docs
// cannot drift from the API.
func serve(ctx context.Context, redisBackend backend.Backend, listener net.Listener) error {
	// snippet:serve
	cfg, err := sluiceenvoy.Load("ratelimit.yaml") // or sluiceenvoy.Import for envoyproxy/ratelimit's files
	if err != nil {
		return err // every problem, with its path and line
	}
	srv, err := sluiceenvoy.New(cfg, sluiceenvoy.WithLimiterOptions(core.WithBackend(redisBackend)))
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Watch(ctx, "ratelimit.yaml", sluiceenvoy.Load); err != nil {
		return err
	}
	gs := grpc.NewServer()
	srv.Register(gs) // RateLimitService and grpc.health.v1.Health
	return gs.Serve(listener)
	// end snippet:serve
}

var _ = serve
