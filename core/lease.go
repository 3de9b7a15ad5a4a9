package core

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// Token leasing (Rule.Prefetch): a Limiter takes a batch of units for a
// hot key from the backend in one Apply and spends them locally, so that
// one very hot key costs its backend a call per batch, not per decision.
//
// Exactness: every unit is charged at the backend before it is spent, and
// is spent only while a charge made at the moment of spending would count
// it the same way:
//
//   - fixed window and sliding window counter: within the fixed window it
//     was charged in, so each window counts every unit spent in it (a
//     refund gives back only units never spent);
//   - token bucket: before its emission slot, the instant the bucket
//     would have refilled past it, so every unit spent at t holds a
//     distinct slot in (t, t+tau]: at most Capacity + rate*(b-a) units in
//     any interval [a, b], exactly what the bucket admits. A token bucket's
//     unspent units are never refunded: a refund moves the tat back, and
//     with it the slots other instances' batches hold, which could then be
//     handed out twice. They come back by themselves, as their slots pass.
//
// A batch lives until Prefetch after it was leased, or until its window
// ends, whichever is first; what is left of it goes back to the backend
// (backend.Settle) when the next batch for its key is leased, when the
// sweeper finds it expired, on SetRules and on Close.
//
// Sizing: a key's first decision, and every decision of a key whose rate
// is below one unit per Prefetch, is an ordinary backend call. A batch is
// the key's recent local rate (the units of the last backend charge that
// were spent, over the time since it) times Prefetch, at most twice the
// previous charge
// (batches start small and grow on demand, and shrink as soon as a batch
// goes mostly unused), and at most 1/prefetchDivisor of the smallest
// window's capacity.

// prefetchDivisor bounds a batch to this fraction of the smallest window's
// capacity: n instances strand at most n/prefetchDivisor of it per key.
const prefetchDivisor = 16

// minSweep is the shortest interval the sweeper runs at.
const minSweep = 10 * time.Millisecond

// compilePrefetch checks a rule's Prefetch.
func compilePrefetch(c *compiledRule, at string, bad func(string, any, string, ...any)) {
	p := c.Prefetch
	switch {
	case p == 0 || c.Exempt:
	case p < 0 || p > maxPeriod:
		bad(at+".prefetch", p, "must be between 0 and %v", maxPeriod)
	case c.Algorithm == backend.Concurrency || c.Algorithm == backend.SlidingLog:
		bad(at+".prefetch", p, "prefetching needs the token_bucket, fixed_window or sliding_window algorithm, got %v", c.Algorithm)
	case c.MaxDelay > 0:
		bad(at+".prefetch", p, "a throttling rule (max_delay) cannot prefetch: a batch holds no delays")
	case c.Penalty != nil:
		bad(at+".prefetch", p, "a rule with a penalty cannot prefetch: its check is a backend call per decision")
	}
}

// batchTable holds a Limiter's leased batches, one entry per key of a
// prefetching rule seen recently, in shards behind read-write mutexes.
type batchTable struct {
	seed   maphash.Seed
	shards [64]batchShard
	epoch  atomic.Uint64 // bumped by SetRules: older batches are spent no more
	every  atomic.Int64  // the sweeper's interval
	start  sync.Once
	stop   context.CancelFunc
	done   chan struct{}
}

type batchShard struct {
	mu sync.RWMutex
	m  map[batchKey]*batchEntry
	_  [32]byte // a cache line per shard
}

type batchKey struct{ ns, key string }

// batchEntry is one key's state.
type batchEntry struct {
	cur atomic.Pointer[batch] // the live batch; nil when none

	mu     sync.Mutex // held while leasing, returning and sweeping
	dead   bool       // removed from the table
	lastAt time.Time  // the last backend charge for the key
	lastN  int64      // how many units it took
	used   int64      // how many of them have been spent, once returned
	last   *batch     // the batch that charge leased; nil for an ordinary call
	short  time.Time  // when a lease was last refused: the key is at its limit
	fit    int64      // token bucket: units the last batch spent before slots passed; 0 when none passed
	ttl    time.Duration
}

// batch is one lease: n units charged at the backend at at, spendable
// until exp after at.
type batch struct {
	left    atomic.Int64 // units not spent yet
	dropped atomic.Int64 // token-bucket units whose slots passed unspent
	n       int64
	at      time.Time
	exp     time.Duration // after at
	end     time.Duration // after at: the last of its windows' ends (fixed window)
	epoch   uint64
	req     backend.Request // the lease, for the settlement
	res     backend.Result  // the lease's result
	// token bucket: per window, the end of the batch's last slot after at,
	// and the emission interval.
	tat [backend.MaxWindows]time.Duration
	t   [backend.MaxWindows]int64
}

func newBatchTable() *batchTable {
	return &batchTable{seed: maphash.MakeSeed()}
}

func (t *batchTable) shard(ns, key string) *batchShard {
	return &t.shards[maphash.String(t.seed, key)&63]
}

// entry returns the entry of (ns, key), creating it when there is none;
// created reports that the key was not seen recently.
func (t *batchTable) entry(ns, key string) (e *batchEntry, created bool) {
	sh := t.shard(ns, key)
	k := batchKey{ns, key}
	sh.mu.RLock()
	e = sh.m[k]
	sh.mu.RUnlock()
	if e != nil {
		return e, false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e = sh.m[k]; e != nil {
		return e, false
	}
	if sh.m == nil {
		sh.m = make(map[batchKey]*batchEntry)
	}
	e = new(batchEntry)
	sh.m[k] = e
	return e, true
}

// spend takes cost units of b at now, and returns what is left.
// It fails when b has expired, or was leased under other rules.
func (b *batch) spend(rule *compiledRule, now time.Time, cost int64, epoch uint64) (int64, bool) {
	el := now.Sub(b.at)
	if el >= b.exp || el < 0 || b.epoch != epoch || &b.req.Windows[0] != &rule.windows[0] {
		return 0, false
	}
	nw := len(b.req.Windows)
	for {
		l := b.left.Load()
		live := l
		if b.req.Algorithm == backend.TokenBucket {
			// Only units whose slots are still ahead: the batch's last
			// slot ends at tat, the one before it t earlier, and so on.
			for i := range nw {
				ahead := int64(b.tat[i] - el)
				if ahead <= 0 {
					live = 0
					break
				}
				live = min(live, (ahead+b.t[i]-1)/b.t[i])
			}
		}
		if live < cost {
			return 0, false
		}
		if b.left.CompareAndSwap(l, live-cost) {
			if live < l {
				b.dropped.Add(l - live)
			}
			return live - cost, true
		}
	}
}

// chargeBatch decides req for a prefetching rule: from the key's batch,
// or by leasing a new one. It returns false, having decided nothing, when
// the decision should be an ordinary backend call of req: the key is
// cold, or the backend has fewer units than a batch and the request.
func (l *Limiter) chargeBatch(ctx context.Context, rule *compiledRule, req *backend.Request, d *Decision) (bool, error) {
	t, now, cost := l.batches, req.Now, req.Cost
	e, created := t.entry(req.Namespace, req.Key)
	if created {
		e.mu.Lock()
		e.lastAt, e.lastN, e.used, e.ttl = now, cost, cost, rule.Prefetch
		e.mu.Unlock()
		return false, nil
	}
	epoch := t.epoch.Load()
	if b := e.cur.Load(); b != nil {
		if left, ok := b.spend(rule, now, cost, epoch); ok {
			l.fillBatch(d, rule, b, left, now, cost)
			return true, nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead {
		return false, nil
	}
	old := e.cur.Load()
	if old != nil {
		if left, ok := old.spend(rule, now, cost, epoch); ok { // another decision leased meanwhile
			l.fillBatch(d, rule, old, left, now, cost)
			return true, nil
		}
		l.returnBatch(e, old)
	}
	e.ttl = rule.Prefetch
	size := batchSize(rule, e, now, cost)
	e.lastAt, e.lastN, e.used, e.last = now, cost, cost, nil // an ordinary call unless a lease follows
	if size <= cost || now.Sub(e.short) < rule.Prefetch {
		// A key at its limit is decided by ordinary calls for a while:
		// one call per unit, as without leasing, not a refused lease too.
		return false, nil
	}
	lease := *req
	lease.Cost = size
	res, err := l.apply(ctx, lease)
	if err == nil && !res.Allowed {
		// Not a whole batch: whatever the backend has left, if more than
		// the request, or else an ordinary call, so that the last units
		// of a limit are admitted exactly.
		left := int64(math.MaxInt64)
		for i := range req.Windows {
			left = min(left, res.Windows[i].Remaining)
		}
		if left < cost {
			e.short = now
			return false, nil
		}
		lease.Cost = left
		res, err = l.apply(ctx, lease)
	}
	if err != nil {
		return true, l.failure(ctx, d, rule, *req, err)
	}
	if !res.Allowed {
		return false, nil
	}
	b := newBatch(rule, &lease, &res, now, epoch)
	b.left.Store(lease.Cost - cost)
	e.cur.Store(b)
	e.lastN, e.last = lease.Cost, b
	if l.closed.Load() { // Close has returned the batches already
		l.returnBatch(e, b)
		e.dead = true
	}
	l.fillBatch(d, rule, b, lease.Cost-cost, now, cost)
	return true, nil
}

// batchSize returns the number of units to lease for a request of cost at
// now: the key's rate since its last backend charge (the units of that
// charge that were spent, over the time since) times the rule's Prefetch,
// at most twice that charge and a fraction of the smallest window's
// capacity. The caller holds e.mu.
func batchSize(rule *compiledRule, e *batchEntry, now time.Time, cost int64) int64 {
	capa := int64(math.MaxInt64)
	for _, w := range rule.windows {
		capa = min(capa, algo.Capacity(w, rule.Algorithm))
	}
	most := min(max(1, capa/prefetchDivisor), 2*max(e.lastN, cost))
	if e.fit > 0 {
		most = min(most, e.fit)
	}
	dt := now.Sub(e.lastAt)
	if dt <= 0 {
		return most
	}
	rate := float64(e.used) / float64(dt)
	if n := math.Ceil(rate * float64(rule.Prefetch)); n < float64(most) {
		return int64(n)
	}
	return most
}

func newBatch(rule *compiledRule, lease *backend.Request, res *backend.Result, now time.Time, epoch uint64) *batch {
	b := &batch{n: lease.Cost, at: now, exp: rule.Prefetch, epoch: epoch, req: *lease, res: *res}
	for i, w := range lease.Windows {
		wr := res.Windows[i]
		var end time.Duration
		switch lease.Algorithm {
		case backend.TokenBucket:
			b.tat[i] = wr.ResetAfter // the charged bucket's tat
			b.t[i] = (int64(w.Period) + w.Limit - 1) / w.Limit
			continue
		case backend.FixedWindow:
			end = wr.ResetAfter // the end of the window charged
		case backend.SlidingWindow:
			end = wr.ResetAfter - w.Period // its start plus two periods
		}
		b.exp = min(b.exp, end)
		b.end = max(b.end, end)
	}
	return b
}

// fillBatch fills in a decision that spent cost units of b, leaving left:
// each window's state as the lease reported it, less the time since, and
// with the batch's unspent units counted as remaining.
func (l *Limiter) fillBatch(d *Decision, rule *compiledRule, b *batch, left int64, now time.Time, cost int64) {
	res := backend.Result{Allowed: true}
	el := now.Sub(b.at)
	for i := range b.req.Windows {
		wr := b.res.Windows[i]
		res.Windows[i] = backend.WindowResult{
			Remaining:  wr.Remaining + left,
			ResetAfter: max(0, wr.ResetAfter-el),
			NextAfter:  max(0, wr.NextAfter-el),
			Refunded:   wr.Refunded,
		}
	}
	d.fill(rule.Limits, &res)
	d.Outcome = Allowed
	d.release = releaser{lim: l, rule: rule, charged: cost}
}

// returnBatch takes what is left of b, which is or was e's batch, and
// gives it back to the backend. The caller holds e.mu.
func (l *Limiter) returnBatch(e *batchEntry, b *batch) {
	e.cur.CompareAndSwap(b, nil)
	u := b.left.Swap(0)
	if e.last == b {
		dropped := b.dropped.Load()
		e.used = b.n - u - dropped
		if e.fit = 0; dropped > 0 {
			e.fit = e.used // slots passed unspent: no bigger batch next time
		}
	}
	if u <= 0 || b.req.Algorithm == backend.TokenBucket {
		return // a token bucket's units come back as their slots pass
	}
	now := l.clock.Now()
	el := max(0, now.Sub(b.at))
	if b.req.Algorithm == backend.FixedWindow && el >= b.end {
		return // its windows have ended: nothing to give back
	}
	s := backend.Settlement{Request: b.req, Charged: b.n, Elapsed: el}
	s.Cost, s.Now = b.n-u, now
	s.Charge = b.res.Windows
	ctx := context.Background()
	if l.remote && l.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	start := time.Now()
	err := l.backend.Settle(ctx, s)
	l.observeBackend(l.backendName(), "settle", start, err)
	if err != nil {
		l.logBackground(fmt.Errorf("%w: return %d prefetched units: %w", ErrBackendUnavailable, u, err))
	}
}

// setBatchRules starts the sweeper when a rule prefetches, and makes the
// batches leased under the previous rules unspendable and returns them.
func (l *Limiter) setBatchRules(rules []*compiledRule) {
	t := l.batches
	every := time.Duration(0)
	for _, r := range rules {
		if r.Prefetch > 0 && (every == 0 || r.Prefetch < every) {
			every = r.Prefetch
		}
	}
	t.epoch.Add(1)
	l.sweepBatches(false)
	if every == 0 {
		return
	}
	t.every.Store(int64(max(every, minSweep)))
	t.start.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		t.stop, t.done = cancel, make(chan struct{})
		go l.sweeper(ctx)
	})
}

func (l *Limiter) sweeper(ctx context.Context) {
	defer close(l.batches.done)
	for {
		if l.clock.Sleep(ctx, time.Duration(l.batches.every.Load())) != nil {
			return
		}
		l.sweepBatches(false)
	}
}

// sweepBatches returns every batch that has expired or belongs to older
// rules (every batch, when all), and forgets keys idle for twice their
// rule's Prefetch.
func (l *Limiter) sweepBatches(all bool) {
	t := l.batches
	now, epoch := l.clock.Now(), t.epoch.Load()
	var es []*batchEntry
	var ks []batchKey
	for i := range t.shards {
		sh := &t.shards[i]
		es, ks = es[:0], ks[:0]
		sh.mu.RLock()
		for k, e := range sh.m {
			es, ks = append(es, e), append(ks, k)
		}
		sh.mu.RUnlock()
		for j, e := range es {
			e.mu.Lock()
			if b := e.cur.Load(); b != nil && (all || b.epoch != epoch || now.Sub(b.at) >= b.exp) {
				l.returnBatch(e, b)
			}
			if e.cur.Load() == nil && (all || now.Sub(e.lastAt) >= 2*e.ttl) {
				e.dead = true
				sh.mu.Lock()
				delete(sh.m, ks[j])
				sh.mu.Unlock()
			}
			e.mu.Unlock()
		}
	}
}

// closeBatches stops the sweeper and returns every batch.
func (l *Limiter) closeBatches() {
	t := l.batches
	t.start.Do(func() {}) // no sweeper from now on
	if t.stop != nil {
		t.stop()
		<-t.done
	}
	l.sweepBatches(true)
}

// dropBatch forgets the key's batch without returning it: Reset forgot the
// backend's state it was charged to.
func (l *Limiter) dropBatch(ns, key string) {
	sh := l.batches.shard(ns, key)
	sh.mu.RLock()
	e := sh.m[batchKey{ns, key}]
	sh.mu.RUnlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	if b := e.cur.Swap(nil); b != nil {
		b.left.Store(0)
	}
	e.mu.Unlock()
}
