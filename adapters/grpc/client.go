package sluicegrpc

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ClientOption configures UnaryClientInterceptor.
type ClientOption interface{ applyClient(*clientConfig) }

type clientOptionFunc func(*clientConfig)

func (f clientOptionFunc) applyClient(c *clientConfig) { f(c) }

type clientConfig struct {
	methods     []string
	retryIf     func(method string) bool
	maxAttempts int
	sleep       func(ctx context.Context, d time.Duration) error // tests replace it
}

// defaultMaxAttempts is the number of attempts a retryable call makes at
// most, the first included, unless WithMaxAttempts says otherwise.
const defaultMaxAttempts = 3

// WithRetryMethods marks methods as safe to retry after the server said
// when: each a full method name ("/pkg.Service/Method") or every method of
// a service ("/pkg.Service/*"). Mark only methods that are safe to call
// twice. The default marks none.
func WithRetryMethods(methods ...string) ClientOption {
	methods = append([]string(nil), methods...)
	return clientOptionFunc(func(c *clientConfig) { c.methods = append(c.methods, methods...) })
}

// WithRetryIf marks the methods for which f returns true as safe to retry,
// in addition to those of WithRetryMethods. f gets the full method name
// and must be safe for concurrent use. The default marks none.
func WithRetryIf(f func(method string) bool) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.retryIf = f })
}

// WithMaxAttempts bounds the attempts of a retryable call, the first one
// included; n below 1 means 1, no retry. The default is 3.
func WithMaxAttempts(n int) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.maxAttempts = max(1, n) })
}

func (c *clientConfig) retryable(method string) bool {
	return matchMethod(c.methods, method) || (c.retryIf != nil && c.retryIf(method))
}

// UnaryClientInterceptor returns a client interceptor that retries a call
// to a method marked retryable (WithRetryMethods, WithRetryIf) when the
// server refused it with RESOURCE_EXHAUSTED or UNAVAILABLE and said how
// long to wait, in a google.rpc.RetryInfo detail or a
// grpc-retry-pushback-ms trailer (the longer of the two when both are
// present), as the server interceptors of this package do:
//
//	conn, err := grpc.NewClient(target, grpc.WithChainUnaryInterceptor(
//		sluicegrpc.UnaryClientInterceptor(sluicegrpc.WithRetryMethods("/shop.v1.Catalog/*"))))
//
// It never retries earlier than the server said, nor without being told
// when (a refusal without RetryInfo or pushback, or with a negative or
// malformed pushback, is returned as it is), nor more than the attempts of
// WithMaxAttempts. It does not start a wait the call's deadline would cut
// short: it returns the server's error at once instead. A wait ended by
// the call's context returns the context's status (CANCELED). The wait
// runs in the calling goroutine; calls of other methods pass through
// untouched.
//
// gRPC's own retry policy (a service config with retryableStatusCodes)
// also honours the pushback; use one or the other for a method, or the
// attempts multiply.
func UnaryClientInterceptor(opts ...ClientOption) grpc.UnaryClientInterceptor {
	c := clientConfig{maxAttempts: defaultMaxAttempts, sleep: sleep}
	for _, o := range opts {
		o.applyClient(&c)
	}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if c.maxAttempts <= 1 || !c.retryable(method) {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		var trailer metadata.MD
		callOpts = append(callOpts[:len(callOpts):len(callOpts)], grpc.Trailer(&trailer))
		for attempt := 1; ; attempt++ {
			trailer = nil
			err := invoker(ctx, method, req, reply, cc, callOpts...)
			if err == nil || attempt >= c.maxAttempts {
				return err
			}
			wait, ok := retryDelay(err, trailer)
			if !ok {
				return err
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return err
			}
			if werr := c.sleep(ctx, wait); werr != nil {
				return status.FromContextError(werr).Err()
			}
		}
	}
}

// retryDelay returns how long the server asked a refused call to wait
// before it is tried again, and false when it is not to be retried.
func retryDelay(err error, trailer metadata.MD) (time.Duration, bool) {
	st, _ := status.FromError(err)
	if c := st.Code(); c != codes.ResourceExhausted && c != codes.Unavailable {
		return 0, false
	}
	var wait time.Duration
	told := false
	if v := trailer.Get(MetadataRetryPushback); len(v) > 0 {
		// gRPC's rule: one non-negative integer, or no retry at all.
		ms, perr := strconv.Atoi(v[0])
		if len(v) != 1 || perr != nil || ms < 0 {
			return 0, false
		}
		wait, told = time.Duration(ms)*time.Millisecond, true
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			if rd := ri.GetRetryDelay().AsDuration(); rd >= 0 {
				wait, told = max(wait, rd), true
			}
		}
	}
	return wait, told
}
