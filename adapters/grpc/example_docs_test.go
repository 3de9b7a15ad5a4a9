package sluicegrpc_test

import (
	"log"
	"net"
	"time"

	sluicegrpc "github.com/sluicehq/sluice/adapters/grpc"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/identify"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The examples below are the Go code of docs/grpc.md and README.md (see
// docs/gen/snippets.go). They compile; those that would serve forever do
// not run.

func Example_setup() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	// snippet:setup
	lim, err := core.New(core.WithDefault(core.PerMinute(100))) // per client IP
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim)),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(lim)),
	)
	// ... register your services, then srv.Serve(lis)
	// end snippet:setup
	srv.RegisterService(&echoDesc, nil)
	go srv.Serve(lis)
	srv.Stop()
	// Output:
}

func Example_readme() {
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	// snippet:readme
	grpc.NewServer(grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(lim))) // github.com/sluicehq/sluice/adapters/grpc
	// end snippet:readme

	// Output:
}

func Example_rules() {
	// snippet:rules
	lim, err := core.New(
		core.WithDefault(core.PerMinute(100)),
		core.WithRules(
			// Every method of the service...
			core.Rule{Name: "catalog", Path: "/shop.v1.Catalog/*", Limits: []core.Limit{core.PerSecond(20)}},
			// ...but this one, the most specific rule.
			core.Rule{Name: "search", Path: "/shop.v1.Catalog/Search",
				Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerMinute(30)}},
			// A method never limited.
			core.Rule{Name: "ping", Path: "/shop.v1.Catalog/Ping", Exempt: true},
			// At most 3 calls in flight per client, released when the
			// handler returns or panics.
			core.Rule{Name: "export", Path: "/shop.v1.Catalog/Export", Limits: []core.Limit{core.Concurrent(3)}},
		),
	)
	// end snippet:rules
	if err != nil {
		log.Fatal(err)
	}
	lim.Close()
	// Output:
}

func Example_streams() {
	// snippet:streams
	lim, err := core.New(core.WithRules(
		// Opening Chat streams: at most 2 open per client.
		core.Rule{Name: "chat-streams", Path: "/chat.v1.Chat/Talk", Limits: []core.Limit{core.Concurrent(2)}},
		// Messages received on every stream: 10 a second per client, a
		// message that would conform within a second waits its turn.
		core.Rule{Name: "messages", NameOnly: true, Limits: []core.Limit{core.PerSecond(10)}, MaxDelay: time.Second},
	))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	srv := grpc.NewServer(grpc.ChainStreamInterceptor(
		sluicegrpc.StreamServerInterceptor(lim, sluicegrpc.WithMessageRule("messages"))))
	// end snippet:streams
	srv.Stop()
	// Output:
}

func Example_identity() {
	// snippet:identity
	id, err := identify.New(
		// The load balancers: only their x-forwarded-for is believed.
		identify.WithTrustedProxies("10.0.0.0/8"),
		// API keys in the x-api-key metadata.
		identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{"k-123": "premium"})),
	)
	if err != nil {
		log.Fatal(err)
	}
	lim, err := core.New(core.WithIdentifier(id), core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// Mutual-TLS clients by their verified certificate's subject.
	ic := sluicegrpc.UnaryServerInterceptor(lim, sluicegrpc.WithClientCertIdentity())
	// end snippet:identity
	_ = ic
	// Output:
}

func Example_client() {
	target := "127.0.0.1:50051"
	// snippet:client
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(
			sluicegrpc.WithRetryMethods("/shop.v1.Catalog/*"), // safe to call twice
			sluicegrpc.WithMaxAttempts(4),
		)),
	)
	// end snippet:client
	if err != nil {
		log.Fatal(err)
	}
	conn.Close()
	// Output:
}
