package sluiceredis_test

import (
	"log"

	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
)

// The setup of docs/redis.md (see docs/gen/snippets.go). It needs a Redis
// server, so go test compiles it without running it.
func ExampleNewFromURL_docs() {
	// snippet:setup
	b, err := sluiceredis.NewFromURL("redis://:password@redis.internal:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close() // the Limiter never closes a backend you pass it
	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
	// end snippet:setup
}
