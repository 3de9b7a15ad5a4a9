package sluiceredis

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultBatchLanes is the number of batching lanes of a backend on a
// single server unless WithBatching sets another.
const defaultBatchLanes = 4

// pipeClient is a client that can pipeline: *redis.Client, *redis.ClusterClient,
// *redis.Ring and redis.UniversalClient all are.
type pipeClient interface {
	Client
	Pipeline() redis.Pipeliner
}

// batcher coalesces the scripts of concurrent calls into pipelines, with no
// timer: a call that finds a lane idle sends its own command at once, as an
// unbatched call would; calls that arrive while the lane's round trip is in
// flight queue on it, and when that round trip ends the whole queue leaves
// as the lane's next pipeline. A lone caller therefore sees no added latency
// and no goroutine handoff, and under load each lane keeps one round trip in
// flight and sends everything that queued meanwhile.
//
// The pipeline is sent by one of the queued callers, its leader: the one
// with the latest deadline, so that no caller waits past its own deadline.
// Every command stays a noRetryCmd: go-redis does not retry a pipeline that
// holds one (and a ClusterClient pipeline still follows MOVED and ASK per
// command). The pipeline runs on the leader's context without its
// cancellation, so a caller that gives up, the leader included, fails no
// one else's command.
type batcher struct {
	client pipeClient
	next   atomic.Uint32
	lanes  []lane
}

type lane struct {
	busy  atomic.Bool // a round trip is in flight; written under mu
	mu    sync.Mutex
	queue []*call
}

// call is one command waiting on a lane.
type call struct {
	ctx   context.Context
	cmd   *redis.Cmd
	done  chan struct{} // receives once: the command ran, or lead is set
	state callState     // under the lane's mu
	lead  []*call       // the batch this call must send, itself included
}

type callState uint8

const (
	queued    callState = iota // on the lane's queue
	abandoned                  // its caller gave up while queued; never sent
	taken                      // in a batch another call sends
	leading                    // must send lead
)

func newBatcher(c pipeClient, lanes int) *batcher {
	return &batcher{client: c, lanes: make([]lane, lanes)}
}

// do runs cmd, as client.Process(ctx, noRetryCmd{cmd}) would, alone or in a
// pipeline with other calls' commands, and returns its error. If ctx ends
// first, do returns ctx.Err() at once; the command may still run (as it may
// when a caller stops waiting for an unbatched command), unless it had not
// left the queue yet.
func (bt *batcher) do(ctx context.Context, cmd *redis.Cmd) error {
	l := bt.lane()
	l.mu.Lock()
	if !l.busy.Load() {
		// The lane is idle: send our own command now, the way an
		// unbatched call does, then pass the lane on.
		l.busy.Store(true)
		l.mu.Unlock()
		return bt.alone(l, ctx, cmd)
	}
	c := &call{ctx: ctx, cmd: cmd, done: make(chan struct{}, 1)}
	l.queue = append(l.queue, c)
	l.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		l.mu.Lock()
		state := c.state
		if state == queued {
			c.state = abandoned
		}
		l.mu.Unlock()
		if state == leading {
			<-c.done
			go bt.sendWithout(l, c)
		}
		return ctx.Err()
	}
	if c.lead != nil {
		bt.send(l, c)
	}
	return c.cmd.Err()
}

// alone sends cmd by itself on l, which it found idle, and then hands l on.
func (bt *batcher) alone(l *lane, ctx context.Context, cmd *redis.Cmd) error {
	defer bt.handoff(l)
	return bt.client.Process(ctx, noRetryCmd{cmd})
}

// lane picks an idle lane if there is one, else the next in turn.
func (bt *batcher) lane() *lane {
	n := uint32(len(bt.lanes))
	start := bt.next.Add(1)
	for i := range n {
		if l := &bt.lanes[(start+i)%n]; !l.busy.Load() {
			return l
		}
	}
	return &bt.lanes[start%n]
}

// handoff is called by whoever sent the lane's last round trip: it makes
// the lane idle if nothing queued, or gives the whole queue, as the next
// batch, to its leader.
func (bt *batcher) handoff(l *lane) {
	l.mu.Lock()
	var (
		batch  []*call
		leader *call
		latest time.Time
	)
	for _, c := range l.queue {
		if c.state == abandoned {
			continue
		}
		c.state = taken
		batch = append(batch, c)
		d, ok := c.ctx.Deadline()
		switch {
		case leader == nil:
			leader, latest = c, d
		case !latest.IsZero() && (!ok || d.After(latest)):
			leader, latest = c, d
		}
	}
	clear(l.queue)
	l.queue = l.queue[:0]
	if leader == nil {
		l.busy.Store(false)
		l.mu.Unlock()
		return
	}
	leader.state = leading
	leader.lead = batch
	l.mu.Unlock()
	leader.done <- struct{}{}
}

// sendWithout sends the batch that leader was given after its caller gave
// up: the others wait on it, but leader's own command is left out, since its
// caller has returned ctx.Err() and must not be charged for a script it
// can still stop.
func (bt *batcher) sendWithout(l *lane, leader *call) {
	leader.lead = slices.DeleteFunc(leader.lead, func(c *call) bool { return c == leader })
	bt.send(l, leader)
}

// send sends leader.lead as one pipeline, wakes the batch's other callers
// and hands the lane on. The leader is not always in its batch (see
// sendWithout).
func (bt *batcher) send(l *lane, leader *call) {
	batch := leader.lead
	defer func() {
		for _, c := range batch {
			if c != leader {
				c.done <- struct{}{}
			}
		}
		// The next leader last: the scheduler runs the goroutine woken
		// last first, and the lane waits for it.
		bt.handoff(l)
	}()
	switch {
	case len(batch) == 0:
	case len(batch) == 1 && batch[0] == leader:
		// Nobody else to fail: the leader's own context as it is.
		_ = bt.client.Process(leader.ctx, noRetryCmd{leader.cmd})
	default:
		ctx := context.WithoutCancel(leader.ctx)
		if d, ok := leader.ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d)
			defer cancel()
		}
		pipe := bt.client.Pipeline()
		for _, c := range batch {
			_ = pipe.Process(ctx, noRetryCmd{c.cmd})
		}
		// Each command holds its own reply or error.
		_, _ = pipe.Exec(ctx)
	}
}
