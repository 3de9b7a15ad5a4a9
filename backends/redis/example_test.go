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
	lim, err := core.New(core.WithBackend(b), core.WithDefault(core.PerSecond(10).WithBurst(20)))
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()
}

func ExampleNewCluster() {
	b := sluiceredis.NewCluster(&redis.ClusterOptions{
		Addrs:        []string{"redis-0:6379", "redis-1:6379", "redis-2:6379"},
		PoolSize:     20, // per node
		ReadTimeout:  100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond,
	})
	defer b.Close()
}

func ExampleNewFailover() {
	b := sluiceredis.NewFailover(&redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: []string{"sentinel-0:26379", "sentinel-1:26379", "sentinel-2:26379"},
		PoolSize:      50,
		DialTimeout:   time.Second,
	})
	defer b.Close()
}
