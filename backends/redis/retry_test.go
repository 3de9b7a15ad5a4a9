package sluiceredis

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// dropProxy forwards TCP connections to a Redis server. Once armed, it
// swallows the next reply the server sends and closes that connection: the
// command ran, but the client sees its connection fail (io.EOF), exactly
// the failure after which go-redis retries a command.
type dropProxy struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *dropProxy) Addr() string { return p.ln.Addr().String() }

func (p *dropProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(server, client) })
		p.wg.Go(func() {
			defer client.Close()
			defer server.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if err != nil {
					return
				}
				if p.armed.CompareAndSwap(true, false) {
					p.dropped.Add(1)
					return
				}
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
		})
	}
}

// TestNoDoubleCharge proves that a reply lost after the script ran does not
// charge twice. First, the control: through the proxy, a plain go-redis
// EVAL is retried by go-redis and its effect happens twice. Then the same
// failure under the backend, on a client with go-redis's default retries
// and on its auto-pipelining client: Apply reports an error, and the key
// was charged exactly once.
func TestNoDoubleCharge(t *testing.T) {
	srv := redistest.Start(t)
	direct := newClient(t, srv.Addr)
	proxy := newDropProxy(t, srv.Addr)
	// A client as users build them: default MaxRetries (3).
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true, PoolSize: 1})
	t.Cleanup(func() { viaProxy.Close() })

	t.Run("control", func(t *testing.T) {
		if err := viaProxy.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		proxy.armed.Store(true)
		n, err := viaProxy.Eval(t.Context(), "return redis.call('INCR', KEYS[1])", []string{"control"}).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if proxy.dropped.Load() != 1 {
			t.Fatal("the proxy dropped no reply")
		}
		if n != 2 {
			t.Fatalf("INCR through a dropped reply = %d, want 2: go-redis no longer retries, update this test", n)
		}
		t.Logf("control: go-redis retried the script and it ran twice (INCR = %d)", n)
	})

	ap, err := viaProxy.AutoPipeline()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	for _, client := range []struct {
		name string
		c    Client
	}{{"client", viaProxy}, {"autopipeline", ap}} {
		testNoDoubleCharge(t, client.name, New(client.c), proxy, direct)
	}
}

func testNoDoubleCharge(t *testing.T, name string, b *Backend, proxy *dropProxy, direct *redis.Client) {
	for _, alg := range allAlgorithms {
		t.Run(name+"/"+alg.String(), func(t *testing.T) {
			req := backend.Request{
				Namespace: "retry-" + name, Key: "warm-up", Algorithm: alg,
				Windows: []backend.Window{{Limit: 10, Period: time.Hour}}, Cost: 3, Lease: 41,
			}
			// A warm connection, and the script loaded: the lost reply
			// below is the script's, not NOSCRIPT's.
			if _, err := b.Apply(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			req.Key, req.Lease = "k", 42
			dropped := proxy.dropped.Load()
			proxy.armed.Store(true)
			if _, err := b.Apply(t.Context(), req); err == nil || !errors.Is(err, io.EOF) {
				t.Errorf("Apply with its reply lost = %v, want io.EOF", err)
			}
			if proxy.dropped.Load() != dropped+1 {
				t.Fatal("the proxy dropped no reply")
			}
			peek := req
			peek.Cost = 0
			res, err := New(direct).Apply(t.Context(), peek)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Windows[0].Remaining; got != 7 {
				t.Errorf("after one lost Apply of cost 3: Remaining = %d, want 7 (charged once)", got)
			}
		})
	}
}

// TestDuplicateLease checks that a concurrency acquisition is idempotent by
// its lease: a duplicate (a retry that reached Redis by another route) is
// answered again and charges nothing.
func TestDuplicateLease(t *testing.T) {
	srv := redistest.Start(t)
	b := New(newClient(t, srv.Addr))
	req := backend.Request{
		Namespace: "retry", Key: "dup", Algorithm: backend.Concurrency,
		Windows: []backend.Window{{Limit: 2, Period: time.Minute}}, Cost: 1, Lease: 7,
	}
	for i := range 3 {
		res, err := b.Apply(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed || res.Windows[0].Remaining != 1 {
			t.Errorf("acquisition %d of lease 7: Allowed = %v, Remaining = %d, want true, 1", i, res.Allowed, res.Windows[0].Remaining)
		}
	}
}
