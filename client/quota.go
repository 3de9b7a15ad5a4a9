package sluiceclient

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// newsWait is the longest a request waits for a response of its key to
// arrive (see quota) before it is sent anyway: a slow response must not
// hold every other request of its key.
const newsWait = 2 * time.Second

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
// A response with rate-limit fields gives windows, which pace the key's
// requests: each send takes one unit of every window, and a window with
// none left holds requests back. A window is forgotten at its reset, since
// how much quota is back then depends on the form (X-RateLimit-Reset is
// the time until all of it is, draft-10's t the time until more is, which
// may be one unit), and learned again from the next response.
//
// While a key has no windows, and while a window has none left by the
// transport's count but its server has not said so yet, requests wait for
// news: for a response to the requests already out (at most newsWait). So
// only one request goes out to learn a key's limits (the probe), and a
// window is not waited out on a reset that the response saying "none left"
// has not given yet. With nothing out, the probe goes, or the count is set
// to what the server last said.
//
// A response with no rate-limit field makes the key free: nothing paces it.
// A limited response (see limited) blocks the key until the time it names,
// and forgets its windows.
type quota struct {
	windows []learned
	free    bool
	blocked time.Time
	out     int                  // requests sent and not answered yet
	queued  []context.CancelFunc // wake the requests waiting for news
}

// learned is one window of a key's limits.
type learned struct {
	name string
	// remaining is what the window still admits by the transport's
	// count: the server's lowest report, less what was sent since.
	remaining int64
	// reported is the lowest remaining a response has reported, and
	// resetAt the reset that response gave: when more quota is back, or
	// all of it.
	reported int64
	resetAt  time.Time
}

// admission is the answer to a request asking to be sent.
type admission struct {
	// wait, when positive, is how long to wait before asking again: the
	// reason is "quota" (the window or block that stops the request
	// ends then).
	wait time.Duration
	// queue says to wait for news, a response to a request of the key
	// (reason "probe"), and then ask again.
	queue bool
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

// sweep forgets the keys that have nothing to say: nothing out, no block,
// no window before its reset. Such a key would only be probed again. It
// runs when the table doubles, so its cost per new key is constant.
func (qs *quotas) sweep(now time.Time) {
	for k, q := range qs.keys {
		if q.out == 0 && !now.Before(q.blocked) && q.expired(now) {
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

// admit asks whether a request of key may be sent at now. When it may, it
// takes one unit of every window of the key and counts the request as out:
// the caller must report its outcome with done.
func (qs *quotas) admit(key string, now time.Time) admission {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(key, now)
	if now.Before(q.blocked) {
		return admission{wait: q.blocked.Sub(now)}
	}
	q.expire(now)
	if len(q.windows) == 0 && !q.free {
		if q.out > 0 {
			return admission{queue: true} // the probe is out
		}
		q.out++
		return admission{} // the probe
	}
	var wait time.Duration
	for i := range q.windows {
		w := &q.windows[i]
		switch {
		case w.remaining > 0:
		case w.reported == 0:
			wait = max(wait, w.resetAt.Sub(now))
		case q.out > 0:
			return admission{queue: true} // the answers will tell
		default:
			w.remaining = w.reported // every answer is in: believe the server
		}
	}
	if wait > 0 {
		return admission{wait: wait}
	}
	for i := range q.windows {
		q.windows[i].remaining--
	}
	q.out++
	return admission{}
}

// send counts a request of key as out without pacing it: one that waited
// newsWait for news in vain. The caller must report its outcome with done.
func (qs *quotas) send(key string, now time.Time) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.get(key, now).out++
}

// queue registers wake, the cancel function of a request's wait for news
// of key, and reports whether news is still to come: when it is not, the
// request should ask admit again at once.
func (qs *quotas) queue(key string, wake context.CancelFunc) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.keys[key]
	if q == nil || q.out == 0 {
		return false
	}
	q.queued = append(q.queued, wake)
	return true
}

// done learns from the response to a request of key that admit or send
// counted, received at now; resp is nil when the request failed. It wakes
// the requests waiting for news, and returns whether the response is
// limited (see limited) and, if so, the wait it asks for: Retry-After, or
// the reset of an exhausted window, or, when it names none, fallback.
func (qs *quotas) done(key string, now time.Time, resp *http.Response, fallback time.Duration) (wait time.Duration, isLimited bool) {
	var rep report
	if resp != nil {
		rep = parseHeader(resp.Header, now)
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.get(key, now)
	q.out = max(q.out-1, 0)
	for _, wake := range q.queued {
		wake()
	}
	clear(q.queued)
	q.queued = q.queued[:0]
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
	q.expire(now)
	for _, w := range rep.windows {
		resetAt := now.Add(w.reset)
		i := q.find(w.name)
		if i < 0 {
			// The requests still out may not be counted in this answer:
			// count them as spent, until the answers are all in.
			q.windows = append(q.windows, learned{name: w.name, remaining: max(w.remaining-int64(q.out), 0), reported: w.remaining, resetAt: resetAt})
			continue
		}
		// Responses overtake one another, and an answer does not count
		// the requests sent after it: the lowest report is the most
		// informed, and its reset the one that counts (draft-10's t for
		// a higher remaining may be much later: the time until one
		// more). Of equal reports, the later reset.
		l := &q.windows[i]
		l.remaining = min(l.remaining, w.remaining)
		switch {
		case w.remaining < l.reported:
			l.reported, l.resetAt = w.remaining, resetAt
		case w.remaining == l.reported && resetAt.After(l.resetAt):
			l.resetAt = resetAt
		}
	}
	return 0, false
}

// expire forgets the windows whose reset has come, so that they are
// learned again.
func (q *quota) expire(now time.Time) {
	q.windows = slices.DeleteFunc(q.windows, func(w learned) bool { return !now.Before(w.resetAt) })
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
