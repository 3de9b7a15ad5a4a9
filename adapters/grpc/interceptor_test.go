package sluicegrpc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestWithHeaderMetadata(t *testing.T) {
	t.Parallel()
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim, sluicegrpc.WithHeaderMetadata(false)))})
	var hdr metadata.MD
	if err := say(t.Context(), cc, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if v := hdr.Get(sluicegrpc.MetadataRateLimit); len(v) > 0 {
		t.Errorf("an admitted call carries ratelimit %q with WithHeaderMetadata(false)", v)
	}
	var trailer metadata.MD
	err = say(t.Context(), cc, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted || len(trailer.Get(sluicegrpc.MetadataRateLimit)) == 0 {
		t.Errorf("the denial: %v with trailers %v, want RESOURCE_EXHAUSTED with ratelimit whatever WithHeaderMetadata says", err, trailer)
	}
}

func TestNilLimiterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"unary":  func() { sluicegrpc.UnaryServerInterceptor(nil) },
		"stream": func() { sluicegrpc.StreamServerInterceptor(nil) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), "sluicegrpc: ") {
					t.Errorf("%s: recovered %v, want a sluicegrpc panic", name, p)
				}
			}()
			f()
		}()
	}
}

// tokenSource is an identify.Source standing for a token verifier such as
// sluicejwt's: it reads the Authorization header, which the interceptor
// serves from the authorization metadata.
type tokenSource map[string]string // token -> user

func (s tokenSource) Identify(_ context.Context, r core.Request) (core.Identity, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if user, known := s[token]; ok && known {
		return core.Identity{Kind: core.KindUser, Value: user}, true
	}
	return core.Identity{}, false
}

func TestUserFromAuthorizationMetadata(t *testing.T) {
	t.Parallel()
	id, err := identify.New(identify.WithUser(tokenSource{"t-alice": "alice", "t-bob": "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	lim, err := core.New(core.WithIdentifier(id), core.WithDefault(core.PerMinute(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim))})
	as := func(token string) (codes.Code, string) {
		ctx := t.Context()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		err := say(ctx, cc)
		for _, d := range status.Convert(err).Details() {
			if qf, ok := d.(*errdetails.QuotaFailure); ok && len(qf.GetViolations()) > 0 {
				return status.Code(err), qf.GetViolations()[0].GetSubject()
			}
		}
		return status.Code(err), ""
	}
	for _, step := range []struct {
		token, want string
		code        codes.Code
	}{
		{"t-alice", "", codes.OK},
		{"t-alice", "user:alice", codes.ResourceExhausted},
		{"t-bob", "", codes.OK},
		{"", "", codes.OK},                                  // the peer's address
		{"t-forged", "ip:bufconn", codes.ResourceExhausted}, // an unknown token: the peer again
	} {
		if code, subject := as(step.token); code != step.code || subject != step.want {
			t.Errorf("token %q: %v counted as %q, want %v and %q", step.token, code, subject, step.code, step.want)
		}
	}
}

// TestPenaltyBlock checks the denial of a client blocked by a progressive
// penalty: RESOURCE_EXHAUSTED, with the block's time left to wait.
func TestPenaltyBlock(t *testing.T) {
	t.Parallel()
	lim, err := core.New(core.WithClock(clock.NewFake(epoch)), core.WithRules(core.Rule{
		Limits:  []core.Limit{core.PerMinute(1)},
		Penalty: &core.Penalty{Threshold: 1, Window: time.Minute, Base: 5 * time.Minute},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	cc := serveBufconn(t, []grpc.ServerOption{grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim))})
	say(t.Context(), cc)
	say(t.Context(), cc) // denied: the penalty's threshold
	var trailer metadata.MD
	err = say(t.Context(), cc, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("blocked call: %v, want RESOURCE_EXHAUSTED", err)
	}
	if got := trailer.Get(sluicegrpc.MetadataRetryPushback); len(got) != 1 || got[0] != "300000" {
		t.Errorf("blocked call: pushback %q, want the block's 300000ms", got)
	}
	var qf *errdetails.QuotaFailure
	for _, d := range status.Convert(err).Details() {
		if q, ok := d.(*errdetails.QuotaFailure); ok {
			qf = q
		}
	}
	if len(qf.GetViolations()) == 0 {
		t.Errorf("blocked call: QuotaFailure %v, want a violation", qf)
	}
}
