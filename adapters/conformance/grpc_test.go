package conformance_test

import (
	"context"
	"testing"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/testkit/grpctest"
)

// grpcOptions turns the gRPC suite's configuration into sluicegrpc's
// options.
func grpcOptions(cfg grpctest.Config) []sluicegrpc.Option {
	opts := []sluicegrpc.Option{
		sluicegrpc.WithWait(cfg.Wait),
		sluicegrpc.WithErrorHandler(func(_ context.Context, _ string, err error) { cfg.OnError(err) }),
		sluicegrpc.WithMessageRule(cfg.MessageRule),
	}
	if cfg.ExemptMethods != nil {
		opts = append(opts, sluicegrpc.WithExemptMethods(cfg.ExemptMethods...))
	}
	return opts
}

func TestGRPCInterceptors(t *testing.T) {
	grpctest.RunInterceptorSuite(t, func(t *testing.T, lim *core.Limiter, cfg grpctest.Config) grpctest.Interceptors {
		opts := grpcOptions(cfg)
		return grpctest.Interceptors{
			Unary:  sluicegrpc.UnaryServerInterceptor(lim, opts...),
			Stream: sluicegrpc.StreamServerInterceptor(lim, opts...),
		}
	})
}
