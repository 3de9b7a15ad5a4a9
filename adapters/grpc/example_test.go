package sluicegrpc_test

import (
	"context"
	"fmt"
	"net"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// dialBufconn serves srv over an in-memory listener and dials it.
func dialBufconn(srv *grpc.Server, opts ...grpc.DialOption) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	cc, err := grpc.NewClient("passthrough:///bufnet", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)...)
	if err != nil {
		panic(err)
	}
	return cc
}

func ExampleUnaryServerInterceptor() {
	// A fake clock makes the output exact; servers leave it out.
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(core.WithClock(clk), core.WithRules(core.Rule{
		Name: "echo", Path: "/sluice.test.v1.Echo/*", Limits: []core.Limit{core.PerMinute(2)},
	}))
	if err != nil {
		panic(err)
	}
	defer lim.Close()

	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim)))
	srv.RegisterService(&echoDesc, nil) // sluice.test.v1.Echo
	defer srv.Stop()
	cc := dialBufconn(srv)
	defer cc.Close()

	for range 3 {
		var header, trailer metadata.MD
		err := cc.Invoke(context.Background(), "/sluice.test.v1.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue),
			grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			fmt.Println(status.Code(err), trailer.Get("ratelimit"), "pushback", trailer.Get("grpc-retry-pushback-ms"))
			continue
		}
		fmt.Println("OK", header.Get("ratelimit"))
	}
	// Output:
	// OK ["echo";r=1;t=30]
	// OK ["echo";r=0;t=30]
	// ResourceExhausted ["echo";r=0;t=30] pushback [30000]
}

func ExampleUnaryClientInterceptor() {
	// The server admits one call per 100ms: the client's second call is
	// refused with a pushback of about 100ms, which the interceptor waits
	// before trying again.
	lim, err := core.New(core.WithDefault(core.Limit{N: 1, Per: 100 * time.Millisecond}))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim)))
	srv.RegisterService(&echoDesc, nil)
	defer srv.Stop()

	cc := dialBufconn(srv, grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(
		sluicegrpc.WithRetryMethods("/sluice.test.v1.Echo/Say"))))
	defer cc.Close()
	for range 2 {
		err := cc.Invoke(context.Background(), "/sluice.test.v1.Echo/Say", wrapperspb.String("hi"), new(wrapperspb.StringValue))
		fmt.Println(status.Code(err))
	}
	// Output:
	// OK
	// OK
}
