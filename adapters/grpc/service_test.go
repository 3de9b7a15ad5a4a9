package sluicegrpc_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The tests' service, sluice.test.v1.Echo, written by hand: Say answers
// "hello" to a wrapperspb.StringValue.
const methodSay = "/sluice.test.v1.Echo/Say"

var echoDesc = grpc.ServiceDesc{
	ServiceName: "sluice.test.v1.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Say", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		handler := func(ctx context.Context, req any) (any, error) { return wrapperspb.String("hello"), nil }
		if ic == nil {
			return handler(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: methodSay}, handler)
	}}},
}

// serveBufconn serves the test service over an in-memory connection with
// the given server options and returns a client connection to it.
func serveBufconn(tb testing.TB, srvOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(srvOpts...)
	srv.RegisterService(&echoDesc, nil)
	go srv.Serve(lis)
	tb.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// say calls Say.
func say(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
	return cc.Invoke(ctx, methodSay, wrapperspb.String("hi"), new(wrapperspb.StringValue), opts...)
}
