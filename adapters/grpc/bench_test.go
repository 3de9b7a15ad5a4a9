package sluicegrpc_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// BenchmarkUnary measures what the unary interceptor adds to a call: the
// same unary call over an in-memory connection (bufconn), client and server
// in this process, without the interceptor ("bare") and with it
// ("limited", allowed, on the in-memory token bucket, with the header
// metadata; "limited-no-header-metadata" without it). The Limiter runs on a
// fake clock, as testkit.BenchmarkAdapter's does. Subtract "bare".
func BenchmarkUnary(b *testing.B) {
	lim, err := core.New(core.WithClock(clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))),
		core.WithDefault(core.Limit{N: 1 << 40, Per: time.Hour}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lim.Close() })
	for _, bc := range []struct {
		name string
		opts []grpc.ServerOption
	}{
		{"bare", nil},
		{"limited", []grpc.ServerOption{grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim))}},
		{"limited-no-header-metadata", []grpc.ServerOption{grpc.ChainUnaryInterceptor(
			sluicegrpc.UnaryServerInterceptor(lim, sluicegrpc.WithHeaderMetadata(false)))}},
		{"exempt", []grpc.ServerOption{grpc.ChainUnaryInterceptor(
			sluicegrpc.UnaryServerInterceptor(lim, sluicegrpc.WithExemptMethods(methodSay)))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cc := serveBufconn(b, bc.opts)
			ctx := b.Context()
			if err := say(ctx, cc); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := say(ctx, cc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterceptor measures the unary interceptor alone, called
// directly with a context such as gRPC gives it (a peer, incoming
// metadata, a transport stream that keeps header metadata as grpc-go's
// does) and a handler that does nothing: the same decisions as
// BenchmarkUnary's, without the transport's noise.
func BenchmarkInterceptor(b *testing.B) {
	lim, err := core.New(core.WithClock(clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))),
		core.WithDefault(core.Limit{N: 1 << 40, Per: time.Hour}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lim.Close() })
	ctx := peer.NewContext(b.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 51234}})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("user-agent", "grpc-go/1.85.0", "content-type", "application/grpc"))
	info := &grpc.UnaryServerInfo{FullMethod: methodSay}
	handler := func(ctx context.Context, req any) (any, error) { return req, nil }
	// "decide" is the Limiter alone, asked what the interceptor asks it:
	// the rest of "limited-no-header-metadata" is the interceptor's own.
	b.Run("decide", func(b *testing.B) {
		req := core.Request{Method: "POST", Path: methodSay, RemoteAddr: "192.0.2.7:51234", Header: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := lim.Decide(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		opts []sluicegrpc.Option
	}{
		{"limited", nil},
		{"limited-no-header-metadata", []sluicegrpc.Option{sluicegrpc.WithHeaderMetadata(false)}},
		{"exempt", []sluicegrpc.Option{sluicegrpc.WithExemptMethods(methodSay)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ic := sluicegrpc.UnaryServerInterceptor(lim, bc.opts...)
			sts := &headerStream{}
			ctx := grpc.NewContextWithServerTransportStream(ctx, sts)
			b.ReportAllocs()
			for b.Loop() {
				sts.header = nil
				if _, err := ic(ctx, nil, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// headerStream is a grpc.ServerTransportStream that keeps header metadata
// as grpc-go's transport does (metadata.Join).
type headerStream struct{ header metadata.MD }

func (s *headerStream) Method() string { return methodSay }
func (s *headerStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}
func (s *headerStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *headerStream) SetTrailer(md metadata.MD) error { return nil }
