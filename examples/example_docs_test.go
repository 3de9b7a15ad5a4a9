package examples_test

// The code snippets of docs/configuration.md and docs/clients.md are
// regions of these examples (see docs/gen/snippets.go): this module has
// every dependency they need. They read a configuration file and call a
// remote API, so go test compiles them without running them;
// client_test.go runs the client against a Sluice-limited server.

import (
	"log"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	sluiceconfig "github.com/sluicehq/sluice/config"
)

func Example_configuration() {
	mux := http.NewServeMux()
	// snippet:configuration
	svc, err := sluiceconfig.New("sluice.toml") // load, validate, build
	if err != nil {
		log.Fatal(err) // lists every invalid setting, with its path
	}
	defer svc.Close()
	handler := sluicehttp.Middleware(svc.Limiter, svc.HTTP...)(mux)

	// Reload the rules when the file changes or on SIGHUP.
	w, err := sluiceconfig.Watch(svc.Limiter, "sluice.toml", svc.Config)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	// end snippet:configuration
	log.Fatal(http.ListenAndServe(":8080", handler))
}

func Example_retryableClient() {
	// snippet:retryablehttp
	client := retryablehttp.NewClient()
	client.RetryMax = 5
	client.RetryWaitMax = 30 * time.Second // an upper bound; Retry-After decides on 429
	resp, err := client.Get("https://api.example.com/items")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	// end snippet:retryablehttp
}
