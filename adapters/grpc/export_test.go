package sluicegrpc

import (
	"context"
	"time"
)

// WithClientSleep replaces how UnaryClientInterceptor waits, for tests.
func WithClientSleep(f func(ctx context.Context, d time.Duration) error) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.sleep = f })
}
