// Package grpctest holds the conformance suite of Sluice's gRPC server
// interceptors: one call runs every behaviour a pair of interceptors must
// have, against any implementation, ours (package sluicegrpc) or yours.
//
//	func TestInterceptors(t *testing.T) {
//		grpctest.RunInterceptorSuite(t, func(t *testing.T, lim *core.Limiter, cfg grpctest.Config) grpctest.Interceptors {
//			opts := []sluicegrpc.Option{sluicegrpc.WithWait(cfg.Wait), ...}
//			return grpctest.Interceptors{
//				Unary:  sluicegrpc.UnaryServerInterceptor(lim, opts...),
//				Stream: sluicegrpc.StreamServerInterceptor(lim, opts...),
//			}
//		})
//	}
//
// It is a module of its own, apart from module testkit, so that the HTTP
// suites never make their users download gRPC. It uses only the standard
// library's testing package; its subtests run in parallel, each with a real
// gRPC server on a loopback TCP listener and a real client. Run it under
// -race.
package grpctest
