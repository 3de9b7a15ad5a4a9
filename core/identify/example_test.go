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

func ExampleStaticAPIKeys() {
	id, err := identify.New(identify.WithAPIKey("X-API-Key", identify.StaticAPIKeys(map[string]string{
		"sk-abc": core.TierPremium,
	})))
	if err != nil {
		panic(err)
	}
	for _, key := range []string{"sk-abc", "sk-made-up"} {
		client, _ := id.Identify(context.Background(), core.Request{RemoteAddr: "203.0.113.7:1", Header: http.Header{"X-Api-Key": {key}}})
		fmt.Println(client.Kind, client.Tier, client == core.APIKeyIdentity("sk-abc", core.TierPremium))
	}
	// Output:
	// apikey premium true
	// ip  false
}

func ExampleWithOrder() {
	user := identify.SourceFunc(func(_ context.Context, r core.Request) (core.Identity, bool) {
		// In practice a sluicejwt.Verifier: only verified users.
		return core.Identity{Kind: core.KindUser, Value: "alice"}, r.Header.Get("X-Test-User") == "alice"
	})
	id, err := identify.New(
		identify.WithUser(user),
		identify.WithAPIKey("X-API-Key", identify.StaticAPIKeys(map[string]string{"sk-abc": "standard"})),
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
