package sluiceredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/testkit/redistest"
)

// migLimit is the hourly limit of the slot migration test: enough that the
// moving client lasts through the migration, few enough that it exhausts
// its limit within a second or two afterwards.
const migLimit = 1000

// migRule counts with a sliding log, whose Remaining does not refill within
// the hour, over two windows: each client has two keys, which the
// migration can split between two MIGRATE batches.
var migRule = core.WithRules(core.Rule{Name: "default", Algorithm: backend.SlidingLog,
	Limits: []core.Limit{core.PerHour(migLimit), core.Limit{N: 10 * migLimit, Per: 24 * time.Hour}}})

// migStepDecisions is how many decisions the moving client makes in each
// state of the migration before the next step.
const migStepDecisions = 20

// migDecision is one decision of the moving client.
type migDecision struct {
	stage      string
	start, end time.Time
	d          core.Decision
	err        error
}

// TestClusterSlotMigration moves the slot that holds one client's keys from
// its primary to another, with the protocol of redis-cli --cluster reshard
// (CLUSTER SETSLOT IMPORTING and MIGRATING, MIGRATE, CLUSTER SETSLOT NODE),
// while that client and others decide in a loop, holding each state of the
// migration for migStepDecisions of the client's decisions, and moving its
// two keys in two MIGRATE batches. Every request gets a decision; the
// client's count survives (its Remaining goes down by one per admitted
// request across the whole migration, and it is admitted exactly migLimit
// times in total); decisions made while its keys were split between the two
// primaries take the failure mode (TRYAGAIN: the script did not run and
// charged nothing) and no others do, but for timeouts on a loaded machine
// (which may have charged, and are accounted for); ASK and MOVED are
// followed, also when the script must be loaded on the new primary;
// decisions on the new primary are exact; and the other clients never get a
// redirection or TRYAGAIN error.
func TestClusterSlotMigration(t *testing.T) {
	awaitRedialers(t)
	c := redistest.StartCluster(t)
	b := newCluster(&redis.ClusterOptions{Addrs: c.Addrs()})
	// Load the slot map and a connection to every primary first: the
	// first script otherwise takes longer than the timeout.
	if err := b.client.(*redis.ClusterClient).ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	lim := newFailLimiter(t, b, migRule)
	warm := warmLimiter(t, b, migRule)

	// The moving client's keys are the only keys yet: find its slot and
	// primary, and pick another primary to move them to.
	mover := freshClient()
	if d, err := warm.Decide(t.Context(), failReq(mover)); err != nil || d.Outcome != core.Allowed || d.Remaining != migLimit-1 {
		t.Fatalf("first decision: %v remaining %d err %v / %v", d.Outcome, d.Remaining, d.Err, err)
	}
	var primaries []*redistest.Server
	var source *redistest.Server
	var keys []string
	for _, n := range c.Nodes {
		if role(n) != "master" {
			continue
		}
		primaries = append(primaries, n)
		if k, err := n.Do("KEYS", "*"); err == nil && k != "" {
			source, keys = n, strings.Split(k, "\n")
		}
	}
	if source == nil || len(keys) != 2 {
		t.Fatalf("the client's keys: %q on %v, want two keys on one primary", keys, source)
	}
	s, err := source.Do("CLUSTER", "KEYSLOT", keys[0])
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := strconv.Atoi(s)
	var target *redistest.Server
	for _, p := range primaries {
		if p != source {
			target = p
			break
		}
	}

	// Other clients, on every primary: their first decision loads the
	// script on each primary. Keep adding until one shares the moving
	// client's primary (in another slot).
	var others []string
	for len(others) < 3 || dbsize(source) <= 2 {
		if len(others) == 30 {
			t.Fatalf("30 clients, none on %s besides the moving one", source.Addr)
		}
		o := freshClient()
		if d, err := warm.Decide(t.Context(), failReq(o)); err != nil || d.Outcome != core.Allowed {
			t.Fatalf("first decision of %s: %v err %v / %v", o, d.Outcome, d.Err, err)
		}
		others = append(others, o)
	}
	if n, err := source.Do("CLUSTER", "COUNTKEYSINSLOT", s); err != nil || n != "2" {
		t.Fatalf("slot %d holds %s keys (%v), want only the moving client's 2", slot, n, err)
	}

	// Traffic: the moving client in one goroutine, recording every
	// decision; each other client in its own, until the migration ends or
	// it is denied (the deny cache would then answer it in a busy loop).
	var stage atomic.Pointer[string]
	setStage := func(s string) { stage.Store(&s) }
	setStage("before")
	var (
		mu      sync.Mutex
		moves   []migDecision
		done    atomic.Bool // the migration has finished
		moverCh = make(chan struct{})
	)
	moved := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(moves)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); <-moverCh })
	go func() {
		defer close(moverCh)
		denied := 0
		for deadline := time.Now().Add(60 * time.Second); denied < 3 && ctx.Err() == nil && time.Now().Before(deadline); {
			md := migDecision{stage: *stage.Load(), start: time.Now()}
			md.d, md.err = lim.Decide(context.Background(), failReq(mover))
			md.end = time.Now()
			mu.Lock()
			moves = append(moves, md)
			mu.Unlock()
			if done.Load() && md.err == nil && md.d.Outcome == core.Denied {
				denied++
			}
			if md.err != nil {
				return
			}
		}
	}()
	var otherTotal, otherFailed atomic.Int64
	errs := &limitedErrors{t: t}
	for _, o := range others {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := lim.Decide(context.Background(), failReq(o))
				otherTotal.Add(1)
				switch {
				case err != nil:
					errs.Errorf("another client: Decide returned an error, want a decision: %v", err)
				case d.Err != nil && !errors.Is(d.Err, context.DeadlineExceeded):
					errs.Errorf("another client: %v err %v, want a decision unaffected by the migration", d.Outcome, d.Err)
				case d.Err != nil:
					otherFailed.Add(1) // a timeout on a loaded machine
				case d.Outcome == core.Denied:
					return
				}
			}
		})
	}

	// Migrate, holding each state for migStepDecisions of the moving
	// client's decisions.
	hold := func(s string) {
		setStage(s)
		from := moved()
		waitFor(t, 10*time.Second, "decisions in state "+s, func() bool { return moved() >= from+migStepDecisions })
	}
	hold("before")
	var splitFrom, splitTo time.Time // when the keys may have been split
	batches := 0
	began := time.Now()
	err = c.MigrateSlot(slot, target, 1, func(step string) {
		switch step {
		case "migrating":
			splitFrom = time.Now()
		case "batch":
			batches++
			step += " " + strconv.Itoa(batches)
			if batches == 2 {
				splitTo = time.Now()
				// The keys are on the target, which still answers only
				// with ASKING: make the script unknown there, so that the
				// EVALSHA that follows ASK gets NOSCRIPT and its EVAL must
				// follow ASK again (other clients may reload it first).
				if _, err := target.Do("SCRIPT", "FLUSH"); err != nil {
					t.Fatal(err)
				}
			}
		}
		hold(step)
	})
	if err != nil {
		t.Fatal(err)
	}
	migration := time.Since(began)
	setStage("after")
	done.Store(true)
	<-moverCh
	cancel()
	wg.Wait()

	if batches != 2 {
		t.Errorf("%d MIGRATE batches, want 2 (one key each)", batches)
	}
	for srv, want := range map[*redistest.Server]string{source: "0", target: "2"} {
		if n, err := srv.Do("CLUSTER", "COUNTKEYSINSLOT", s); err != nil || n != want {
			t.Errorf("%s holds %s keys of slot %d (%v), want %s", srv.Addr, n, slot, err, want)
		}
	}

	// Check the moving client's decisions, in order.
	type tally struct {
		decisions, allowed, tryAgain, timeout int
		slowest                               time.Duration
	}
	var order []string
	stages := map[string]*tally{}
	allowed := 1 // the first decision, above
	remaining := int64(migLimit - 1)
	ambiguous := 0 // failures that may have charged since the last admission
	totalAmbiguous := 0
	deniedAt := -1
	for i, md := range moves {
		st := stages[md.stage]
		if st == nil {
			st = &tally{}
			stages[md.stage] = st
			order = append(order, md.stage)
		}
		st.decisions++
		st.slowest = max(st.slowest, md.end.Sub(md.start))
		d := md.d
		switch {
		case md.err != nil:
			t.Fatalf("decision %d (%s): Decide returned an error, want a decision: %v", i, md.stage, md.err)
		case d.Err != nil:
			if d.Outcome != core.FailedOpen || d.Remaining != -1 || !errors.Is(d.Err, core.ErrBackendUnavailable) {
				t.Errorf("decision %d (%s): %v remaining %d err %v, want the failure mode (fail_open)", i, md.stage, d.Outcome, d.Remaining, d.Err)
			}
			switch {
			case strings.Contains(d.Err.Error(), "TRYAGAIN"):
				// The script did not run: nothing was charged.
				st.tryAgain++
				if md.end.Before(splitFrom) || !md.start.Before(splitTo) {
					t.Errorf("decision %d (%s): TRYAGAIN outside the split (%v), want only while the keys were on two primaries",
						i, md.stage, d.Err)
				}
				// The backend sends the script again until its deadline
				// before it gives up on TRYAGAIN.
				if took := md.end.Sub(md.start); took < failTimeout*8/10 {
					t.Errorf("decision %d (%s): TRYAGAIN after %v, want retries until close to the %v deadline", i, md.stage, took, failTimeout)
				}
			case errors.Is(d.Err, context.DeadlineExceeded):
				// The script may have run: it may have charged.
				st.timeout++
				ambiguous++
				totalAmbiguous++
			default:
				t.Errorf("decision %d (%s): %v, want no error but TRYAGAIN or a timeout (ASK and MOVED are followed)", i, md.stage, d.Err)
			}
		case d.Outcome == core.Allowed && !d.Local:
			st.allowed++
			allowed++
			if d.Remaining > remaining-1 || d.Remaining < remaining-1-int64(ambiguous) {
				t.Errorf("decision %d (%s): %d remaining after %d, want %d (or down to %d after %d timeouts): the count did not survive",
					i, md.stage, d.Remaining, remaining, remaining-1, remaining-1-int64(ambiguous), ambiguous)
			}
			remaining, ambiguous = d.Remaining, 0
		case d.Outcome == core.Denied:
			if deniedAt < 0 {
				deniedAt = i
				if remaining > int64(ambiguous) {
					t.Errorf("decision %d (%s): denied with %d remaining after the last admission, want 0", i, md.stage, remaining)
				}
			}
		default:
			t.Errorf("decision %d (%s): %v local %v err %v, want allowed, denied or fail_open", i, md.stage, d.Outcome, d.Local, d.Err)
		}
	}
	if deniedAt < 0 {
		t.Fatalf("the moving client was never denied in %d decisions", len(moves))
	}
	if moves[deniedAt].stage != "after" {
		t.Errorf("the moving client was first denied in state %q, want after the migration", moves[deniedAt].stage)
	}
	// Admitted exactly migLimit times by Redis: before, during and after.
	if allowed > migLimit || allowed < migLimit-totalAmbiguous {
		t.Errorf("the moving client was admitted %d times, want %d (or down to %d after %d timeouts)",
			allowed, migLimit, migLimit-totalAmbiguous, totalAmbiguous)
	}
	if st := stages["after"]; st == nil || st.allowed == 0 || st.tryAgain > 0 {
		t.Errorf("after the migration: %+v, want admissions by the new primary and no TRYAGAIN", st)
	}
	if stages["batch 1"] == nil || stages["batch 1"].tryAgain == 0 {
		t.Logf("no TRYAGAIN while the keys were split; did the client's keys move in one batch?")
	}

	var perStage strings.Builder
	tryAgain, slowest := 0, time.Duration(0)
	for _, name := range order {
		st := stages[name]
		tryAgain += st.tryAgain
		slowest = max(slowest, st.slowest)
		fmt.Fprintf(&perStage, "\n  %s: %d decisions, %d admitted, %d TRYAGAIN, %d timeouts, slowest %v",
			name, st.decisions, st.allowed, st.tryAgain, st.timeout, st.slowest)
	}
	t.Logf("slot %d moved from %s to %s in %v (each state held for %d decisions; keys split for %v), cluster started in %v\n"+
		"moving client: %d decisions, admitted %d times (limit %d), %d TRYAGAIN fail-open, %d timeouts, first denied at decision %d, slowest %v; others: %d decisions, %d timeouts%s",
		slot, source.Addr, target.Addr, migration, migStepDecisions, splitTo.Sub(splitFrom), c.StartTime,
		len(moves), allowed, migLimit, tryAgain, totalAmbiguous, deniedAt, slowest, otherTotal.Load(), otherFailed.Load(), perStage.String())
}

// dbsize returns the number of keys on s, -1 if it does not answer.
func dbsize(s *redistest.Server) int {
	n, err := s.Do("DBSIZE")
	if err != nil {
		return -1
	}
	i, _ := strconv.Atoi(n)
	return i
}
