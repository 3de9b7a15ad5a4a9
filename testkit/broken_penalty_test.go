package testkit_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

// Broken penalizers, run by TestBrokenBackends like the broken backends of
// broken_test.go: each breaks one rule of the backend.Penalizer contract.
func init() {
	brokenBackends = append(brokenBackends,
		struct {
			name string
			new  func(t *testing.T) backend.Backend
			fail []string
			pass []string
		}{
			name: "penalty-no-growth",
			new:  func(t *testing.T) backend.Backend { return noGrowth{newMemory(t)} },
			fail: []string{"penalty/sequence/threshold-growth-cap", "penalty/sequence/fractional-multiplier", "penalty/sequence/decay"},
			pass: []string{"penalty/check-changes-nothing", "penalty/key-isolation", "penalty/reset", "penalty/concurrent-exactness"},
		},
		struct {
			name string
			new  func(t *testing.T) backend.Backend
			fail []string
			pass []string
		}{
			name: "penalty-racy-read-modify-write",
			new: func(t *testing.T) backend.Backend {
				return &racyPenalizer{Backend: newMemory(t), m: map[[2]string]pstate{}}
			},
			fail: []string{"penalty/concurrent-exactness"},
			pass: []string{"penalty/sequence/threshold-growth-cap", "penalty/sequence/fractional-multiplier", "penalty/sequence/decay", "penalty/reset"},
		},
	)
}

// noGrowth makes every block Base long: it ignores the multiplier.
type noGrowth struct {
	backend.Backend
}

func (b noGrowth) Penalize(ctx context.Context, req backend.PenaltyRequest) (backend.PenaltyResult, error) {
	req.Policy.Multiplier = 1
	return b.Backend.(backend.Penalizer).Penalize(ctx, req)
}

// racyPenalizer follows the Penalizer specification one call at a time but
// reads and writes its state in two steps, so concurrent denials overwrite
// one another's counts.
type racyPenalizer struct {
	backend.Backend
	mu sync.Mutex
	m  map[[2]string]pstate
}

type pstate struct {
	start, until time.Time
	count, level int64
	last         time.Duration
}

func (b *racyPenalizer) Penalize(_ context.Context, req backend.PenaltyRequest) (backend.PenaltyResult, error) {
	k := [2]string{req.Namespace, req.Key}
	b.mu.Lock()
	s := b.m[k]
	b.mu.Unlock()
	p, now := req.Policy, req.Now
	if now.Before(s.until) {
		return backend.PenaltyResult{Blocked: true, BlockedFor: s.until.Sub(now), Denials: s.count, Level: s.level}, nil
	}
	open := s.count > 0 && now.Before(s.start.Add(p.Window))
	decayed := !now.Before(s.until.Add(p.Decay))
	if !req.Record {
		var res backend.PenaltyResult
		if open {
			res.Denials = s.count
		}
		if !decayed {
			res.Level = s.level
		}
		return res, nil
	}
	if decayed {
		s.level = 0
	}
	if !open {
		s.start, s.count = now, 0
	}
	s.count++
	var res backend.PenaltyResult
	if s.count >= p.Threshold {
		block := p.NextBlock(s.level, s.last)
		s.until, s.count, s.last = now.Add(block), 0, block
		s.level++
		res.Blocked, res.BlockedFor = true, block
	}
	res.Denials, res.Level = s.count, s.level
	runtime.Gosched() // widen the gap between read and write
	b.mu.Lock()
	b.m[k] = s
	b.mu.Unlock()
	return res, nil
}

func (b *racyPenalizer) Reset(ctx context.Context, namespace, key string) error {
	b.mu.Lock()
	delete(b.m, [2]string{namespace, key})
	b.mu.Unlock()
	return b.Backend.Reset(ctx, namespace, key)
}
