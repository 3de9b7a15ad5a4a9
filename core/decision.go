package core

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Outcome is what a Decision says to do with a request. Its values are the
// names metrics and logs use.
type Outcome string

// The outcomes. [Outcome.Proceed] tells which ones let the request through.
const (
	// Allowed: the request is within its limits and was charged.
	Allowed Outcome = "allowed"
	// Denied: the request is over a limit; answer 429 and nothing was
	// charged.
	Denied Outcome = "denied"
	// Delayed: the request was charged and may proceed after waiting the
	// Decision's Delay (throttling, Rule.MaxDelay).
	Delayed Outcome = "delayed"
	// Exempt: no limit applies (an exempt rule, an exempt client, a health
	// endpoint, or no rule matched).
	Exempt Outcome = "exempt"
	// ShadowDenied: the request is over a limit of a shadow rule; it
	// proceeds and the denial is only reported.
	ShadowDenied Outcome = "shadow_denied"
	// FailedOpen: the backend failed and the failure mode lets the request
	// through unlimited.
	FailedOpen Outcome = "fail_open"
	// FailedClosed: the backend failed and the failure mode rejects the
	// request; answer 503.
	FailedClosed Outcome = "fail_closed"
)

// Proceed reports whether a request with this outcome should be served:
// true for Allowed, Delayed (after the delay), Exempt, ShadowDenied and
// FailedOpen.
func (o Outcome) Proceed() bool {
	switch o {
	case Allowed, Delayed, Exempt, ShadowDenied, FailedOpen:
		return true
	}
	return false
}

// WindowState is the state of one window of the matched rule after a
// decision.
type WindowState struct {
	// Limit is the window's limit, with its policy name filled in.
	Limit Limit
	// Remaining is the number of units the window would still admit.
	Remaining int64
	// ResetAfter is the time until the window has its full quota back if
	// the client sends nothing more; 0 when it already has.
	ResetAfter time.Duration
	// RetryAfter is the time until this window would admit the request;
	// 0 when it admits it now.
	RetryAfter time.Duration
	// NextAfter is the time until the window has one unit more than
	// Remaining, the t of the RateLimit header: the next token of a token
	// bucket, the end of a fixed window, the oldest entries leaving a
	// sliding log; 0 when the window has its full quota. For a
	// concurrency limit it is at most a second: a slot comes back when a
	// request ends.
	NextAfter time.Duration

	refunded int64 // the backend's refund total, for Settle
}

// Decision is the verdict on one request. The zero value is not a valid
// decision.
//
// Limit, Remaining, ResetAfter and RetryAfter describe the window that
// constrains the client most: on a denial the violated window with the
// longest wait, otherwise the window with the least remaining. Windows
// lists every window of the rule, for policy headers.
type Decision struct {
	// Outcome says what to do with the request.
	Outcome Outcome
	// Rule is the name of the matched rule; empty when none matched.
	Rule string
	// Algorithm is the matched rule's algorithm.
	Algorithm backend.Algorithm
	// Shadow reports that the matched rule is in shadow mode: it never
	// denies, and HTTP adapters do not advertise its limits by default.
	Shadow bool
	// Local reports that the shared backend failed and the decision was
	// made by the in-process fallback (failure mode "local").
	Local bool
	// Cached reports a denial that the local deny cache served, without a
	// backend call (see Failure.NoDenyCache).
	Cached bool
	// Client is the identity the request was counted against.
	Client Identity
	// Limit is the most constraining window's limit per its period.
	Limit int64
	// Remaining is what that window would still admit; -1 when unknown
	// (the backend failed).
	Remaining int64
	// ResetAfter is the time until that window has its full quota back.
	ResetAfter time.Duration
	// RetryAfter is the time until the request would be admitted; set
	// when the outcome is Denied or ShadowDenied, 0 otherwise.
	RetryAfter time.Duration
	// Delay is how long to wait before serving a Delayed request.
	Delay time.Duration
	// At is when the decision was made, by the Limiter's clock.
	At time.Time
	// Blocked reports that the client is serving a progressive penalty
	// (Rule.Penalty): the request is Denied and RetryAfter is the time
	// left in the block.
	Blocked bool
	// Err is the backend error behind a FailedOpen or FailedClosed outcome,
	// for logs and metrics. Never send it to a client.
	Err error

	windows [backend.MaxWindows]WindowState
	nwin    uint8
	release releaser
}

// releaser remembers what Release needs to free a concurrency slot, and
// Settle to correct a charge.
type releaser struct {
	lim     *Limiter
	rule    *compiledRule
	lease   uint64 // the concurrency slot held; 0 for none
	charged int64  // the cost charged, until settled; 0 for none
	local   bool   // charged to the local fallback backend
}

// Windows returns the state of every window of the matched rule, in the
// rule's order. It is empty for Exempt, FailOpen and FailClosed decisions.
// The slice aliases d.
func (d *Decision) Windows() []WindowState { return d.windows[:d.nwin] }

// Release frees the concurrency slot an Allowed or Delayed decision of a
// backend.Concurrency rule holds; call it when the request is done, typically with
// defer. For any other decision it does nothing. Calling it more than once is
// harmless. The backend call is bounded by the Limiter's backend timeout; an
// error is logged (see WithLogger), and an unreleased slot still frees
// itself when its lease expires.
func (d *Decision) Release() {
	r := d.release
	if r.lease == 0 {
		return
	}
	d.release.lease = 0
	r.lim.release(r, d.Client)
}

// Settle reports what the work an Allowed or Delayed decision admitted
// really cost, now that it is done, and corrects the charge: cost more
// than was charged is charged now, even beyond the limit (the work was
// done, so later requests wait longer); cost less is refunded, as far as
// the charge still counts. So a caller charges an estimate up front (the
// most tokens an LLM call may use, a GraphQL query's estimated cost) and
// settles the real cost afterwards.
//
// A refund never lowers usage below what other requests left, and never
// lets a window admit more than its limit in total: a token bucket gives
// back only what is left of the charge's own units, and a fixed or sliding
// window only while the window the charge went into still counts. A
// sliding log keeps the estimate (a refund gives nothing back) and records
// any extra as a new entry. A concurrency limit's units come back with
// Release; Settle does nothing for it.
//
// Settle corrects a charge once: later calls, and calls on decisions that
// charged nothing (denied, exempt, failed, peeks), do nothing and return
// nil. The backend call is bounded by ctx and, for a remote backend, by
// the Limiter's backend timeout; its error wraps ErrBackendUnavailable.
func (d *Decision) Settle(ctx context.Context, cost int64) error {
	r := d.release
	if r.charged == 0 {
		return nil
	}
	if cost < 0 {
		return fmt.Errorf("%w: Settle(%d): negative cost", backend.ErrInvalidRequest, cost)
	}
	d.release.charged = 0
	return r.lim.settle(ctx, r, d, cost)
}

// fill sets the windows and the most constraining one from a backend result
// for a rule with the given limits.
func (d *Decision) fill(limits []Limit, res *backend.Result) {
	primary := -1
	for i := range limits {
		wr := res.Windows[i]
		d.windows[i] = WindowState{
			Limit:      limits[i],
			Remaining:  wr.Remaining,
			ResetAfter: wr.ResetAfter,
			RetryAfter: wr.RetryAfter,
			NextAfter:  wr.NextAfter,
			refunded:   wr.Refunded,
		}
		if primary < 0 || constrains(&d.windows[i], &d.windows[primary]) {
			primary = i
		}
	}
	d.nwin = uint8(len(limits))
	p := &d.windows[primary]
	d.Limit, d.Remaining, d.ResetAfter = p.Limit.N, p.Remaining, p.ResetAfter
	if !res.Allowed {
		d.RetryAfter = p.RetryAfter
	}
}

// constrains reports whether window a constrains the client more than b:
// a longer wait, then less remaining, then a longer reset.
func constrains(a, b *WindowState) bool {
	switch {
	case a.RetryAfter != b.RetryAfter:
		return a.RetryAfter > b.RetryAfter
	case a.Remaining != b.Remaining:
		return a.Remaining < b.Remaining
	}
	return a.ResetAfter > b.ResetAfter
}
