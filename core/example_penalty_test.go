package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
)

// A login endpoint that blocks a client who keeps failing the limit: 5
// denials within 10 minutes block it for 1 minute, then 2, 4, ... up to an
// hour; an hour after its last block ends, blocks start at 1 minute again.
func ExamplePenalty() {
	clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	lim, err := core.New(core.WithClock(clk), core.WithRules(core.Rule{
		Path:   "/login",
		Limits: []core.Limit{core.PerMinute(3)},
		Penalty: &core.Penalty{
			Threshold: 5, Window: 10 * time.Minute,
			Base: time.Minute, Multiplier: 2, Max: time.Hour, Decay: time.Hour,
		},
	}))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	req := core.Request{Method: "POST", Path: "/login", RemoteAddr: "203.0.113.7:1"}
	for i := 1; i <= 9; i++ {
		d, _ := lim.Decide(context.Background(), req)
		fmt.Printf("%d: %-7s blocked=%-5v retry after %v\n", i, d.Outcome, d.Blocked, d.RetryAfter)
	}
	clk.Advance(time.Minute)
	d, _ := lim.Decide(context.Background(), req)
	fmt.Printf("a minute later: %s blocked=%v\n", d.Outcome, d.Blocked)
	// Output:
	// 1: allowed blocked=false retry after 0s
	// 2: allowed blocked=false retry after 0s
	// 3: allowed blocked=false retry after 0s
	// 4: denied  blocked=false retry after 20s
	// 5: denied  blocked=false retry after 20s
	// 6: denied  blocked=false retry after 20s
	// 7: denied  blocked=false retry after 20s
	// 8: denied  blocked=true  retry after 1m0s
	// 9: denied  blocked=true  retry after 1m0s
	// a minute later: allowed blocked=false
}
