package memory

import (
	"context"

	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/internal/algo"
)

// Settle implements [backend.Backend]: it corrects a charge under the
// shard's mutex, every window at once.
func (b *Backend) Settle(_ context.Context, s backend.Settlement) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Algorithm == backend.Concurrency || s.Cost == s.Charged {
		return nil
	}
	k := b.digestFor(s.Namespace, s.Key, s.Algorithm)
	sh := b.shard(k)
	now := s.Now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i, w := range s.Windows {
		wk := k.window(i)
		// The instant the charge's state was reported to reset, by this
		// clock: for a token bucket, the end of its units; for a fixed
		// window, that window's end; for a sliding window counter, its
		// window's start plus two periods.
		at := now - int64(s.Elapsed) + int64(s.Charge[i].ResetAfter)
		switch s.Algorithm {
		case backend.TokenBucket:
			sh.settleGCRA(b, wk, now, w, &s, at, s.Charge[i].Refunded)
		case backend.FixedWindow:
			var st algo.FixedState
			if p := sh.fw.get(wk); p != nil {
				st = *p
			}
			if n := algo.FixedSettle(st, now, w, s.Charged, s.Cost, at); n != st {
				*putNew(sh, &sh.fw, b, wk, now) = n
			}
		case backend.SlidingWindow:
			var st algo.SlidingState
			if p := sh.sw.get(wk); p != nil {
				st = p.SlidingState
			}
			if n := algo.SlidingSettle(st, now, w, s.Charged, s.Cost, at); n != st {
				*putNew(sh, &sh.sw, b, wk, now) = slidingEntry{n, n.Start + 2*int64(w.Period)}
			}
		case backend.SlidingLog:
			if s.Cost <= s.Charged {
				continue // the log keeps the estimate
			}
			var l *logEntry
			if p := sh.sl.get(wk); p != nil {
				l = *p
			} else {
				l = new(logEntry)
				*putNew(sh, &sh.sl, b, wk, now) = l
			}
			l.Settle(now, w, s.Charged, s.Cost)
			l.exp = l.Expiry(w)
		}
	}
	return nil
}

// settleGCRA settles one token-bucket window, whose digest is wk; end is
// where the charge's units ended and refundedAt the refund total Apply
// reported with it. The caller holds the mutex.
func (sh *shard) settleGCRA(b *Backend, wk dkey, now int64, w backend.Window, s *backend.Settlement, end, refundedAt int64) {
	t := &sh.tb
	t.reserve(1) // an extra charge may insert the key
	tag := slotTag(w, s.MaxDelay)
	slot := t.slots().find(wk)
	var held, tat, refunded int64
	if slot != nil {
		if held = claim(slot); held >= tatLeast {
			tat = held
			if slot.tag()&tagRefunded != 0 {
				if p := sh.rf.get(gcraID(wk)); p != nil {
					refunded = *p
				}
			}
			if slot.tag()&^tagRefunded != tag {
				tat = algo.Reconfigured(tat, now, w, int64(s.MaxDelay))
			}
		}
	}
	next, total := algo.GCRASettle(tat, refunded, now, w, s.Charged, s.Cost, end, refundedAt)
	if total != 0 {
		tag |= tagRefunded
		*sh.rf.put(gcraID(wk)) = total
	} else {
		sh.rf.del(gcraID(wk))
	}
	switch {
	case slot != nil && held >= tatLeast:
		slot.setTag(tag)
		slot.v.Store(next)
	case slot != nil && algo.GCRAExpiry(next, total) > now: // a tombstone comes back to life
		if sh.max > 0 {
			sh.admitNew(b, now)
		}
		t.n++
		slot.setTag(tag)
		slot.v.Store(next)
	case slot != nil:
		slot.v.Store(held)
	case algo.GCRAExpiry(next, total) > now:
		if sh.max > 0 {
			sh.admitNew(b, now)
		}
		t.insert(wk, next, tag)
	}
}
