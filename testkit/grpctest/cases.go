package grpctest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/identify"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
)

func defaultRule(limits ...core.Limit) core.Option { return core.WithDefault(limits...) }

func rules(rs ...core.Rule) core.Option { return core.WithRules(rs...) }

var cases = []struct {
	name string
	run  func(h *harness)
}{
	{"allow-then-deny", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(3))}, Config{})
		// t is when more quota comes: the next token, every 20s.
		for i, want := range []struct{ remaining, t string }{{"2", "20"}, {"1", "20"}, {"0", "20"}} {
			h.expect(msgf("call %d", i+1), h.say(cc), codes.OK, map[string]string{
				"ratelimit-policy": `"default";q=3;w=60`,
				"ratelimit":        `"default";r=` + want.remaining + `;t=` + want.t,
				"retry-after":      "",
			}, map[string]string{"grpc-retry-pushback-ms": ""})
		}
		r := h.say(cc)
		h.expect("denied", r, codes.ResourceExhausted, nil, map[string]string{
			"ratelimit-policy": `"default";q=3;w=60`, "ratelimit": `"default";r=0;t=20`,
			"retry-after": "20", "grpc-retry-pushback-ms": "20000",
		})
		if got := h.counter(methodSay).Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3: a denied call reached it", got)
		}
		h.clock.Advance(20 * time.Second)
		h.expect("after the pushback", h.say(cc), codes.OK, map[string]string{"ratelimit": `"default";r=0;t=20`}, nil)
	}},
	{"t-per-algorithm", func(h *harness) {
		// draft-10's t is the seconds until more quota is available, not
		// until all of it is, as for HTTP: 4 per minute, two calls, then a
		// third 10 seconds later.
		for _, tc := range []struct {
			alg        backend.Algorithm
			first, now string // ratelimit after the second call, and 10s later
		}{
			{backend.TokenBucket, `"default";r=2;t=15`, `"default";r=1;t=5`},
			{backend.FixedWindow, `"default";r=2;t=60`, `"default";r=1;t=50`},
			{backend.SlidingLog, `"default";r=2;t=60`, `"default";r=1;t=50`},
			{backend.SlidingWindow, `"default";r=2;t=90`, `"default";r=1;t=70`},
		} {
			cc := h.serve([]core.Option{rules(core.Rule{Algorithm: tc.alg, Limits: []core.Limit{core.PerMinute(4)}})}, Config{})
			h.say(cc)
			h.expect(tc.alg.String()+" second call", h.say(cc), codes.OK, map[string]string{"ratelimit": tc.first}, nil)
			h.clock.Advance(10 * time.Second)
			h.expect(tc.alg.String()+" 10s later", h.say(cc), codes.OK, map[string]string{"ratelimit": tc.now}, nil)
			h.clock.Advance(-10 * time.Second)
		}
	}},
	{"deny-details", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(3))}, Config{})
		for range 3 {
			h.say(cc)
		}
		r := h.say(cc)
		h.expectRetryInfo("denied", r.err, 20*time.Second)
		_, qf := details(r.err)
		if qf == nil || len(qf.GetViolations()) != 1 {
			h.t.Fatalf("denied: QuotaFailure %v, want one violation", qf)
		}
		v := qf.GetViolations()[0]
		if v.GetQuotaId() != "default" || v.GetQuotaValue() != 3 || v.GetSubject() == "" || v.GetDescription() == "" {
			h.t.Errorf("denied: violation %v, want quota_id \"default\", quota_value 3, a subject and a description", v)
		}
	}},
	{"deny-is-trailers-only", func(h *harness) {
		// gRPC's retry policy only retries a response without a header
		// frame: the denial's metadata must all be trailers.
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(1))}, Config{})
		h.say(cc)
		r := h.say(cc)
		if r.code() != codes.ResourceExhausted {
			h.t.Fatalf("second call: %v, want RESOURCE_EXHAUSTED", r.err)
		}
		if r.header.Len() != 0 {
			h.t.Errorf("the denial sent header metadata %v: not trailers-only, so gRPC's retry policy will not retry it", keys(r.header))
		}
		s := h.chat(h.t.Context(), cc, methodChat)
		sr := s.result(s.send("m"))
		if sr.code() != codes.ResourceExhausted {
			h.t.Fatalf("stream: %v, want RESOURCE_EXHAUSTED", sr.err)
		}
		if sr.header.Len() != 0 {
			h.t.Errorf("the stream's denial sent header metadata %v: not trailers-only", keys(sr.header))
		}
		if sr.trailer.Get("grpc-retry-pushback-ms") == nil {
			h.t.Errorf("the stream's denial has no grpc-retry-pushback-ms trailer")
		}
	}},
	{"pushback-rounds-up", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.Limit{N: 2, Per: 3 * time.Second})}, Config{}) // a token every 1.5s
		h.say(cc)
		h.say(cc)
		h.clock.Advance(1400*time.Millisecond + 500*time.Microsecond) // 99.5ms to wait
		r := h.say(cc)
		h.expect("denied 99.5ms early", r, codes.ResourceExhausted, nil, map[string]string{
			"grpc-retry-pushback-ms": "100", "retry-after": "1", "ratelimit": `"default";r=0;t=1`,
		})
		h.expectRetryInfo("denied 99.5ms early", r.err, 99500*time.Microsecond)
	}},
	{"builtin-retry", func(h *harness) {
		// gRPC's own retry policy, with a backoff far longer than the
		// call's deadline, must retry after the pushback and succeed. The
		// Limiter runs on the real clock: gRPC waits in real time.
		const serviceConfig = `{"methodConfig": [{"name": [{"service": "sluice.test.v1.Echo"}],
			"retryPolicy": {"maxAttempts": 3, "initialBackoff": "10s", "maxBackoff": "10s",
			"backoffMultiplier": 1, "retryableStatusCodes": ["RESOURCE_EXHAUSTED"]}}]}`
		cc := h.serve([]core.Option{core.WithClock(clock.Real), defaultRule(core.Limit{N: 1, Per: 500 * time.Millisecond})}, Config{Wait: h.recordWait},
			grpc.WithDefaultServiceConfig(serviceConfig))
		// 500ms between units, so that a loaded machine's pauses cannot
		// space the calls out enough for none to be denied.
		ctx, cancel := context.WithTimeout(h.t.Context(), 10*time.Second)
		defer cancel()
		for i := range 3 {
			if r := h.call(ctx, cc, methodSay); r.err != nil {
				h.t.Fatalf("call %d: %v: the retry policy did not retry the denial after its pushback", i+1, r.err)
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		retried := 0
		for i, a := range h.attempts {
			if a.previous == "" || i == 0 {
				continue
			}
			retried++
			prev := h.attempts[i-1]
			ms, err := strconv.Atoi(prev.pushback)
			if prev.code != codes.ResourceExhausted || err != nil {
				h.t.Errorf("attempt %d retried a %v answer with pushback %q", i, prev.code, prev.pushback)
				continue
			}
			if gap := a.start.Sub(prev.end); gap < time.Duration(ms)*time.Millisecond {
				h.t.Errorf("attempt %d came %v after the denial, before its pushback of %dms", i, gap, ms)
			}
		}
		if retried == 0 {
			h.t.Errorf("no call was retried: the limit of 1 per 500ms should have denied the second")
		}
	}},
	{"multi-window", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(2), {N: 1000, Per: 24 * time.Hour, Name: "daily"}}})}, Config{})
		h.expect("first", h.say(cc), codes.OK, map[string]string{
			"ratelimit-policy": `"api-s";q=2;w=1, "daily";q=1000;w=86400`,
			"ratelimit":        `"api-s";r=1;t=1, "daily";r=999;t=86400`,
		}, nil)
		h.say(cc)
		r := h.say(cc)
		h.expect("denied by the per-second window", r, codes.ResourceExhausted, nil, map[string]string{
			"ratelimit": `"api-s";r=0;t=1`, "retry-after": "1", "grpc-retry-pushback-ms": "1000",
		})
		if _, qf := details(r.err); len(qf.GetViolations()) != 1 || qf.GetViolations()[0].GetQuotaId() != "api-s" {
			h.t.Errorf("denied: QuotaFailure %v, want one violation of \"api-s\"", qf)
		}
	}},
	{"delay", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.PerSecond(2)}, MaxDelay: time.Second})}, Config{Wait: h.recordWait})
		h.say(cc)
		h.say(cc)
		h.expect("delayed", h.say(cc), codes.OK, map[string]string{"ratelimit": `"default";r=0;t=1`}, nil)
		if w := h.recordedWaits(); len(w) != 1 || w[0] != 500*time.Millisecond {
			h.t.Errorf("waits = %v, want one of 500ms", w)
		}
		if got := h.counter(methodSay).Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3", got)
		}
	}},
	{"delay-past-deadline", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.PerSecond(2)}, MaxDelay: time.Second})}, Config{Wait: h.recordWait})
		h.say(cc)
		h.say(cc)
		ctx, cancel := context.WithTimeout(h.t.Context(), 200*time.Millisecond)
		defer cancel()
		r := h.call(ctx, cc, methodSay)
		h.expect("delayed past the deadline", r, codes.ResourceExhausted, nil, map[string]string{"grpc-retry-pushback-ms": "500"})
		if w := h.recordedWaits(); len(w) != 0 {
			h.t.Errorf("waits = %v: a delay the deadline cuts short must not be waited", w)
		}
		// The charge was refunded: 500ms later a token is back.
		h.clock.Advance(500 * time.Millisecond)
		h.expect("after the refund", h.say(cc), codes.OK, nil, nil)
		if w := h.recordedWaits(); len(w) != 0 {
			h.t.Errorf("waits = %v: the call was delayed, so the abandoned charge was not refunded", w)
		}
		if got := h.counter(methodSay).Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3", got)
		}
	}},
	{"delay-canceled", func(h *harness) {
		waiting, returned, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
		defer close(stop) // frees a handler stuck in a wait whose context never ends
		var first atomic.Bool
		wait := func(ctx context.Context, d time.Duration) error {
			if !first.CompareAndSwap(false, true) {
				return h.recordWait(ctx, d) // later calls: record and go on
			}
			close(waiting)
			select {
			case <-ctx.Done():
				close(returned)
				return ctx.Err()
			case <-stop:
				return errors.New("grpctest: the test gave up waiting")
			}
		}
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.PerSecond(1)}, MaxDelay: time.Minute})}, Config{Wait: wait})
		h.say(cc)
		ctx, cancel := context.WithCancel(h.t.Context())
		defer cancel()
		go func() {
			select {
			case <-waiting:
				cancel()
			case <-ctx.Done():
			}
		}()
		if r := h.call(ctx, cc, methodSay); r.code() != codes.Canceled {
			h.t.Errorf("canceled call: %v, want CANCELED", r.err)
		}
		select {
		case <-waiting:
		default:
			h.t.Fatalf("the Delayed call never reached Config.Wait")
		}
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			h.t.Fatalf("the wait did not end when the client went away: wait with the call's context")
		}
		// The canceled charge was refunded: a second later the next call is
		// admitted without a delay.
		h.clock.Advance(time.Second)
		h.expect("after the refund", h.say(cc), codes.OK, nil, nil)
		if w := h.recordedWaits(); len(w) != 0 {
			h.t.Errorf("waits = %v: the call after the canceled one was delayed, so its charge was not refunded", w)
		}
		if got := h.counter(methodSay).Load(); got != 2 {
			h.t.Errorf("handler ran %d times, want 2: the canceled call reached it", got)
		}
	}},
	{"exempt-health-and-reflection", func(h *harness) {
		var identified atomic.Int64
		count := core.WithIdentifier(identifierFunc(func(_ context.Context, r core.Request) (core.Identity, error) {
			identified.Add(1)
			return core.Identity{Kind: core.KindCustom, Value: "client"}, nil
		}))
		cc := h.serve([]core.Option{count, defaultRule(core.PerMinute(1))}, Config{})
		hc := healthpb.NewHealthClient(cc)
		for i := range 3 {
			var hdr metadata.MD
			if _, err := hc.Check(h.t.Context(), &healthpb.HealthCheckRequest{}, grpc.Header(&hdr)); err != nil {
				h.t.Fatalf("health check %d: %v", i+1, err)
			}
			h.expect("health check", result{header: hdr}, codes.OK, noLimitMD, nil)
			if _, err := hc.List(h.t.Context(), &healthpb.HealthListRequest{}); err != nil {
				h.t.Fatalf("health list %d: %v", i+1, err)
			}
			ctx, cancel := context.WithCancel(h.t.Context())
			w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = w.Recv()
			}
			cancel()
			if err != nil {
				h.t.Fatalf("health watch %d: %v", i+1, err)
			}
			for _, method := range []string{
				reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName,
				reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName,
			} {
				if err := listServices(h.t.Context(), cc, method); err != nil {
					h.t.Fatalf("%s %d: %v", method, i+1, err)
				}
			}
		}
		if n := identified.Load(); n != 0 {
			h.t.Errorf("the Limiter identified %d calls of exempt methods: they must not reach it", n)
		}
	}},
	{"exempt-methods-replaced", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(1))}, Config{ExemptMethods: []string{methodSay}})
		for range 3 {
			h.expect("exempt Say", h.say(cc), codes.OK, noLimitMD, nil)
		}
		hc := healthpb.NewHealthClient(cc)
		if _, err := hc.Check(h.t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			h.t.Fatalf("first health check: %v", err)
		}
		if _, err := hc.Check(h.t.Context(), &healthpb.HealthCheckRequest{}); codes.ResourceExhausted != status.Code(err) {
			h.t.Errorf("second health check: %v, want RESOURCE_EXHAUSTED: Config.ExemptMethods replaces the default", err)
		}
	}},
	{"exempt-rule", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(1)), rules(core.Rule{Name: "say", Path: methodSay, Exempt: true})}, Config{})
		for range 3 {
			h.expect("exempt", h.say(cc), codes.OK, noLimitMD, noLimitMD)
		}
	}},
	{"rules-by-method", func(h *harness) {
		var mu sync.Mutex
		var seen []string
		record := core.WithIdentifier(identifierFunc(func(_ context.Context, r core.Request) (core.Identity, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.Method+" "+r.Path)
			return core.Identity{Kind: core.KindCustom, Value: "client"}, nil
		}))
		cc := h.serve([]core.Option{record, defaultRule(core.PerMinute(100)), rules(
			core.Rule{Name: "svc", Path: "/" + service + "/*", Limits: []core.Limit{core.PerMinute(2)}},
			core.Rule{Name: "say", Path: methodSay, Methods: []string{"POST"}, Limits: []core.Limit{core.PerMinute(1)}},
		)}, Config{})
		h.expect("Say", h.say(cc), codes.OK, map[string]string{"ratelimit-policy": `"say";q=1;w=60`}, nil)
		h.expect("Say again", h.say(cc), codes.ResourceExhausted, nil, map[string]string{"ratelimit-policy": `"say";q=1;w=60`})
		s := h.chat(h.t.Context(), cc, methodChat)
		if err := s.send("m"); err != nil {
			h.t.Fatalf("Chat: %v", err)
		}
		h.expect("Chat", s.result(s.close()), codes.OK, map[string]string{"ratelimit-policy": `"svc";q=2;w=60`}, nil)
		h.expect("Ping", h.call(h.t.Context(), cc, methodPing), codes.OK, map[string]string{"ratelimit-policy": `"svc";q=2;w=60`}, nil)
		mu.Lock()
		defer mu.Unlock()
		want := []string{"POST " + methodSay, "POST " + methodSay, "POST " + methodChat, "POST " + methodPing}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			h.t.Errorf("the Limiter saw %q, want %q: Path must be the full method name and Method POST", seen, want)
		}
	}},
	{"no-rule-matches", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Path: methodChat, Limits: []core.Limit{core.PerMinute(1)}})}, Config{})
		for range 3 {
			h.expect("unlimited", h.say(cc), codes.OK, noLimitMD, noLimitMD)
		}
	}},
	{"shadow", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Shadow: true, Limits: []core.Limit{core.PerMinute(1)}})}, Config{})
		for range 3 {
			h.expect("shadow", h.say(cc), codes.OK, noLimitMD, noLimitMD)
		}
		if got := h.counter(methodSay).Load(); got != 3 {
			h.t.Errorf("handler ran %d times, want 3", got)
		}
	}},
	{"fail-open", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(1)), core.WithBackend(failingBackend{})}, Config{})
		for range 2 {
			h.expect("fail-open", h.say(cc), codes.OK, noLimitMD, noLimitMD)
		}
		h.expectReported(core.ErrBackendUnavailable)
	}},
	{"fail-closed", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(1)), core.WithBackend(failingBackend{}), core.WithFailure(core.Failure{Mode: "closed"})}, Config{})
		r := h.say(cc)
		h.expect("fail-closed", r, codes.Unavailable, nil, map[string]string{"retry-after": "1", "ratelimit": "", "ratelimit-policy": ""})
		h.expectLeakFree("fail-closed", r.err, "secret", "6379", "10.1.2.3")
		if got := h.counter(methodSay).Load(); got != 0 {
			h.t.Errorf("handler ran %d times, want 0", got)
		}
		h.expectReported(core.ErrBackendUnavailable)
	}},
	{"decide-error", func(h *harness) {
		lim, err := core.New(core.WithDefault(core.PerMinute(5)))
		if err != nil {
			h.t.Fatal(err)
		}
		cc := h.start(lim, Config{})
		lim.Close()
		r := h.say(cc)
		h.expect("closed limiter", r, codes.Unavailable, nil, map[string]string{"retry-after": "1"})
		h.expectLeakFree("closed limiter", r.err, "closed")
		h.expectReported(core.ErrClosed)
	}},
	{"concurrency-release", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.Concurrent(1)}})}, Config{})
		done := make(chan result, 1)
		go func() { done <- h.call(h.t.Context(), cc, methodSlow) }()
		<-h.entered
		h.expect("second while the first runs", h.call(h.t.Context(), cc, methodSlow), codes.ResourceExhausted, nil,
			map[string]string{"ratelimit-policy": `"default";q=1`})
		h.letGo()
		if first := <-done; first.err != nil {
			h.t.Fatalf("first call: %v", first.err)
		}
		for i := range 3 {
			h.expect(msgf("after release %d", i), h.call(h.t.Context(), cc, methodSlow), codes.OK, map[string]string{"ratelimit-policy": `"default";q=1`}, nil)
			<-h.entered
		}
	}},
	{"concurrency-release-on-panic", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.Concurrent(1)}})}, Config{})
		for i := range 3 {
			if r := h.call(h.t.Context(), cc, methodPanic); r.code() != codes.Internal {
				h.t.Errorf("panic %d: %v, want INTERNAL from the recovery interceptor", i, r.err)
			}
		}
		if got := h.counter(methodPanic).Load(); got != 3 {
			h.t.Errorf("the panicking handler ran %d times, want 3: its slot was not released", got)
		}
		for i := range 3 {
			s := h.chat(h.t.Context(), cc, methodPanicStream)
			if r := s.result(s.send("m")); r.code() != codes.Internal {
				h.t.Errorf("stream panic %d: %v, want INTERNAL from the recovery interceptor", i, r.err)
			}
		}
		if got := h.counter(methodPanicStream).Load(); got != 3 {
			h.t.Errorf("the panicking stream handler ran %d times, want 3: its slot was not released", got)
		}
	}},
	{"stream-open-limit", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(2))}, Config{})
		for i, want := range []string{`"default";r=1;t=30`, `"default";r=0;t=30`} {
			s := h.chat(h.t.Context(), cc, methodChat)
			if err := s.send("m"); err != nil {
				h.t.Fatalf("stream %d: %v", i+1, err)
			}
			h.expect(msgf("stream %d", i+1), s.result(s.close()), codes.OK, map[string]string{
				"ratelimit": want, "ratelimit-policy": `"default";q=2;w=60`,
			}, nil)
		}
		s := h.chat(h.t.Context(), cc, methodChat)
		r := s.result(s.send("m"))
		h.expect("third stream", r, codes.ResourceExhausted, nil, map[string]string{
			"ratelimit": `"default";r=0;t=30`, "retry-after": "30", "grpc-retry-pushback-ms": "30000",
		})
		h.expectRetryInfo("third stream", r.err, 30*time.Second)
		if got := h.counter(methodChat).Load(); got != 2 {
			h.t.Errorf("stream handler ran %d times, want 2", got)
		}
	}},
	{"stream-concurrency-release", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Limits: []core.Limit{core.Concurrent(1)}})}, Config{})
		a := h.chat(h.t.Context(), cc, methodChat)
		sent := make(chan error, 1)
		go func() { sent <- a.send("hold") }()
		<-h.entered
		b := h.chat(h.t.Context(), cc, methodChat)
		h.expect("second stream while the first is open", b.result(b.send("m")), codes.ResourceExhausted, nil,
			map[string]string{"ratelimit-policy": `"default";q=1`})
		h.letGo()
		if err := <-sent; err != nil {
			h.t.Fatalf("first stream: %v", err)
		}
		if err := a.close(); err != nil {
			h.t.Fatalf("first stream: %v", err)
		}
		for i := range 3 {
			c := h.chat(h.t.Context(), cc, methodChat)
			if err := c.send("m"); err != nil {
				h.t.Fatalf("stream %d after release: %v", i, err)
			}
			if err := c.close(); err != nil {
				h.t.Fatalf("stream %d after release: %v", i, err)
			}
		}
	}},
	{"message-limit", func(h *harness) {
		cc := h.serve([]core.Option{defaultRule(core.PerMinute(100)),
			rules(core.Rule{Name: "msgs", NameOnly: true, Limits: []core.Limit{core.PerMinute(2)}})}, Config{MessageRule: "msgs"})
		a := h.chat(h.t.Context(), cc, methodChat)
		for i := range 2 {
			if err := a.send("m"); err != nil {
				h.t.Fatalf("message %d: %v", i+1, err)
			}
		}
		r := a.result(a.send("m"))
		h.expect("third message", r, codes.ResourceExhausted, nil, map[string]string{
			"retry-after": "30", "grpc-retry-pushback-ms": "30000", "ratelimit-policy": `"msgs";q=2;w=60`,
		})
		h.expectRetryInfo("third message", r.err, 30*time.Second)
		// The quota is the client's, not the stream's.
		b := h.chat(h.t.Context(), cc, methodChat)
		if r := b.result(b.send("m")); r.code() != codes.ResourceExhausted {
			h.t.Errorf("first message of the client's second stream: %v, want RESOURCE_EXHAUSTED: the client's streams share the quota", r.err)
		}
		h.clock.Advance(30 * time.Second)
		c := h.chat(h.t.Context(), cc, methodChat)
		if err := c.send("m"); err != nil {
			h.t.Errorf("a message after the pushback: %v", err)
		}
		if got := h.counter("message").Load(); got != 3 {
			h.t.Errorf("the handler received %d messages, want 3: a denied message reached it", got)
		}
	}},
	{"message-limit-unmatched-stream", func(h *harness) {
		// No rule limits opening Chat, but its messages are limited.
		cc := h.serve([]core.Option{rules(core.Rule{Name: "msgs", NameOnly: true, Limits: []core.Limit{core.PerMinute(1)}})}, Config{MessageRule: "msgs"})
		a := h.chat(h.t.Context(), cc, methodChat)
		if err := a.send("m"); err != nil {
			h.t.Fatalf("first message: %v", err)
		}
		if r := a.result(a.send("m")); r.code() != codes.ResourceExhausted {
			h.t.Errorf("second message: %v, want RESOURCE_EXHAUSTED", r.err)
		}
	}},
	{"message-delay", func(h *harness) {
		cc := h.serve([]core.Option{rules(core.Rule{Name: "msgs", NameOnly: true, Limits: []core.Limit{core.PerSecond(2)}, MaxDelay: time.Second})},
			Config{MessageRule: "msgs", Wait: h.recordWait})
		a := h.chat(h.t.Context(), cc, methodChat)
		for i := range 3 {
			if err := a.send("m"); err != nil {
				h.t.Fatalf("message %d: %v", i+1, err)
			}
		}
		if w := h.recordedWaits(); len(w) != 1 || w[0] != 500*time.Millisecond {
			h.t.Errorf("waits = %v, want one of 500ms, for the third message", w)
		}
	}},
	{"client-behind-trusted-proxy", func(h *harness) {
		// The test client is the proxy (127.0.0.1, trusted): each client
		// named in x-forwarded-for has its own counter, and a forged
		// leftmost entry does not make one client into another. The
		// interceptor must hand the peer address and every metadata value
		// to the Limiter untouched.
		id, err := identify.New(identify.WithTrustedProxies("127.0.0.1/32", "::1/128"))
		if err != nil {
			h.t.Fatal(err)
		}
		cc := h.serve([]core.Option{core.WithIdentifier(id), defaultRule(core.PerMinute(1))}, Config{})
		as := func(xff ...string) result {
			h.t.Helper()
			ctx := h.t.Context()
			for _, v := range xff {
				ctx = metadata.AppendToOutgoingContext(ctx, "X-Forwarded-For", v)
			}
			return h.call(ctx, cc, methodSay)
		}
		h.expect("client A", as("198.51.100.7"), codes.OK, nil, nil)
		h.expect("client A again", as("198.51.100.7"), codes.ResourceExhausted, nil, nil)
		h.expect("client B", as("198.51.100.8"), codes.OK, nil, nil)
		h.expect("client A forging a leftmost B", as("198.51.100.8, 198.51.100.7"), codes.ResourceExhausted, nil, nil)
		h.expect("client A on a second metadata value", as("203.0.113.1", "198.51.100.7"), codes.ResourceExhausted, nil, nil)
		h.expect("client C", as("203.0.113.1", "198.51.100.9"), codes.OK, nil, nil)
		h.expect("the proxy itself", as(), codes.OK, nil, nil)
	}},
	{"forwarded-from-untrusted-peer", func(h *harness) {
		id, err := identify.New(identify.WithTrustedProxies("10.0.0.0/8"))
		if err != nil {
			h.t.Fatal(err)
		}
		cc := h.serve([]core.Option{core.WithIdentifier(id), defaultRule(core.PerMinute(1))}, Config{})
		as := func(xff string) result {
			return h.call(metadata.AppendToOutgoingContext(h.t.Context(), "x-forwarded-for", xff), cc, methodSay)
		}
		h.expect("client A", as("198.51.100.7"), codes.OK, nil, nil)
		h.expect("a different x-forwarded-for from the same untrusted peer", as("198.51.100.8"), codes.ResourceExhausted, nil, nil)
	}},
	{"api-key-metadata", func(h *harness) {
		id, err := identify.New(identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{"k-1": "", "k-2": ""})))
		if err != nil {
			h.t.Fatal(err)
		}
		cc := h.serve([]core.Option{core.WithIdentifier(id), defaultRule(core.PerMinute(1))}, Config{})
		as := func(key string) result {
			ctx := h.t.Context()
			if key != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-api-key", key)
			}
			return h.call(ctx, cc, methodSay)
		}
		h.expect("key 1", as("k-1"), codes.OK, nil, nil)
		h.expect("key 1 again", as("k-1"), codes.ResourceExhausted, nil, nil)
		h.expect("key 2", as("k-2"), codes.OK, nil, nil)
		h.expect("no key: the peer", as(""), codes.OK, nil, nil)
		h.expect("an invented key: the peer again", as("k-invented"), codes.ResourceExhausted, nil, nil)
	}},
}

// listServices lists the services through a reflection stream.
func listServices(ctx context.Context, cc *grpc.ClientConn, method string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := cc.NewStream(ctx, chatDesc, method)
	if err != nil {
		return err
	}
	var req, resp any
	if method == reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName {
		req = &reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}
		resp = new(reflectionv1.ServerReflectionResponse)
	} else {
		// v1alpha is deprecated, but reflection.Register still serves it
		// and clients still call it: it must be exempt too.
		//lint:ignore SA1019 the deprecated service is the one under test
		req = &reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}
		//lint:ignore SA1019 the deprecated service is the one under test
		resp = new(reflectionv1alpha.ServerReflectionResponse)
	}
	if err := cs.SendMsg(req); err != nil {
		return err
	}
	if err := cs.RecvMsg(resp); err != nil {
		return err
	}
	hdr, err := cs.Header()
	if err != nil {
		return err
	}
	if v := hdr.Get("ratelimit"); len(v) > 0 {
		return fmt.Errorf("an exempt stream carries ratelimit %q", v)
	}
	return cs.CloseSend()
}

func keys(md metadata.MD) []string {
	var ks []string
	for k := range md {
		ks = append(ks, k)
	}
	return ks
}
