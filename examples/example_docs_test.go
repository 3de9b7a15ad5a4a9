package examples_test

// The code snippets of docs/clients.md are regions of these examples (see
// docs/gen/snippets.go): this module has every dependency they need. They
// call a remote API, so go test compiles them without running them;
// client_test.go runs the client against a Sluice-limited server.

import (
	"log"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

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
