package sluiceredis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
	"github.com/sluicehq/sluice/core"
)

// These examples need a Redis server, so they are compiled but not run.

func Example() {
	b, err := sluiceredis.NewFromURL("redis://localhost:6379/0?pool_size=50&dial_timeout=1s")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.PerMinute(100)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()

	d, err := lim.Decide(context.Background(), core.Request{Method: "GET", Path: "/items", RemoteAddr: "203.0.113.7:51234"})
	if err != nil {
		log.Fatal(err) // no decision: Redis failed or timed out
	}
	fmt.Println(d.Outcome)
}

// New shares a client the application already has. The backend does not
// close it.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // let the Limiter's timeout bound each call
	})
	defer rdb.Close()

	b := sluiceredis.New(rdb, sluiceredis.WithPrefix("myapp:"))
	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.Limit{N: 10, Per: time.Second, Burst: 20}))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
}

func ExampleNewFromURL_cluster() {
	// Seed nodes; the client finds the rest and follows slot moves.
	b, err := sluiceredis.NewFromURL("redis+cluster://redis-0:6379,redis-1:6379,redis-2:6379?pool_size=20&read_timeout=100ms")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}

func ExampleNewFromURL_sentinel() {
	// The Sentinels; the client follows the primary of mymaster through failovers.
	b, err := sluiceredis.NewFromURL("redis+sentinel://sentinel-0:26379,sentinel-1:26379,sentinel-2:26379?master_name=mymaster&pool_size=50")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}
