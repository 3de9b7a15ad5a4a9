package identify_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
)

func ExampleNew() {
	// Behind a load balancer in 10.0.0.0/8 that appends the client to
	// X-Forwarded-For.
	id, err := identify.New(identify.WithTrustedProxies("10.0.0.0/8"))
	if err != nil {
		panic(err)
	}
	for _, r := range []core.Request{
		// The client forged the leftmost address; the balancer appended the real one.
		{RemoteAddr: "10.0.0.1:443", Header: http.Header{"X-Forwarded-For": {"1.1.1.1, 198.51.100.9"}}},
		// A client that reached the server directly cannot claim an address.
		{RemoteAddr: "198.51.100.9:5555", Header: http.Header{"X-Forwarded-For": {"1.1.1.1"}}},
		// IPv6 clients are keyed by their /64.
		{RemoteAddr: "10.0.0.1:443", Header: http.Header{"X-Forwarded-For": {"2001:db8:1:2::99"}}},
	} {
		client, _ := id.Identify(context.Background(), r)
		fmt.Println(client)
	}
	// Output:
	// ip:198.51.100.9
	// ip:198.51.100.9
	// ip:2001:db8:1:2::/64
}

func ExampleUse() {
	// Per client IP behind a load balancer in 10.0.0.0/8, in one option.
	lim, err := core.New(
		identify.Use(identify.WithTrustedProxies("10.0.0.0/8")),
		core.WithDefault(core.PerMinute(100)),
	)
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	d, _ := lim.Decide(context.Background(), core.Request{
		Method: "GET", Path: "/", RemoteAddr: "10.0.0.1:443",
		Header: http.Header{"X-Forwarded-For": {"1.1.1.1, 198.51.100.9"}},
	})
	fmt.Println(d.Client, d.Outcome)

	// A bad setting stops the service at startup.
	_, err = core.New(identify.Use(identify.WithTrustedProxies("10.0.0.0/33")), core.WithDefault(core.PerMinute(100)))
	fmt.Println(err != nil)
	// Output:
	// ip:198.51.100.9 allowed
	// true
}

func ExampleStaticAPIKeys() {
	id, err := identify.New(identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{
		"sk-abc": "premium",
	})))
	if err != nil {
		panic(err)
	}
	for _, key := range []string{"sk-abc", "sk-made-up"} {
		client, _ := id.Identify(context.Background(), core.Request{RemoteAddr: "203.0.113.7:1", Header: http.Header{"X-Api-Key": {key}}})
		fmt.Printf("%s %q %d\n", client.Kind, client.Tier, len(client.Value))
	}
	// Output:
	// apikey "premium" 22
	// ip "" 11
}

func ExampleWithOrder() {
	id, err := identify.New(
		identify.WithUser(testUser{}), // in practice a sluicejwt.Verifier: only verified users
		identify.WithAPIKeys("X-API-Key", identify.StaticAPIKeys(map[string]string{"sk-abc": "standard"})),
		identify.WithOrder(core.KindAPIKey, core.KindUser), // a key wins over a user
	)
	if err != nil {
		panic(err)
	}
	r := core.Request{RemoteAddr: "203.0.113.7:1", Header: http.Header{"X-Test-User": {"alice"}, "X-Api-Key": {"sk-abc"}}}
	client, _ := id.Identify(context.Background(), r)
	fmt.Println(client.Kind)
	// Output:
	// apikey
}

// testUser stands in for a verified source of users.
type testUser struct{}

func (testUser) Identify(_ context.Context, r core.Request) (core.Identity, bool) {
	return core.Identity{Kind: core.KindUser, Value: "alice"}, r.Header.Get("X-Test-User") == "alice"
}

func ExampleWithExemptIPs() {
	id, err := identify.New(
		identify.WithTrustedProxies("10.0.0.0/8"),
		identify.WithExemptIPs("192.0.2.0/24"), // the office, behind the same balancer
	)
	if err != nil {
		panic(err)
	}
	for _, xff := range []string{"192.0.2.40", "198.51.100.9"} {
		client, _ := id.Identify(context.Background(), core.Request{RemoteAddr: "10.0.0.1:443", Header: http.Header{"X-Forwarded-For": {xff}}})
		fmt.Println(client, client.Exempt)
	}
	// Output:
	// ip:192.0.2.40 true
	// ip:198.51.100.9 false
}
