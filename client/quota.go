package sluiceclient

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// probeWait is the longest a request queues behind a key's probe (the one
// request sent while the key's limits are unknown) before it is sent
// anyway: a slow response must not hold every other request of its key.
const probeWait = 2 * time.Second

// minSweep is the number of keys above which the table of learned limits
// starts forgetting keys it has nothing to say about (see quotas.sweep).
const minSweep = 1024

// quotas is what the transport has learned from responses about each key's
// limits. It is safe for concurrent use.
type quotas struct {
	mu        sync.Mutex
	keys      map[string]*quota
	nextSweep int
}

// quota is what the responses to one key's requests said about its limits.
//
// A key starts unknown: its first request is sent alone, as the probe, and
// the others queue until the probe's response arrives (at most probeWait).
// A response with rate-limit fields gives windows, which pace the key's
// requests: each send takes one unit of every window, and when a window has
// none left, requests wait until its reset. A response with none makes the
// key free: nothing paces it. A limited response (429, and 403 or 503 with
// Retry-After) blocks the key until the time it names, and forgets its
// windows, so that the first request after the block is a probe again.
type quota struct {
	windows []learned
	free    bool
	blocked time.Time
	probing bool
	queued  []context.CancelFunc // wake the requests queued behind the probe
}

// learned is one window of a key's limits.
type learned struct {
	name      string
	remaining int64
	resetAt   time.Time
	// quota and period, when both are known, refill the window at its
	// reset without a probe.
	quota  int64
	period time.Duration
}

// admission is the answer to a request asking to be sent.
type admission struct {
	// wait, when positive, is how long to wait before asking again, for
	// the reason "quota" (the window or block that stops the request ends
	// then).
	wait time.Duration
	// queue says to wait for the key's probe to answer (reason "probe").
	queue bool
	// probe says that the request is sent as the key's probe: the caller
	// must report its outcome with done.
	probe bool
}

func (qs *quotas) get(key string, now time.Time) *quota {
	q := qs.keys[key]
	if q == nil {
		if qs.keys == nil {
			qs.keys = make(map[string]*quota)
		}
		if len(qs.keys) >= max(qs.nextSweep, minSweep) {
			qs.sweep(now)
		}
		q = &quota{}
		qs.keys[key] = q
	}
	return q
}

// sweep forgets the keys that have nothing to say: no probe out, no block,
// no window before its reset. Such a key would only be probed again. It
// runs when the table doubles, so its cost per new key is constant.
func (qs *quotas) sweep(now time.Time) {
	for k, q := range qs.keys {
		if !q.probing && !now.Before(q.blocked) && q.expired(now) {
			delete(qs.keys, k)
		}
	}
	qs.nextSweep = 2 * len(qs.keys)
}

func (q *quota) expired(now time.Time) bool {
	for _, w := range q.windows {
		if now.Before(w.resetAt) {
			return false
		}
	}
	return true
}

// admit asks whether a request of key may be sent at now, and takes one
// unit of every window of the key when it may.
func (qs *quotas) admit(key string, now time.Time) admission {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(key, now)
	if now.Before(q.blocked) {
		return admission{wait: q.blocked.Sub(now)}
	}
	kept := q.windows[:0]
	for _, w := range q.windows {
		if !now.Before(w.resetAt) {
			if w.quota == 0 || w.period == 0 {
				continue // the window's size is unknown: learn it again
			}
			w.remaining, w.resetAt = w.quota, now.Add(w.period)
		}
		kept = append(kept, w)
	}
	clear(q.windows[len(kept):])
	q.windows = kept
	if len(q.windows) == 0 && !q.free {
		if q.probing {
			return admission{queue: true}
		}
		q.probing = true
		return admission{probe: true}
	}
	var wait time.Duration
	for _, w := range q.windows {
		if w.remaining <= 0 {
			wait = max(wait, w.resetAt.Sub(now))
		}
	}
	if wait > 0 {
		return admission{wait: wait}
	}
	for i := range q.windows {
		q.windows[i].remaining--
	}
	return admission{}
}

// queue registers wake, the cancel function of a request's wait for key's
// probe, and reports whether the probe is still out: when it is not, the
// request should ask admit again at once.
func (qs *quotas) queue(key string, wake context.CancelFunc) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.keys[key]
	if q == nil || !q.probing {
		return false
	}
	q.queued = append(q.queued, wake)
	return true
}

// done learns from the response to a request of key, received at now.
// probe says the request was the key's probe; resp is nil when the request
// failed. It returns whether the response is limited (see limited) and, if
// so, the wait it asks for: Retry-After, or the reset of an exhausted
// window, or, when it names none, fallback.
func (qs *quotas) done(key string, probe bool, now time.Time, resp *http.Response, fallback time.Duration) (wait time.Duration, isLimited bool) {
	var rep report
	if resp != nil {
		rep = parseHeader(resp.Header, now)
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(key, now)
	if probe {
		q.probing = false
		for _, wake := range q.queued {
			wake()
		}
		clear(q.queued)
		q.queued = q.queued[:0]
	}
	if resp == nil {
		return 0, false
	}
	if limited(resp.StatusCode, &rep) {
		switch d, ok := rep.exhausted(); {
		case rep.hasRetryAfter:
			wait = rep.retryAfter
		case ok:
			wait = d
		default:
			wait = fallback
		}
		if until := now.Add(wait); until.After(q.blocked) {
			q.blocked = until
		}
		q.windows = q.windows[:0]
		q.free = false
		return wait, true
	}
	if !rep.seen {
		if len(q.windows) == 0 {
			q.free = true
		}
		return 0, false
	}
	q.free = false
	for _, w := range rep.windows {
		resetAt := now.Add(w.reset)
		i := q.find(w.name)
		if i < 0 {
			q.windows = append(q.windows, learned{name: w.name, remaining: w.remaining, resetAt: resetAt, quota: w.quota, period: w.period})
			continue
		}
		l := &q.windows[i]
		if now.Before(l.resetAt) {
			// Responses overtake one another, and requests already sent
			// are not counted in an earlier response: believe the lower
			// count and the later reset.
			l.remaining = min(l.remaining, w.remaining)
			if resetAt.After(l.resetAt) {
				l.resetAt = resetAt
			}
		} else {
			l.remaining, l.resetAt = w.remaining, resetAt
		}
		if w.quota > 0 {
			l.quota = w.quota
		}
		if w.period > 0 {
			l.period = w.period
		}
	}
	return 0, false
}

func (q *quota) find(name string) int {
	for i, w := range q.windows {
		if w.name == name {
			return i
		}
	}
	return -1
}

// limited reports whether a response says that its request was refused for
// a rate limit: a 429; a 503 with Retry-After (the server says when it can
// serve again); a 403 with Retry-After or an exhausted window, which is how
// GitHub refuses a request over its primary or secondary limits. A 403 or
// 503 without them is an answer, not a limit.
func limited(status int, rep *report) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return rep.hasRetryAfter
	case http.StatusForbidden:
		_, exhausted := rep.exhausted()
		return rep.hasRetryAfter || exhausted
	}
	return false
}
