package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core/backend"
)

var _ backend.Penalizer = (*Backend)(nil)

// penaltyEntry is the progressive-penalty state of one key, in Unix
// nanoseconds. Its zero value is a client with no history.
type penaltyEntry struct {
	start int64 // when the denial window opened
	count int64 // denials in it
	until int64 // end of the last block
	level int64 // k: blocks since the client last behaved for Decay
	last  int64 // length of the last block
	exp   int64 // when the state equals the zero value and can go
}

// Penalize implements [backend.Penalizer]. Penalty state lives in its own
// table, keyed by the same digest as the key's windows, and is dropped once
// the block, the denial window and the decay have all ended.
func (b *Backend) Penalize(_ context.Context, req backend.PenaltyRequest) (backend.PenaltyResult, error) {
	if err := checkPenalty(req.Policy); err != nil {
		return backend.PenaltyResult{}, err
	}
	k := b.digest(req.Namespace, req.Key)
	sh := b.shard(k)
	now := req.Now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var s penaltyEntry
	if p := sh.pn.get(k); p != nil && p.exp > now {
		s = *p
	}
	res, changed := penalize(&s, now, req.Policy, req.Record)
	if changed {
		*putNew(sh, &sh.pn, b, k, now) = s
	}
	return res, nil
}

// penalize applies the specification of [backend.Penalizer] to s at now,
// and reports whether s changed.
func penalize(s *penaltyEntry, now int64, p backend.Penalty, record bool) (backend.PenaltyResult, bool) {
	if now < s.until {
		return backend.PenaltyResult{Blocked: true, BlockedFor: time.Duration(s.until - now), Denials: s.count, Level: s.level}, false
	}
	windowOpen := s.count > 0 && now < s.start+int64(p.Window)
	decayed := now >= s.until+int64(p.Decay)
	if !record {
		res := backend.PenaltyResult{}
		if windowOpen {
			res.Denials = s.count
		}
		if !decayed {
			res.Level = s.level
		}
		return res, false
	}
	if decayed {
		s.level = 0
	}
	if !windowOpen {
		s.start, s.count = now, 0
	}
	s.count++
	var res backend.PenaltyResult
	if s.count >= p.Threshold {
		block := p.NextBlock(s.level, time.Duration(s.last))
		s.until, s.count, s.last = now+int64(block), 0, int64(block)
		s.level++
		res.Blocked, res.BlockedFor = true, block
	}
	res.Denials, res.Level = s.count, s.level
	s.exp = s.start + int64(p.Window)
	if s.level > 0 {
		s.exp = max(s.exp, s.until+int64(p.Decay))
	}
	return res, true
}

func checkPenalty(p backend.Penalty) error {
	if p.Threshold < 1 || p.Window <= 0 || p.Base <= 0 || !(p.Multiplier >= 1) || p.Max < p.Base || p.Decay < 0 {
		return fmt.Errorf("%w: penalty %+v", backend.ErrInvalidRequest, p)
	}
	return nil
}
