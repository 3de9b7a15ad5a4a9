package sluicejwt_test

import (
	"log"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/identify"
	sluicejwt "github.com/sluicehq/sluice/jwt"
)

// The identification setup of docs/identification.md (see
// docs/gen/snippets.go). It fetches keys from an identity provider, so go
// test compiles it without running it.
func ExampleNew_identify() {
	// snippet:identify
	v, err := sluicejwt.New(
		sluicejwt.WithKeys(sluicejwt.Keys{JWKSURL: "https://auth.example.com/.well-known/jwks.json"}),
		sluicejwt.WithIssuer("https://auth.example.com/"), sluicejwt.WithAudience("api"))
	if err != nil {
		log.Fatal(err)
	}
	lookup := identify.StaticAPIKeys(map[string]string{"k-123": "premium"}) // or your own
	lim, err := core.New(
		identify.Use(
			identify.WithTrustedProxies("10.0.0.0/8"),
			identify.WithUser(v),
			identify.WithAPIKeys("X-API-Key", lookup),
		),
		core.WithDefault(core.PerMinute(100)),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// end snippet:identify
}
