package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Penalty is a rule's progressive penalty: a client the rule denies
// Threshold times within Window is blocked for Base, then Base × Multiplier,
// Base × Multiplier², and so on (capped at Max) for each further block, until
// it goes Decay without a block after its last one ended and the next block
// is Base again. During a block every request of the client that the rule
// matches is Denied, with RetryAfter the time left in the block and
// Decision.Blocked set.
//
// Penalty state lives in the backend, so every instance sees the same
// block; the backend must implement [backend.Penalizer] (the memory and
// Redis backends do), or New and SetRules return a *ConfigError. A rule
// with a penalty costs one more backend call per request (the block check,
// made even when the deny cache would answer) and one per denial. Shadow
// rules never block (their denials are not counted), and Peek reports a
// block without counting anything. Reset forgets the client's penalty
// state with its usage. Rules of one Group share a client's penalty state,
// as they share its counters.
//
// When the block check fails, the failure mode decides as for any backend
// failure (the "local" failure mode's fallback keeps no penalties). When
// recording a denial fails, the request is still Denied and the error is
// logged (see WithLogger).
type Penalty struct {
	// Threshold is the number of denials within Window that starts a
	// block. It must be at least 1.
	Threshold int64
	// Window is how long denials count, from the first one counted. It
	// must be positive.
	Window time.Duration
	// Base is the length of the first block. It must be positive.
	Base time.Duration
	// Multiplier scales each further block; 0 means 2, otherwise it must be
	// at least 1 (1 makes every block Base long).
	Multiplier float64
	// Max caps the length of a block; 0 means an hour or Base,
	// whichever is longer. It must be at least Base.
	Max time.Duration
	// Decay is how long a client must go without a block, after its last
	// block ends, for the next block to be Base again; 0 means Max.
	Decay time.Duration
}

// defaultPenaltyMax is the longest block of a Penalty that sets no Max.
const defaultPenaltyMax = time.Hour

// compilePenalty validates r.Penalty and returns the backend policy, with
// defaults filled in; nil when the rule has none.
func compilePenalty(r *Rule, at string, bad func(string, any, string, ...any)) *backend.Penalty {
	p := r.Penalty
	if p == nil || r.Exempt {
		return nil
	}
	at += ".penalty"
	bp := &backend.Penalty{
		Threshold: p.Threshold, Window: p.Window, Base: p.Base,
		Multiplier: p.Multiplier, Max: p.Max, Decay: p.Decay,
	}
	if bp.Multiplier == 0 {
		bp.Multiplier = 2
	}
	if bp.Max == 0 {
		bp.Max = max(defaultPenaltyMax, bp.Base)
	}
	if bp.Decay == 0 {
		bp.Decay = bp.Max
	}
	if p.Threshold < 1 {
		bad(at+".threshold", p.Threshold, "must be at least 1")
	}
	if p.Window <= 0 || p.Window > maxPeriod {
		bad(at+".window", p.Window, "must be positive and at most %v", maxPeriod)
	}
	if p.Base <= 0 || p.Base > maxPeriod {
		bad(at+".base", p.Base, "must be positive and at most %v", maxPeriod)
	}
	if !(bp.Multiplier >= 1) || bp.Multiplier > 1e6 { // !(>=) catches NaN
		bad(at+".multiplier", p.Multiplier, "must be at least 1 (and at most 1e6)")
	}
	if bp.Max < bp.Base || bp.Max > maxPeriod {
		bad(at+".max", p.Max, "must be at least base (%v) and at most %v", p.Base, maxPeriod)
	}
	if bp.Decay < 0 || bp.Decay > maxPeriod {
		bad(at+".decay", p.Decay, "must not be negative and at most %v", maxPeriod)
	}
	return bp
}

// errNoPenalizer is the reason a rule with a penalty is refused by a
// backend that cannot keep penalty state.
var errNoPenalizer = errors.New("the backend does not implement backend.Penalizer")

// checkPenalizer returns a *ConfigError for each rule that has a penalty
// when b cannot keep penalty state.
func checkPenalizer(rules []*compiledRule, b backend.Backend) error {
	if _, ok := b.(backend.Penalizer); ok {
		return nil
	}
	var errs []error
	for _, r := range rules {
		if r.penalty != nil {
			errs = append(errs, &ConfigError{Path: fmt.Sprintf("rules[%d].penalty", r.index), Value: "set", Err: errNoPenalizer})
		}
	}
	return errors.Join(errs...)
}

// penalize asks the backend (or the local fallback) about rule's penalty
// for the client of req.
func (l *Limiter) penalize(ctx context.Context, rule *compiledRule, req *backend.Request, record bool) (backend.PenaltyResult, error) {
	p, _ := l.backend.(backend.Penalizer)
	if p == nil {
		return backend.PenaltyResult{}, nil
	}
	start := time.Now()
	res, err := p.Penalize(ctx, backend.PenaltyRequest{
		Namespace: req.Namespace, Key: req.Key, Policy: *rule.penalty, Record: record, Now: req.Now,
	})
	op := "penalty_check"
	if record {
		op = "penalty_record"
	}
	l.observeBackend(l.backendName(), op, start, err)
	return res, err
}

// recordDenial counts the denial d against rule's penalty and, when it
// starts a block, turns d into a blocked decision. A backend error leaves d
// as it is: the denial stands and the error is logged.
func (l *Limiter) recordDenial(ctx context.Context, d *Decision, rule *compiledRule, req *backend.Request) {
	pres, err := l.penalize(ctx, rule, req, true)
	if err != nil {
		l.logBackground(fmt.Errorf("%w: penalty: %w", ErrBackendUnavailable, err))
		return
	}
	if pres.Blocked {
		d.Blocked = true
		d.RetryAfter = max(d.RetryAfter, pres.BlockedFor)
	}
}

// block makes d the decision for a client blocked by rule's penalty for
// another left: Denied, with every window reported empty until then.
func (d *Decision) block(rule *compiledRule, left time.Duration) {
	for i, l := range rule.Limits {
		d.windows[i] = WindowState{Limit: l, ResetAfter: left, RetryAfter: left, NextAfter: left}
	}
	d.nwin = uint8(len(rule.Limits))
	d.Outcome, d.Blocked = Denied, true
	d.Limit, d.Remaining = rule.windows[0].Limit, 0
	d.ResetAfter, d.RetryAfter = left, left
}
