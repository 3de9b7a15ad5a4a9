package core

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/internal/algo"
	"github.com/sluicehq/sluice/core/internal/breaker"
	"github.com/sluicehq/sluice/core/memory"
)

// Limiter decides whether requests may proceed. It is safe for concurrent
// use; create one with [New] and share it.
//
// Its first-class question is "may key K spend n units of rule R?", and
// these calls ask it:
//
//   - Take asks it directly, for anything that is not an HTTP request: a
//     job per tenant, an outbound call per account, an LLM call's tokens.
//     It never waits.
//   - Wait is Take that sleeps until the units are admitted, for workers
//     that should slow down rather than fail.
//   - Decide is the one HTTP middleware calls: it finds the rule and the
//     client of a Request, charges the request's cost and returns the
//     Decision.
//   - Peek returns the Decision a request would get without charging
//     anything, for admin endpoints and support ("why is this client
//     blocked, and until when?").
//   - Reset forgets a client's usage of the rule a request matches.
//
// A Decision that charged an estimate can be settled at the real cost once
// the work is done (Decision.Settle). See docs/keyed.md for when to use
// which.
//
// # Rules
//
// Each request is matched to one rule, the most specific: segment by
// segment, a literal beats "{param}", which beats "*", which beats "**"
// (so an exact path beats every pattern and a longer literal prefix wins);
// then a rule listing the request's method beats one listing none; then a
// rule listing the client's tier beats one listing none; then the rule
// declared first. The path is cleaned first, and the route template, when
// the framework provides one, is matched too: the more specific match wins.
// A request no rule matches gets a default rule (empty Path), or is Exempt
// when there is none. The health endpoints (/health, /healthz, /livez,
// /readyz) are Exempt unless a rule names one as its exact Path; exempt
// clients (identify.WithExemptIPs, WithExemptUsers, WithExemptAPIKeys) are
// Exempt whatever the rules say. See docs/rules.md.
//
// # Clients
//
// The Identifier (WithIdentifier; package identify for proxies, API keys
// and verified users) names the client. Its value becomes the counter key,
// replaced by "#" and a SHA-256 digest when it is long or holds characters
// outside letters, digits and "-._~@+:/=", so no crafted identifier can
// spell another client's key, rule or tier (see docs/identification.md).
// A Decision's Client is the identity as identified, with its tier.
//
// # Failures
//
// A denial is a Decision, never an error. When the backend fails, the
// failure mode decides (FailOpen or FailClosed) and the Decision's Err says
// why. Decide returns an error only when no decision can be made at all: the
// Limiter is closed, the identifier failed, or ctx ended.
type Limiter struct {
	rules      atomic.Pointer[ruleSet]
	backend    backend.Backend
	owned      io.Closer // the default backend, closed by Close
	clock      clock.Clock
	identifier Identifier

	// Failure handling (failure.go) for a Remote backend.
	remote       bool
	failureMode  failMode
	timeout      time.Duration
	breaker      *breaker.Breaker
	local        *memory.Backend // the "local" mode's fallback, owned
	localDivisor int
	denies       *denyCache

	watch     *watcher // observer and logger; nil when none is set
	policy    *policy  // tiers (policy.go)
	leases    atomic.Uint64
	closed    atomic.Bool
	closeOnce sync.Once

	batches *batchTable // Rule.Prefetch (lease.go)
}

// New returns a Limiter with the given options. It returns an error, joining
// one *ConfigError per problem, if the rules or settings are invalid.
func New(opts ...Option) (*Limiter, error) {
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	rules, pol, err := compileConfig(&cfg)
	if err != nil {
		return nil, err
	}
	if f, ok := cfg.identifier.(interface{ Err() error }); ok {
		if err := f.Err(); err != nil {
			return nil, &ConfigError{Path: "identifier", Value: fmt.Sprintf("%T", cfg.identifier), Err: err}
		}
	}
	l := &Limiter{
		policy:     pol,
		backend:    cfg.backend,
		clock:      cfg.clock,
		identifier: cfg.identifier,
	}
	if l.clock == nil {
		l.clock = clock.Real
	}
	if l.identifier == nil {
		l.identifier = remoteIP{}
	}
	if l.backend == nil {
		m := memory.New(memory.WithClock(l.clock))
		l.backend, l.owned = m, m
	}
	fail := func(err error) (*Limiter, error) {
		if l.owned != nil {
			l.owned.Close()
		}
		return nil, err
	}
	if err := checkPenalizer(rules, l.backend); err != nil { // penalty.go
		return fail(err)
	}
	l.remote = isRemote(l.backend)
	l.watch = newWatcher(&cfg, l.backend)
	if err := l.newFailure(cfg.failure); err != nil { // failure.go
		return fail(err)
	}
	if l.remote { // the "local" mode's fallback; rules may start using it on SetRules
		l.local = memory.New(memory.WithClock(l.clock))
	}
	l.leases.Store(rand.Uint64())
	l.batches = newBatchTable()
	l.rules.Store(newRuleSet(rules))
	l.setBatchRules(rules) // lease.go
	return l, nil
}

// Decide decides on one request and charges its cost when it is admitted.
// See [Limiter] for how the rule is chosen and when an error is returned.
func (l *Limiter) Decide(ctx context.Context, r Request) (d Decision, err error) {
	err = l.decide(ctx, &r, false, &d)
	switch {
	case err != nil:
		l.logError(ctx, &r, err)
	case l.watch != nil:
		l.observe(ctx, &r, &d)
	}
	return d, err
}

// Take decides whether the client key may spend n units of the rule named
// rule, and charges them when it may: the engine's first-class call, for
// work that is not an HTTP request (a job per tenant, an outbound API
// call per account, an LLM call's tokens). The rule is chosen by name
// only (see Rule.NameOnly), an unknown name is an error, and the key is
// any non-empty string, counted as a KindCustom identity, so that no key
// can reach another's counter. A denial is a Decision; n = 0 peeks, as
// [Limiter.Peek] does. Everything else is as for Decide: the backend's
// exactness, the failure modes, the deny cache, metrics and logs.
//
// Take never waits: [Limiter.Wait] does. To charge an estimate and correct
// it later, Take the estimate and call the Decision's Settle.
func (l *Limiter) Take(ctx context.Context, rule, key string, n int64) (d Decision, err error) {
	err = l.take(ctx, rule, key, n, &d)
	if err != nil || l.watch != nil {
		r := Request{Rule: rule, Cost: n}
		if err != nil {
			l.logError(ctx, &r, err)
		} else {
			l.observe(ctx, &r, &d)
		}
	}
	return d, err
}

// Wait is Take that waits for capacity, for workers that should slow down
// rather than fail, as rate.Limiter's Wait does. It returns once n units
// are admitted (and charged), after waiting out a Delayed decision's delay,
// with a nil error for every decision that lets the work proceed: Allowed,
// Delayed, Exempt, ShadowDenied and FailedOpen. On a denial it sleeps on the
// Limiter's clock until the denial's RetryAfter and tries again, holding
// nothing meanwhile (no backend connection, no lock).
//
// It returns an error, charging nothing, when ctx ends, when the wait
// would outlast ctx's deadline (at once, without sleeping: the error
// wraps context.DeadlineExceeded), when n exceeds a window's capacity (no
// wait could ever admit it; this wraps backend.ErrInvalidRequest), and
// when the backend failed and the rule's failure mode is closed (wrapping
// ErrBackendUnavailable). A Delayed charge that the context does not
// outlast is refunded.
func (l *Limiter) Wait(ctx context.Context, rule, key string, n int64) (Decision, error) {
	for {
		if r := l.rules.Load().byName[rule]; r != nil && !r.Exempt {
			for _, w := range r.windows {
				if c := algo.Capacity(w, r.Algorithm); n > c {
					return Decision{}, fmt.Errorf("%w: Wait(n=%d) exceeds the capacity %d of rule %q", backend.ErrInvalidRequest, n, c, rule)
				}
			}
		}
		d, err := l.Take(ctx, rule, key, n)
		if err != nil {
			return d, err
		}
		var wait time.Duration
		switch d.Outcome {
		case FailedClosed:
			return d, d.Err
		case Delayed:
			wait = d.Delay
		case Denied:
			wait = max(d.RetryAfter, time.Millisecond) // a denial always names a wait; never spin
		default:
			return d, nil
		}
		// The deadline is the context's, in real time: it is compared as
		// the time left, so that a fake clock's waits are measured against
		// what remains of it.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			l.unwait(ctx, &d)
			return d, fmt.Errorf("sluice: Wait(n=%d) would outlast the context's deadline (%v more): %w", n, wait, context.DeadlineExceeded)
		}
		if err := l.clock.Sleep(ctx, wait); err != nil {
			l.unwait(ctx, &d)
			return d, err
		}
		if d.Outcome == Delayed {
			return d, nil
		}
	}
}

// unwait refunds a Delayed charge Wait gives up on.
func (l *Limiter) unwait(ctx context.Context, d *Decision) {
	if d.Outcome != Delayed {
		return
	}
	if err := d.Settle(context.WithoutCancel(ctx), 0); err != nil {
		l.logBackground(err)
	}
}

// Peek returns the Decision r would get without charging anything: Allowed
// when one more unit would be admitted now, Denied with RetryAfter otherwise,
// and the remaining quota of every window. backend.Concurrency rules acquire nothing.
func (l *Limiter) Peek(ctx context.Context, r Request) (d Decision, err error) {
	err = l.decide(ctx, &r, true, &d)
	return d, err
}

// Reset forgets the usage that r's client has of the rule r matches (of its
// group, if the rule has one), its penalty state (so a Reset lifts a
// block), and this Limiter's cached denial of it (see Failure.NoDenyCache),
// so that its next request here is decided afresh. Other Limiters sharing
// the backend keep denying from their own deny caches until the denial they
// cached ends. It does nothing for an exempt request.
func (l *Limiter) Reset(ctx context.Context, r Request) error {
	if l.closed.Load() {
		return ErrClosed
	}
	var id Identity
	rule, exempt, err := l.resolve(ctx, &r, &id)
	if err != nil || exempt {
		return err
	}
	start := time.Now()
	k, _ := kindIndex(id.Kind)
	ns, key := rule.ns[k], clientKey(id.Value)
	err = l.backend.Reset(ctx, ns, key)
	l.observeBackend(l.backendName(), "reset", start, err)
	if err != nil {
		return fmt.Errorf("%w: reset: %w", ErrBackendUnavailable, err)
	}
	if l.denies != nil {
		l.denies.drop(ns, key)
	}
	l.dropBatch(ns, key) // lease.go
	return nil
}

// SetRules replaces the Limiter's rules atomically. Decisions in progress
// finish with the old rules. Counters are kept by rule name (or group), so a
// rule whose limit changes keeps its clients' usage, and the deny cache is
// emptied, so that a raised limit admits at once. On error the old rules
// stay.
func (l *Limiter) SetRules(rules ...Rule) error {
	compiled, err := compileRules(rules, l.policy)
	if err != nil {
		return err
	}
	if err := checkPenalizer(compiled, l.backend); err != nil {
		return err
	}
	l.rules.Store(newRuleSet(compiled))
	l.setBatchRules(compiled) // returns the batches leased under the old rules (lease.go)
	if l.denies != nil {
		l.denies.clear() // a denial cached under the old limits may not hold under the new
	}
	return nil
}

// Rules returns a copy of the active rules, with defaults filled in, in
// precedence order: a request gets the first rule of the list that matches
// it (see [Limiter]), default rules come after every rule with a Path, and
// NameOnly rules, which no request matches, come last in the order
// declared. (Of two rules that no request matches both, the order means
// nothing.) Passing the list to SetRules keeps every decision the same.
func (l *Limiter) Rules() []Rule {
	rs := slices.Clone(l.rules.Load().rules)
	slices.SortStableFunc(rs, func(a, b *compiledRule) int {
		switch {
		case a.NameOnly != b.NameOnly && a.NameOnly:
			return 1
		case a.NameOnly != b.NameOnly:
			return -1
		case a.NameOnly:
			return 0
		}
		return cmp.Compare(a.rank, b.rank)
	})
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = r.Rule
		out[i].Methods = slices.Clone(r.Methods)
		out[i].Limits = slices.Clone(r.Limits)
		out[i].Tiers = slices.Clone(r.Tiers)
		if r.Penalty != nil {
			p := *r.Penalty
			out[i].Penalty = &p
		}
	}
	return out
}

// Close stops the Limiter's background work and closes the backend it
// created by default; a backend passed with WithBackend is left open. After
// Close, Decide, Take, Wait, Peek and Reset return ErrClosed. Close is
// idempotent.
func (l *Limiter) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeBatches() // lease.go
		if l.owned != nil {
			err = l.owned.Close()
		}
		if l.local != nil {
			l.local.Close()
		}
	})
	return err
}

func (l *Limiter) identify(ctx context.Context, r *Request) (Identity, error) {
	id := r.Identity
	if _, ok := l.identifier.(remoteIP); ok && id.Kind == "" && id.Value == "" {
		if r.RemoteAddr == "" {
			return Identity{}, errNoClient
		}
		return Identity{Kind: KindIP, Value: ipKey(r.RemoteAddr), Tier: tierAnonymous}, nil // skips copying r
	}
	if id.Kind == "" {
		if id.Value != "" {
			return Identity{}, fmt.Errorf("%w: Request.Identity has the value %q but no kind", backend.ErrInvalidRequest, id.Value)
		}
		var err error
		if id, err = l.identifier.Identify(ctx, *r); err != nil {
			return Identity{}, fmt.Errorf("sluice: identify: %w", err)
		}
		if id.Kind == "" && id.Value == "" {
			return Identity{}, errNoClient
		}
	}
	if _, ok := kindIndex(id.Kind); !ok || id.Value == "" {
		return Identity{}, fmt.Errorf("%w: identity %s: want a known kind and a value", backend.ErrInvalidRequest, id)
	}
	l.policy.canonicalize(&id) // tier (policy.go)
	return id, nil
}

// kindOf is the namespace index of a kind identify or Take validated.
func kindOf(k IdentityKind) int {
	i, _ := kindIndex(k)
	return i
}

// decide fills in *d, which must be the zero Decision, and leaves it so on
// error. It writes into the caller's Decision rather than returning one, as
// a Decision is large enough for the copies to show in profiles.
func (l *Limiter) decide(ctx context.Context, r *Request, peek bool, d *Decision) error {
	if l.closed.Load() {
		return ErrClosed
	}
	now := l.clock.Now()
	var id Identity
	rule, exempt, err := l.resolve(ctx, r, &id) // policy.go
	if err != nil {
		return err
	}
	if exempt {
		*d = exemptDecision(rule, id, now)
		return nil
	}
	cost := rule.Cost
	if r.Cost > 0 {
		cost = r.Cost
	}
	if peek {
		cost = 0 // MaxDelay stays: it bounds how a stored state is read (algo.GCRA)
	}
	return l.charge(ctx, rule, &id, cost, now, d)
}

// take is Take's decision: rule by name, key as a custom identity.
func (l *Limiter) take(ctx context.Context, name, key string, n int64, d *Decision) error {
	if l.closed.Load() {
		return ErrClosed
	}
	switch {
	case n < 0:
		return fmt.Errorf("%w: Take(n=%d): negative cost", backend.ErrInvalidRequest, n)
	case key == "":
		return fmt.Errorf("%w: Take: empty key", backend.ErrInvalidRequest)
	}
	rule := l.rules.Load().byName[name]
	if rule == nil {
		return unknownRule(name)
	}
	now := l.clock.Now()
	id := Identity{Kind: KindCustom, Value: key}
	l.policy.canonicalize(&id)
	if rule.Exempt {
		*d = exemptDecision(rule, id, now)
		return nil
	}
	return l.charge(ctx, rule, &id, n, now, d)
}

// charge decides a cost for a client of a rule (a cost of 0 peeks) and
// fills in *d.
func (l *Limiter) charge(ctx context.Context, rule *compiledRule, id *Identity, cost int64, now time.Time, d *Decision) error {
	peek := cost == 0
	req := backend.Request{
		Namespace: rule.ns[kindOf(id.Kind)],
		Key:       clientKey(id.Value), // key.go
		Algorithm: rule.Algorithm,
		Windows:   rule.windows,
		Cost:      cost,
		MaxDelay:  rule.MaxDelay,
		Now:       now,
	}
	if !peek && rule.Algorithm == backend.Concurrency {
		if req.Lease = l.leases.Add(1); req.Lease == 0 { // 0 means "no lease"
			req.Lease = l.leases.Add(1)
		}
	}
	d.Rule, d.Algorithm, d.Shadow, d.Client, d.At = rule.Name, rule.Algorithm, rule.Shadow, *id, now
	penalized := rule.penalty != nil && !rule.Shadow // shadow rules never block
	if penalized {
		pres, err := l.penalize(ctx, rule, &req, false) // penalty.go
		if err != nil {
			return l.failure(ctx, d, rule, req, err)
		}
		if pres.Blocked {
			d.block(rule, pres.BlockedFor)
			return nil
		}
	}
	cacheable := l.denies != nil && !peek && !rule.Shadow && rule.Algorithm != backend.Concurrency
	if cacheable {
		if res, ok := l.denies.get(req.Namespace, req.Key, now, req.Cost, len(rule.windows)); ok {
			d.fill(rule.Limits, &res)
			d.Outcome, d.Cached = Denied, true
			if penalized {
				l.recordDenial(ctx, d, rule, &req)
			}
			return nil
		}
	}
	if rule.Prefetch > 0 && !peek {
		if done, err := l.chargeBatch(ctx, rule, &req, d); done { // lease.go
			return err
		}
	}
	res, err := l.apply(ctx, req)
	if err != nil {
		return l.failure(ctx, d, rule, req, err)
	}
	d.fill(rule.Limits, &res)
	l.outcome(d, rule, &res, &req)
	retry := d.RetryAfter // the limit's own, before a block the denial may start
	if penalized && !peek && d.Outcome == Denied {
		l.recordDenial(ctx, d, rule, &req)
	}
	// The deny cache holds the limit's denial, never a block: a block is
	// checked in the backend before every decision anyway, and a cached
	// block would outlive an unblock made through another instance.
	if cacheable && d.Outcome == Denied {
		if until := now.Add(retry - rule.MaxDelay); until.After(now) {
			l.denies.put(req.Namespace, req.Key, now, until, req.Cost, &res)
		}
	}
	return nil
}

// outcome sets the outcome of a decision the backend (or the local
// fallback) made for req, and what Release and Settle need.
func (l *Limiter) outcome(d *Decision, rule *compiledRule, res *backend.Result, req *backend.Request) {
	peek := req.Cost == 0
	switch {
	case !res.Allowed && rule.Shadow && !peek:
		d.Outcome = ShadowDenied
	case !res.Allowed:
		d.Outcome = Denied
	case res.Delay > 0:
		d.Outcome, d.Delay = Delayed, res.Delay
	default:
		d.Outcome = Allowed
	}
	if res.Allowed && !peek {
		d.release = releaser{lim: l, rule: rule, local: d.Local}
		if req.Lease != 0 {
			d.release.lease = req.Lease
		} else {
			d.release.charged = req.Cost
		}
	}
}

// settle corrects the charge r holds, of the decision d, to cost.
func (l *Limiter) settle(ctx context.Context, r releaser, d *Decision, cost int64) error {
	if r.rule.Prefetch > 0 && r.rule.Algorithm == backend.TokenBucket && cost < r.charged {
		return nil // a refund would move the slots of other instances' batches (lease.go)
	}
	b, name, windows := l.backend, l.backendName(), r.rule.windows
	if r.local {
		b, name = l.local, "local"
		_, windows = localLimits(r.rule, l.localDivisor)
	}
	now := l.clock.Now()
	s := backend.Settlement{
		Request: backend.Request{
			Namespace: r.rule.ns[kindOf(d.Client.Kind)],
			Key:       clientKey(d.Client.Value), // key.go
			Algorithm: r.rule.Algorithm,
			Windows:   windows,
			Cost:      cost,
			MaxDelay:  r.rule.MaxDelay,
			Now:       now,
		},
		Charged: r.charged,
		Elapsed: max(0, now.Sub(d.At)),
	}
	for i := range d.nwin {
		s.Charge[i] = backend.WindowResult{ResetAfter: d.windows[i].ResetAfter, Refunded: d.windows[i].refunded}
	}
	if !r.local && l.remote && l.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	start := time.Now()
	err := b.Settle(ctx, s)
	l.observeBackend(name, "settle", start, err)
	if err != nil {
		return fmt.Errorf("%w: settle: %w", ErrBackendUnavailable, err)
	}
	return nil
}

// release frees the concurrency slot r holds, bounded by the backend
// timeout.
func (l *Limiter) release(r releaser, id Identity) {
	b, name := l.backend, l.backendName()
	if r.local {
		b, name = l.local, "local"
	}
	ctx := context.Background()
	if l.timeout > 0 && !r.local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	k, _ := kindIndex(id.Kind)
	start := time.Now()
	err := b.Release(ctx, backend.Request{
		Namespace: r.rule.ns[k],
		Key:       clientKey(id.Value), // key.go
		Algorithm: r.rule.Algorithm,
		Windows:   r.rule.windows,
		Lease:     r.lease,
		Now:       l.clock.Now(),
	})
	l.observeBackend(name, "release", start, err)
	if err != nil {
		l.logBackground(fmt.Errorf("%w: release: %w", ErrBackendUnavailable, err))
	}
}
