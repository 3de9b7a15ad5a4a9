package grpctest

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The test service, sluice.test.v1.Echo, written by hand so that the suite
// needs no generated code: its messages are wrapperspb.StringValue.
const (
	service = "sluice.test.v1.Echo"
	// methodSay answers "hello".
	methodSay = "/" + service + "/Say"
	// methodPing answers "pong".
	methodPing = "/" + service + "/Ping"
	// methodSlow blocks until the harness lets it go or its caller leaves.
	methodSlow = "/" + service + "/Slow"
	// methodPanic panics.
	methodPanic = "/" + service + "/Panic"
	// methodChat is a bidi stream that echoes every message; the message
	// "hold" makes it block as methodSlow does before echoing.
	methodChat = "/" + service + "/Chat"
	// methodPanicStream is a bidi stream that panics.
	methodPanicStream = "/" + service + "/PanicStream"
)

// chatDesc describes methodChat and methodPanicStream to a client.
var chatDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

func (h *harness) serviceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			unary("Say", func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				h.counter(methodSay).Add(1)
				return wrapperspb.String("hello"), nil
			}),
			unary("Ping", func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				h.counter(methodPing).Add(1)
				return wrapperspb.String("pong"), nil
			}),
			unary("Slow", func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				h.counter(methodSlow).Add(1)
				h.hold(ctx)
				return wrapperspb.String("slow"), nil
			}),
			unary("Panic", func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
				h.counter(methodPanic).Add(1)
				panic("grpctest: deliberate panic")
			}),
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				h.counter(methodChat).Add(1)
				for {
					in := new(wrapperspb.StringValue)
					if err := ss.RecvMsg(in); errors.Is(err, io.EOF) {
						return nil
					} else if err != nil {
						return err
					}
					h.counter("message").Add(1)
					if in.GetValue() == "hold" {
						h.hold(ss.Context())
					}
					if err := ss.SendMsg(in); err != nil {
						return err
					}
				}
			}},
			{StreamName: "PanicStream", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				h.counter(methodPanicStream).Add(1)
				panic("grpctest: deliberate panic")
			}},
		},
	}
}

// unary returns the description of a unary method of the test service.
func unary(name string, f func(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error)) grpc.MethodDesc {
	full := "/" + service + "/" + name
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		handler := func(ctx context.Context, req any) (any, error) { return f(ctx, req.(*wrapperspb.StringValue)) }
		if ic == nil {
			return handler(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, handler)
	}}
}
