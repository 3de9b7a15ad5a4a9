package sluiceenvoy

import (
	"context"
	"strings"
	"testing"
	"time"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
)

// start is a fake clock's start: a whole hour, so that fixed windows begin
// with the test.
var start = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

// desc builds a request descriptor from key, value pairs.
func desc(kv ...string) *commonv3.RateLimitDescriptor {
	d := &commonv3.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &commonv3.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func request(domain string, ds ...*commonv3.RateLimitDescriptor) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: domain, Descriptors: ds}
}

// newTestServer serves the configuration in yaml (Sluice's format) from
// memory on a fake clock.
func newTestServer(t *testing.T, yaml string, opts ...Option) (*Server, clock.Fake) {
	t.Helper()
	cfg, err := parseSluice("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return newServerFor(t, cfg, opts...)
}

func newServerFor(t *testing.T, cfg *Config, opts ...Option) (*Server, clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	s, err := New(cfg, append([]Option{WithLimiterOptions(core.WithClock(clk))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// call sends req and fails the test on an error.
func call(t *testing.T, s *Server, req *rlsv3.RateLimitRequest) *rlsv3.RateLimitResponse {
	t.Helper()
	resp, err := s.ShouldRateLimit(context.Background(), req)
	if err != nil {
		t.Fatalf("ShouldRateLimit: %v", err)
	}
	if got, want := len(resp.GetStatuses()), len(req.GetDescriptors()); got != want {
		t.Fatalf("%d statuses for %d descriptors", got, want)
	}
	return resp
}

// verdict writes a response as "OVER_LIMIT: OK OVER_LIMIT ...": the overall
// code and each status's code.
func verdict(resp *rlsv3.RateLimitResponse) string {
	var b strings.Builder
	b.WriteString(resp.GetOverallCode().String() + ":")
	for _, s := range resp.GetStatuses() {
		b.WriteString(" " + s.GetCode().String())
	}
	return b.String()
}

// remaining lists each status's limit_remaining.
func remaining(resp *rlsv3.RateLimitResponse) []uint32 {
	var out []uint32
	for _, s := range resp.GetStatuses() {
		out = append(out, s.GetLimitRemaining())
	}
	return out
}

func header(resp *rlsv3.RateLimitResponse, name string) string {
	for _, h := range resp.GetResponseHeadersToAdd() {
		if strings.EqualFold(h.GetKey(), name) {
			return h.GetValue()
		}
	}
	return ""
}
