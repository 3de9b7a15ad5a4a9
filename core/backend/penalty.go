package backend

import (
	"context"
	"time"
)

// Penalty is a progressive penalty policy: a client denied Threshold times
// within Window is blocked for Base × Multiplier^k, capped at Max, where k is
// the number of blocks it has had since it last behaved for Decay. Every
// field must be set (core fills in defaults); see [Penalty.Block].
type Penalty struct {
	// Threshold is the number of denials that trigger a block.
	Threshold int64
	// Window is how long denials count: the window opens at the first
	// denial counted and the count starts over when it closes.
	Window time.Duration
	// Base is the length of the first block.
	Base time.Duration
	// Multiplier (at least 1) scales each further block.
	Multiplier float64
	// Max caps the length of a block.
	Max time.Duration
	// Decay is how long a client must go without a block, counted from the
	// end of its last block, for k to start again at 0.
	Decay time.Duration
}

// NextBlock returns the length of a client's next block, given k (the
// blocks it has had recently) and the length of its last block: min(Base,
// Max) when k is 0, and otherwise min(last × Multiplier, Max), the product
// computed in float64 and truncated to whole nanoseconds. So block k+1 is
// Base × Multiplier^k up to rounding, capped at Max. Backends must use this
// arithmetic (the Redis script reproduces it step for step in Lua's
// doubles) so that every backend gives the same blocks.
func (p Penalty) NextBlock(k int64, last time.Duration) time.Duration {
	if k <= 0 {
		return min(p.Base, p.Max)
	}
	f := float64(last) * p.Multiplier
	if !(f < float64(p.Max)) { // also NaN
		return p.Max
	}
	return time.Duration(f)
}

// PenaltyRequest asks a [Penalizer] about the penalty state of one client.
type PenaltyRequest struct {
	// Namespace and Key identify the client, as in [Request]. Penalty
	// state is kept apart from the rate-limit state of the same pair.
	Namespace string
	Key       string
	// Policy is the penalty policy.
	Policy Penalty
	// Record counts one denial before answering; false only checks, and
	// changes nothing.
	Record bool
	// Now is the caller's clock reading.
	Now time.Time
}

// PenaltyResult is a [Penalizer]'s answer.
type PenaltyResult struct {
	// Blocked reports that the client is blocked now (a recorded denial
	// may have just started the block).
	Blocked bool
	// BlockedFor is the time left in the block; 0 when not blocked.
	BlockedFor time.Duration
	// Denials is the number of denials counted in the current window.
	// It starts over at 0 when a block starts.
	Denials int64
	// Level is k: the number of blocks since the client last behaved for
	// Policy.Decay, this one included.
	Level int64
}

// Penalizer is implemented by backends that keep progressive-penalty state,
// so that every instance of a service sees the same block. The Limiter
// calls Penalize with Record false before each decision of a rule with a
// penalty, and with Record true after each denial by it.
//
// An implementation must make each call atomic per (Namespace, Key), forget
// idle state by itself (no later than when the block, the denial window and
// the decay have all ended), and follow this specification, with t = Now:
//
//   - if t is before the end of a block, answer Blocked with the time left
//     and record nothing;
//   - otherwise, without Record, answer the state unchanged;
//   - with Record: if Decay has passed since the end of the last block, k
//     becomes 0; if no denial window is open at t (none, or t is at or
//     after its start plus Window), one opens at t with a count of 0; the
//     count grows by one, and when it reaches Threshold the count goes back
//     to 0, a block of [Penalty.NextBlock](k, last block) starts at t and k
//     grows by one.
//
// The conformance suite in module testkit checks exact sequences.
type Penalizer interface {
	// Penalize checks, or records a denial and checks, whether a client is
	// blocked. An error means that no answer could be given.
	Penalize(ctx context.Context, req PenaltyRequest) (PenaltyResult, error)
}
