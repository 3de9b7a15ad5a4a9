package main_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	greeterv1 "github.com/sluicehq/sluice/examples/grpc/proto/greeter/v1"
	"github.com/sluicehq/sluice/testkit/redistest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// build compiles the example into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goBin := redistest.Need(t, "go")
	bin := filepath.Join(t.TempDir(), "grpc-example")
	if out, err := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is the example running as a process.
type server struct {
	addr    string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	out     *syncBuffer
}

// start runs the example on a free port with env added to its environment
// and waits until its health service answers.
func start(t *testing.T, bin string, env ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String(), done: make(chan struct{}), out: &syncBuffer{}}
	ln.Close()
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(append(os.Environ(), "ADDR="+s.addr, "REDIS_URL="), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("output:\n%s", s.out)
		}
	})
	hc := healthpb.NewHealthClient(s.dial(t))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("the example exited before answering: %v", s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example did not answer a health check within 15s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) dial(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(s.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func sayHello(t *testing.T, c greeterv1.GreeterClient, opts ...grpc.CallOption) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.SayHello(ctx, &greeterv1.HelloRequest{Name: "you"}, opts...)
	if err == nil && resp.GetMessage() != "hello you" {
		t.Errorf("SayHello answered %q", resp.GetMessage())
	}
	return err
}

// TestExample runs the example as a process and checks, over real gRPC,
// the policy its documentation promises and a clean exit on SIGTERM.
func TestExample(t *testing.T) {
	s := start(t, build(t))
	cc := s.dial(t)
	greeter := greeterv1.NewGreeterClient(cc)

	t.Run("default rule denies after 5", func(t *testing.T) {
		for i := range 20 {
			var hdr, trailer metadata.MD
			err := sayHello(t, greeter, grpc.Header(&hdr), grpc.Trailer(&trailer))
			if err == nil {
				if got, want := strings.Join(hdr.Get("ratelimit-policy"), ","), `"default";q=5;w=10`; got != want {
					t.Errorf("call %d: ratelimit-policy %q, want %q", i+1, got, want)
				}
				continue
			}
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("call %d: %v, want OK or RESOURCE_EXHAUSTED", i+1, err)
			}
			if i < 5 {
				t.Errorf("denied after %d calls, want at least 5 (the burst)", i)
			}
			if hdr.Len() != 0 {
				t.Errorf("the denial has header metadata %v: it must be trailers-only", hdr)
			}
			for _, k := range []string{"ratelimit", "ratelimit-policy", "retry-after", "grpc-retry-pushback-ms"} {
				if len(trailer.Get(k)) != 1 {
					t.Errorf("the denial's trailer %s = %q, want one value", k, trailer.Get(k))
				}
			}
			var retry *errdetails.RetryInfo
			for _, d := range status.Convert(err).Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri
				}
			}
			if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
				t.Errorf("the denial has no RetryInfo: %v", status.Convert(err).Details())
			}
			return
		}
		t.Fatal("no denial within 20 calls")
	})

	t.Run("gRPC's retry policy waits the pushback", func(t *testing.T) {
		// The default rule is exhausted: a client whose service config
		// retries RESOURCE_EXHAUSTED gets through after the pushback
		// (up to 2s at 5 per 10s).
		retrying := greeterv1.NewGreeterClient(s.dial(t, grpc.WithDefaultServiceConfig(`{"methodConfig": [{
			"name": [{"service": "sluice.example.greeter.v1.Greeter"}],
			"retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
				"backoffMultiplier": 2, "retryableStatusCodes": ["RESOURCE_EXHAUSTED"]}}]}`)))
		start := time.Now()
		if err := sayHello(t, retrying, grpc.WaitForReady(true)); err != nil {
			t.Fatalf("a retrying client: %v after %v", err, time.Since(start))
		}
	})

	t.Run("health and reflection are exempt", func(t *testing.T) {
		hc := healthpb.NewHealthClient(cc)
		for i := range 8 {
			var hdr metadata.MD
			if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.Header(&hdr)); err != nil {
				t.Fatalf("health check %d: %v", i+1, err)
			}
			if v := hdr.Get("ratelimit"); len(v) > 0 {
				t.Fatalf("health check %d carries ratelimit %q", i+1, v)
			}
		}
		rc, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := rc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, svc := range resp.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		if !strings.Contains(strings.Join(names, " "), "sluice.example.greeter.v1.Greeter") {
			t.Errorf("reflection lists %v, want the Greeter among them", names)
		}
		rc.CloseSend()
	})

	t.Run("two chats at once, messages throttled", func(t *testing.T) {
		chat := func() (grpc.BidiStreamingClient[greeterv1.HelloRequest, greeterv1.HelloReply], error) {
			st, err := greeter.Chat(t.Context())
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
		a, err := chat()
		if err != nil {
			t.Fatalf("first chat: %v", err)
		}
		b, err := chat()
		if err != nil {
			t.Fatalf("second chat: %v", err)
		}
		if _, err := chat(); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("third chat: %v, want RESOURCE_EXHAUSTED", err)
		}
		// 8 messages on one stream, beyond the burst of 5 a second: none
		// fails, the last ones wait their turn.
		start := time.Now()
		for i := range 8 {
			if err := a.Send(&greeterv1.HelloRequest{Name: "m"}); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
			if _, err := a.Recv(); err != nil {
				t.Fatalf("message %d: %v", i+1, err)
			}
		}
		if took := time.Since(start); took < 400*time.Millisecond {
			t.Errorf("8 messages took %v; at 5 a second after the 2 already sent, they must be throttled", took)
		}
		for _, st := range []grpc.BidiStreamingClient[greeterv1.HelloRequest, greeterv1.HelloReply]{a, b} {
			st.CloseSend()
			if _, err := st.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("closing a chat: %v", err)
			}
		}
		if c, err := chat(); err != nil {
			t.Errorf("a chat after the others closed: %v", err)
		} else {
			c.CloseSend()
		}
	})

	t.Run("SIGTERM exits cleanly", func(t *testing.T) {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.done:
			if s.waitErr != nil {
				t.Errorf("exit after SIGTERM: %v", s.waitErr)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no exit within 15s of SIGTERM")
		}
	})
}

// TestExampleRedis runs two instances on one Redis, standalone and
// Cluster: between them they admit exactly the default rule's 5 calls per
// 10 seconds, whichever instance each call reaches, and exactly 2 open
// chats per client.
//
// The example keeps the default backend timeout of 50ms, which a loaded
// machine can exceed on a first call to a node; such a call fails open, as
// documented, and is not a wrong count. So the count is made by a client of
// its own (a loopback address of its own, 127.0.0.2 and on), and is checked
// only when neither instance logged a decision that failed open meanwhile;
// otherwise a new client tries again, up to 3 times.
func TestExampleRedis(t *testing.T) {
	bin := build(t)
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"standalone", func(t *testing.T) string { return "redis://" + redistest.Start(t).Addr + "/0" }},
		{"cluster", func(t *testing.T) string {
			return "redis+cluster://" + strings.Join(redistest.StartCluster(t).Addrs(), ",")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := tc.url(t)
			var servers []*server
			for range 2 {
				servers = append(servers, start(t, bin, "REDIS_URL="+url))
			}
			failedOpen := func() int {
				n := 0
				for _, s := range servers {
					n += strings.Count(s.out.String(), "failure mode applied")
				}
				return n
			}
			for try := 2; try <= 4; try++ {
				local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(try))}
				dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
					return (&net.Dialer{LocalAddr: local}).DialContext(ctx, "tcp", addr)
				})
				var clients []greeterv1.GreeterClient
				for _, s := range servers {
					clients = append(clients, greeterv1.NewGreeterClient(s.dial(t, dialer)))
				}
				before := failedOpen()
				allowed, took, open := countRedis(t, clients)
				if n := failedOpen() - before; n > 0 {
					t.Logf("client %v: %d decisions failed open (the backend timeout on a loaded machine); a new client tries again", local.IP, n)
					continue
				}
				// One more call is admitted every 2s: exactly 5 unless the
				// calls took that long.
				if refills := int(took / (2 * time.Second)); allowed < 5 || allowed > 5+refills {
					t.Errorf("the two instances allowed %d calls between them in %v, want 5 (and %d more refilled)", allowed, took, refills)
				}
				if open != 2 {
					t.Errorf("the two instances held %d chats open between them, want 2", open)
				}
				return
			}
			t.Errorf("three clients in a row saw decisions fail open: the backend timed out again and again")
		})
	}
}

// countRedis makes 10 calls and opens 4 chats over the two instances, in
// turn, and returns how many calls they allowed, in how long, and how many
// chats they held open at once.
func countRedis(t *testing.T, clients []greeterv1.GreeterClient) (allowed int, took time.Duration, open int) {
	t.Helper()
	// admitted is 1 for a call or chat admitted, 0 for one refused.
	admitted := func(what string, i int, err error) int {
		t.Helper()
		switch status.Code(err) {
		case codes.OK:
			return 1
		case codes.ResourceExhausted:
			return 0
		}
		t.Fatalf("%s %d: %v", what, i+1, err)
		return 0
	}
	begin := time.Now()
	for i := range 10 {
		allowed += admitted("call", i, sayHello(t, clients[i%2]))
	}
	took = time.Since(begin)
	for i := range 4 {
		st, err := clients[i%2].Chat(t.Context())
		if err == nil {
			if err = st.Send(&greeterv1.HelloRequest{Name: "chat"}); errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err == nil {
			_, err = st.Recv()
		}
		open += admitted("chat", i, err)
	}
	return allowed, took, open
}

// syncBuffer is a bytes.Buffer safe for the process's two writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
