package sluiceredis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

var _ backend.Penalizer = (*Backend)(nil)

var penaltyScript = loadScript("penalty")

// maxPenaltyDuration bounds the durations of a penalty policy: Lua numbers
// hold nanoseconds exactly below 2^53 (104 days).
const maxPenaltyDuration = time.Duration(1<<53 - 1)

// Penalize implements [backend.Penalizer] with one script call on the key
// prefix{tag}p, under the same hash tag (and so in the same Cluster slot) as
// the client's windows. The key expires once the client's denial window,
// block and decay have all ended. Reset deletes it.
//
// The policy's durations must be below 2^53 ns (about 104 days), and its
// Threshold at most 2^53-1; others are refused with an error wrapping
// backend.ErrInvalidRequest.
func (b *Backend) Penalize(ctx context.Context, req backend.PenaltyRequest) (backend.PenaltyResult, error) {
	p := req.Policy
	if p.Threshold < 1 || p.Threshold > maxUnits || !(p.Multiplier >= 1) ||
		p.Window <= 0 || p.Base <= 0 || p.Max < p.Base || p.Decay < 0 ||
		p.Window > maxPenaltyDuration || p.Max > maxPenaltyDuration || p.Decay > maxPenaltyDuration {
		return backend.PenaltyResult{}, fmt.Errorf("%w: penalty %+v", backend.ErrInvalidRequest, p)
	}
	if b.caller && req.Now.UnixNano() < 0 {
		return backend.PenaltyResult{}, fmt.Errorf("%w: time %v is before the Unix epoch", backend.ErrInvalidRequest, req.Now)
	}
	record := 0
	if req.Record {
		record = 1
	}
	args := b.timeArgs(make([]any, 0, 10), req.Now)
	args = append(args, record, p.Threshold, int64(p.Window), int64(p.Base),
		strconv.FormatFloat(p.Multiplier, 'g', -1, 64), int64(p.Max), int64(p.Decay))
	keys := []string{string(append(b.keyBase(req.Namespace, req.Key, 1), 'p'))}
	v, err := penaltyScript.run(ctx, b.client, b.batch, keys, args)
	if err != nil {
		return backend.PenaltyResult{}, b.fail(ctx, penaltyScript.name, err)
	}
	vals, ok := v.([]any)
	if !ok || len(vals) != 4 {
		return backend.PenaltyResult{}, fmt.Errorf("sluiceredis: unexpected penalty reply %v", v)
	}
	var n [4]int64
	for i, x := range vals {
		if n[i], ok = x.(int64); !ok {
			return backend.PenaltyResult{}, fmt.Errorf("sluiceredis: unexpected penalty reply %v", v)
		}
	}
	return backend.PenaltyResult{Blocked: n[0] == 1, BlockedFor: time.Duration(n[1]), Denials: n[2], Level: n[3]}, nil
}
