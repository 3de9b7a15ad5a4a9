// Command grpc is a small gRPC service, sluice.example.greeter.v1.Greeter
// (proto/greeter/v1/greeter.proto), limited by Sluice through package
// sluicegrpc. Copy this file to start your own: it builds on its own, in a
// module of yours.
//
// Its policy, per client IP: 5 calls per 10 seconds by default; at most 2
// Chat streams open at once; and on Chat streams 5 messages a second,
// throttled rather than refused (a message that would conform within a
// second waits for its turn). The gRPC health service and reflection are
// never limited. Counters live in memory; with REDIS_URL set (redis://,
// redis+sentinel://, redis+cluster://) every instance shares them in Redis.
//
// Clients are identified by the connection's IP address, trusting no
// metadata. Behind a proxy every call would share the proxy's address: pass
// core.WithIdentifier an identifier that trusts only your proxies.
//
//	go run ./examples/grpc   # listens on :50051; ADDR overrides
//	grpcurl -plaintext -d '{"name":"you"}' localhost:50051 sluice.example.greeter.v1.Greeter/SayHello
package main

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
	greeterv1 "github.com/sluicehq/sluice/examples/grpc/proto/greeter/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// rules is the policy. Rules match full method names, with the pattern
// syntax of HTTP paths ("/sluice.example.greeter.v1.Greeter/*" would match
// every method of the service).
var rules = []core.Rule{
	{Name: "default", Limits: []core.Limit{{N: 5, Per: 10 * time.Second}}},
	{Name: "chat-streams", Path: greeterv1.Greeter_Chat_FullMethodName, Limits: []core.Limit{core.Concurrent(2)}},
	// Charged per message received on a stream (sluicegrpc.WithMessageRule).
	{Name: "chat-messages", NameOnly: true, Limits: []core.Limit{core.PerSecond(5)}, MaxDelay: time.Second},
}

func main() {
	if err := run(); err != nil {
		slog.Error("grpc", "err", err)
		os.Exit(1)
	}
}

func run() error {
	// The log gets denials, backend failures and errors no client sees.
	copts := []core.Option{core.WithRules(rules...), core.WithLogger(slog.Default())}
	if url := os.Getenv("REDIS_URL"); url != "" {
		b, err := sluiceredis.NewFromURL(url)
		if err != nil {
			return err
		}
		defer b.Close()
		// If Redis fails, calls proceed (the default failure mode).
		copts = append(copts, core.WithBackend(b))
	}
	lim, err := core.New(copts...)
	if err != nil {
		return err
	}
	defer lim.Close()

	opts := []sluicegrpc.Option{sluicegrpc.WithMessageRule("chat-messages")}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim, opts...)),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(lim, opts...)),
	)
	greeterv1.RegisterGreeterServer(srv, greeter{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	return serve(srv)
}

// greeter implements the Greeter service.
type greeter struct {
	greeterv1.UnimplementedGreeterServer
}

func (greeter) SayHello(_ context.Context, in *greeterv1.HelloRequest) (*greeterv1.HelloReply, error) {
	return &greeterv1.HelloReply{Message: "hello " + in.GetName()}, nil
}

func (greeter) Chat(stream grpc.BidiStreamingServer[greeterv1.HelloRequest, greeterv1.HelloReply]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // RESOURCE_EXHAUSTED when a message is over the limit
		}
		if err := stream.Send(&greeterv1.HelloReply{Message: "hello " + in.GetName()}); err != nil {
			return err
		}
	}
}

// serve runs srv on $ADDR (default ":50051") until SIGINT or SIGTERM, then
// stops gracefully: calls in flight finish, for up to 10 seconds.
func serve(srv *grpc.Server) error {
	ln, err := net.Listen("tcp", cmp.Or(os.Getenv("ADDR"), ":50051"))
	if err != nil {
		return err
	}
	slog.Info("listening", "addr", ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	return nil
}
