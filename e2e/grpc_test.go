package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	greeterv1 "github.com/sluicehq/sluice/examples/grpc/proto/greeter/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcLimit is examples/grpc's default rule: 5 calls per 10 seconds per
// client IP, a token bucket (one more call every 2 seconds); grpcChats its
// limit on open Chat streams.
const (
	grpcLimit  = 5
	grpcRefill = 2 * time.Second
	grpcChats  = 2
)

// startGRPC runs n instances of examples/grpc on the Cluster (in memory
// under the memory mutation).
func (h *harness) startGRPC(n int) []*instance {
	h.t.Helper()
	var env []string
	if h.broken != "memory" {
		env = append(env, "REDIS_URL="+h.clusterURL())
	}
	var ins []*instance
	for range n {
		ins = append(ins, h.start(h.bin, "grpc", "cluster", env))
	}
	return ins
}

// grpcClients returns a client of each instance, connecting from the
// loopback address ip: the example identifies clients by their address.
func (h *harness) grpcClients(ins []*instance, ip net.IP) []greeterv1.GreeterClient {
	h.t.Helper()
	dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext(ctx, "tcp", addr)
	})
	var clients []greeterv1.GreeterClient
	for _, in := range ins {
		conn, err := grpc.NewClient(strings.TrimPrefix(in.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()), dialer)
		if err != nil {
			h.t.Fatal(err)
		}
		h.root.Cleanup(func() { conn.Close() })
		clients = append(clients, greeterv1.NewGreeterClient(conn))
	}
	return clients
}

// failedOpen counts the decisions the instances logged as failed open.
func (h *harness) failedOpen(ins []*instance) int {
	n := 0
	for _, in := range ins {
		n += strings.Count(h.logOf(in), "failure mode applied")
	}
	return n
}

// grpcDenial describes what a RESOURCE_EXHAUSTED call carried: its
// RetryInfo delay and its grpc-retry-pushback-ms trailer, or what was
// missing.
func grpcDenial(err error, trailer metadata.MD) (retry time.Duration, pushback int, problem string) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry <= 0 {
		return 0, 0, "no RetryInfo with a positive delay"
	}
	v := trailer.Get("grpc-retry-pushback-ms")
	if len(v) != 1 {
		return retry, 0, "no grpc-retry-pushback-ms trailer"
	}
	pushback, perr := strconv.Atoi(v[0])
	if perr != nil || pushback <= 0 {
		return retry, 0, "grpc-retry-pushback-ms " + v[0]
	}
	return retry, pushback, ""
}

// Scenario 10: examples/grpc, two instances on the Redis Cluster. Unary
// calls spread over both are admitted exactly up to the default rule's 5
// per client; every refusal is RESOURCE_EXHAUSTED with RetryInfo and the
// pushback trailer; and at most 2 Chat streams are open at once per client
// across both instances, a third opening as soon as one closes.
//
// The example keeps the default backend timeout of 50ms, which a loaded
// machine can exceed on a first call to a Cluster node; such a decision
// fails open, as documented, and is no wrong count. So a client of its own
// (a loopback address of its own) makes the counts, which are checked only
// when no decision of the instances failed open meanwhile; otherwise a new
// client tries again, up to 3 times.
func scenarioGRPC(h *harness, sr *scenarioReport) {
	ins := h.startGRPC(2)
	// A first chat on each instance, opened and closed, so that both have
	// connections before the count.
	for _, c := range h.grpcClients(ins, net.IPv4(127, 0, 0, 1)) {
		st, err := c.Chat(h.t.Context())
		if err != nil {
			h.t.Fatal(err)
		}
		st.CloseSend()
		if _, err := st.Recv(); !errors.Is(err, io.EOF) {
			h.t.Fatalf("a first chat: %v", err)
		}
	}
	for try := range 3 {
		ip := net.IPv4(127, 0, 1, byte(1+try))
		before := h.failedOpen(ins)
		checks := grpcCounts(h, h.grpcClients(ins, ip))
		if n := h.failedOpen(ins) - before; n > 0 && try < 2 {
			sr.note(fmt.Sprintf("client %v: %d decisions failed open (the backend timeout on a loaded machine): not counted, a new client tries again", ip, n))
			continue
		}
		for _, c := range checks {
			c(sr)
		}
		return
	}
}

// grpcCounts makes the calls and opens the chats of scenario 10 from one
// client and returns the checks to record.
func grpcCounts(h *harness, clients []greeterv1.GreeterClient) (checks []func(*scenarioReport)) {
	ctx := h.t.Context()
	const calls = 4 * grpcLimit
	var mu sync.Mutex
	admitted := make([]int, len(clients))
	var denied int
	var problems []string
	var maxRetry time.Duration
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range calls {
		wg.Go(func() {
			var trailer metadata.MD
			_, err := clients[i%2].SayHello(ctx, &greeterv1.HelloRequest{Name: "e2e"}, grpc.Trailer(&trailer))
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				admitted[i%2]++
			case codes.ResourceExhausted:
				denied++
				retry, _, problem := grpcDenial(err, trailer)
				if problem != "" {
					problems = append(problems, problem)
				}
				maxRetry = max(maxRetry, retry)
			default:
				problems = append(problems, err.Error())
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	total := admitted[0] + admitted[1]
	refills := int(took / grpcRefill)
	observed := "none"
	if len(problems) > 0 {
		observed = fmt.Sprintf("%d: %s", len(problems), strings.Join(first(problems, 3), "; "))
	}
	checks = append(checks, func(sr *scenarioReport) {
		sr.note(fmt.Sprintf("%d SayHello calls at once over 2 instances in %v: admitted %d + %d, %d RESOURCE_EXHAUSTED, longest RetryInfo %v",
			calls, took.Round(time.Millisecond), admitted[0], admitted[1], denied, maxRetry))
		sr.expect(total >= grpcLimit && total <= grpcLimit+refills,
			"gRPC unary calls admitted over both instances on the Cluster",
			fmt.Sprintf("%d (and 1 more per %v the burst took)", grpcLimit, grpcRefill),
			strconv.Itoa(total))
		sr.expectEq("gRPC refusals without RetryInfo or pushback, and other errors", "none", observed)
		sr.expect(maxRetry > 0 && maxRetry <= 10*time.Second, "RetryInfo delay", "in (0, 10s]", maxRetry.String())
	})

	// Chat streams: open grpcChats+1, alternating instances, each proven
	// open by one message and its reply.
	type chatStream = grpc.BidiStreamingClient[greeterv1.HelloRequest, greeterv1.HelloReply]
	chat := func(c greeterv1.GreeterClient) (chatStream, error) {
		st, err := c.Chat(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&greeterv1.HelloRequest{Name: "chat"}); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if _, err := st.Recv(); err != nil {
			return nil, err
		}
		return st, nil
	}
	var open []chatStream
	var refused int
	var chatErrs []string
	for i := range grpcChats + 1 {
		st, err := chat(clients[i%2])
		switch {
		case err == nil:
			open = append(open, st)
		case status.Code(err) == codes.ResourceExhausted:
			refused++
		default:
			chatErrs = append(chatErrs, err.Error())
		}
	}
	opened := fmt.Sprintf("%d open, %d refused%s", len(open), refused, strings.Join(chatErrs, "; "))
	checks = append(checks, func(sr *scenarioReport) {
		sr.expectEq("Chat streams open at once over both instances (3 tried)", fmt.Sprintf("%d open, 1 refused", grpcChats), opened)
	})
	// Closing one frees its place for a new stream on the other instance.
	if len(open) > 0 {
		open[0].CloseSend()
		if _, err := open[0].Recv(); !errors.Is(err, io.EOF) {
			h.t.Errorf("closing a chat: %v", err)
		}
		open = open[1:]
		st, err := chat(clients[1])
		checks = append(checks, func(sr *scenarioReport) {
			sr.expectEq("a Chat stream opened after one closed", "<nil>", fmt.Sprint(err))
		})
		if err == nil {
			open = append(open, st)
		}
	}
	for _, st := range open {
		st.CloseSend()
		st.Recv()
	}
	return checks
}
