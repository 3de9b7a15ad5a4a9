package sluicehttp_test

// snippet:quick-start-imports
import (
	"log"
	"net/http"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// end snippet:quick-start-imports

// The quick start of README.md (see docs/gen/snippets.go). It listens on
// :8080, so go test compiles it without running it.
func ExampleMiddleware_quickStart() {
	// snippet:quick-start
	lim, err := core.New(
		core.WithDefault(core.PerMinute(100)), // per client IP, token bucket
		core.WithRules(core.Rule{
			Name: "login", Path: "/login", Methods: []string{"POST"},
			Algorithm: backend.SlidingLog,
			Limits:    []core.Limit{core.PerMinute(5), core.PerHour(20)},
		}),
	)
	if err != nil {
		log.Fatal(err) // every invalid setting, each with its path
	}
	defer lim.Close()

	mux := http.NewServeMux() // ... your routes
	http.ListenAndServe(":8080", sluicehttp.Middleware(lim)(mux))
	// end snippet:quick-start
}
