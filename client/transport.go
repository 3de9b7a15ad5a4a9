package sluiceclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/core"
)

// HeaderWaited is the response header field in which the Transport reports
// how long it waited before and between the sends of a request, in seconds
// with three decimals ("1.250"). It is set only when the transport waited;
// read it with Waited. A proxy that returns responses to its own clients
// may want to remove it.
const HeaderWaited = "Sluice-Client-Waited"

// ErrWaitTooLong is wrapped by the error a request fails with when it would
// have to wait longer than WithMaxWait allows before it can be sent: a
// quota is spent, or the server asked not to be called, until later.
var ErrWaitTooLong = errors.New("sluiceclient: wait too long")

// Transport is an http.RoundTripper that keeps the requests it sends within
// the rate limits of the servers they go to. Create one with Wrap. It is
// safe for concurrent use; share one per set of servers, as with
// http.Transport, since what it learns about a server's limits lives in
// it.
//
// Before each send it paces the request, by its key (see WithKey):
//
//   - by a limit of the caller's own, when WithLimiter sets one: it takes a
//     unit of the Limiter's rule, waiting while the rule denies it;
//   - by what earlier responses of the same key said: when a quota their
//     RateLimit, RateLimit-* or X-RateLimit-* fields reported has nothing
//     left, the request waits for its reset instead of being sent to fail;
//     after a response refused for a rate limit, every request of the key
//     waits out its Retry-After. While a key's limits are unknown (its
//     first request, the first after a quota's reset or after a refusal),
//     one request goes out to learn them and the others wait for its
//     response, at most 2s; so do requests that would spend a quota the
//     server has not yet said is spent.
//
// After a send, a response refused for a rate limit (429, and 403 or 503
// with Retry-After, or 403 with an exhausted X-RateLimit quota, as GitHub
// sends) is sent again after the time it names, up to WithMaxRetries times,
// when the request is safe to send twice: its method is GET, HEAD, OPTIONS,
// TRACE, PUT or DELETE, or its context is marked with Retryable, or it has
// an Idempotency-Key or X-Idempotency-Key header (as net/http itself
// treats it); and its body, if any, can be sent again (Request.GetBody is
// set, as http.NewRequest sets it for in-memory bodies). The waits that
// responses ask for get jitter (WithJitter), which only adds.
//
// No wait is longer than WithMaxWait, and none is started that the
// request's context deadline would cut short: a request not sent yet fails
// at once, with an error wrapping ErrWaitTooLong or
// context.DeadlineExceeded that says what it would have waited for; a
// retry is given up and the last response returned. Each wait is reported
// to the WithOnWait function before it starts, and the total time waited
// comes back in the response's HeaderWaited field.
//
// Waiting happens on the caller's goroutine: the transport starts none.
type Transport struct {
	base   http.RoundTripper
	cfg    config
	quotas quotas
}

// Wrap returns a Transport that sends requests with base, pacing and
// retrying them as the options say; a nil base means
// http.DefaultTransport. It panics, as a programming error, when
// WithLimiter names a rule lim does not have or a nil lim, when
// WithMaxRetries or WithMaxWait is negative, or when WithJitter's fraction
// is not in [0, 1].
func Wrap(base http.RoundTripper, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, cfg: defaultConfig()}
	for _, o := range opts {
		o.apply(&t.cfg)
	}
	c := &t.cfg
	switch {
	case c.lim == nil && c.rule != "":
		panic("sluiceclient: WithLimiter with a nil Limiter")
	case c.lim != nil && !slices.ContainsFunc(c.lim.Rules(), func(r core.Rule) bool { return r.Name == c.rule }):
		panic(fmt.Sprintf("sluiceclient: WithLimiter: the Limiter has no rule named %q", c.rule))
	case c.maxRetries < 0:
		panic(fmt.Sprintf("sluiceclient: WithMaxRetries(%d) is negative", c.maxRetries))
	case c.maxWait < 0:
		panic(fmt.Sprintf("sluiceclient: WithMaxWait(%v) is negative", c.maxWait))
	case !(c.jitter >= 0 && c.jitter <= 1):
		panic(fmt.Sprintf("sluiceclient: WithJitter(%v) is not in [0, 1]", c.jitter))
	}
	return t
}

// Event is a wait of a Transport, as the WithOnWait function receives it
// before the wait starts.
type Event struct {
	// Request is the request that waits, as the caller gave it.
	Request *http.Request
	// Key is the request's key (see WithKey).
	Key string
	// Reason says what the request waits for:
	//
	//   - "limit": the rule of WithLimiter admits it after Delay;
	//   - "quota": a quota its key's responses reported is spent, or a
	//     response asked not to be called (Retry-After), until Delay has
	//     passed;
	//   - "probe": the request waits for a response to another request of
	//     its key, out to learn the key's limits or their latest count;
	//     Delay is the longest it waits for it;
	//   - "retry": the response to the request was refused for a rate
	//     limit (Status), and the request is sent again after Delay.
	Reason string
	// Delay is how long the request is about to wait, jitter included.
	Delay time.Duration
	// Attempt numbers the send the wait precedes: 1 for the first send,
	// 2 for the first retry, and so on.
	Attempt int
	// Status is the refused response's status code, for "retry"; 0
	// otherwise.
	Status int
}

type ctxKey struct{ name string }

var retryableKey = &ctxKey{"retryable"}

// Retryable returns a copy of ctx that marks the requests made with it as
// safe to send more than once, whatever their method: a POST the server
// deduplicates, say. The Transport retries such a request after a rate
// limit's refusal, provided its body can be sent again (Request.GetBody).
func Retryable(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryableKey, true)
}

// Waited returns how long the Transport waited before and between the
// sends of the request whose response resp is, from its HeaderWaited
// field: 0 when it did not wait, or when resp did not come through a
// Transport.
func Waited(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	s, err := strconv.ParseFloat(resp.Header.Get(HeaderWaited), 64)
	if err != nil || !(s > 0) || s > maxHeaderWait.Seconds()*1000 {
		return 0
	}
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// RoundTrip sends req, pacing it before each send and retrying it after a
// rate limit's refusal, as Transport describes. It returns an error without
// sending when the request cannot be sent in time (ErrWaitTooLong,
// context.DeadlineExceeded), when its context ends while it waits, and when
// the Limiter of WithLimiter fails closed; the errors of the base
// transport are returned as they are.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	key := t.cfg.key(req)
	if key == "" {
		key = hostKey(req)
	}
	retry := t.retryable(req)
	var waited time.Duration
	out := req
	for attempt := 1; ; attempt++ {
		w, err := t.pace(ctx, req, key, attempt)
		waited += w
		if err != nil {
			if out.Body != nil {
				out.Body.Close() // a RoundTripper closes the body, even on errors
			}
			return nil, err
		}
		resp, err := t.base.RoundTrip(out)
		if err != nil {
			resp = nil
		}
		wait, refused := t.quotas.done(key, t.cfg.clock.Now(), resp, fallback(attempt))
		if err != nil {
			return nil, err
		}
		if !refused || !retry || attempt > t.cfg.maxRetries {
			return t.finish(resp, waited), nil
		}
		delay := wait + t.jitter(wait)
		if t.check(ctx, key, "the server", delay) != nil {
			return t.finish(resp, waited), nil // the caller gets the refusal, with its Retry-After
		}
		next, err := rewind(req)
		if err != nil {
			return t.finish(resp, waited), nil
		}
		t.event(Event{Request: req, Key: key, Reason: "retry", Delay: delay, Attempt: attempt + 1, Status: resp.StatusCode})
		drain(resp)
		w, err = t.sleep(ctx, delay)
		waited += w
		if err != nil {
			if next.Body != nil {
				next.Body.Close()
			}
			return nil, err
		}
		out = next
	}
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it has such a method; http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// pace waits until a request of key may be sent: first for the Limiter of
// WithLimiter, then for the limits its key's responses reported. It
// returns how long it waited. When it returns no error, the request is
// counted as out: the caller sends it and reports the outcome to
// quotas.done.
func (t *Transport) pace(ctx context.Context, req *http.Request, key string, attempt int) (waited time.Duration, err error) {
	var d core.Decision
	if t.cfg.lim != nil {
		if d, waited, err = t.waitLimiter(ctx, req, key, attempt); err != nil {
			return waited, err
		}
	}
	for {
		a := t.quotas.admit(key, t.cfg.clock.Now())
		switch {
		case a.queue:
			bound := min(newsWait, t.cfg.maxWait)
			if dl, ok := ctx.Deadline(); ok {
				bound = min(bound, time.Until(dl)) // never a wait the deadline cuts short
			}
			qctx, wake := context.WithCancel(ctx)
			if !t.quotas.queue(key, wake) {
				wake()
				continue
			}
			t.event(Event{Request: req, Key: key, Reason: "probe", Delay: bound, Attempt: attempt})
			w, _ := t.sleep(qctx, bound)
			answered := qctx.Err() != nil // news woke it, or ctx ended
			wake()
			waited += w
			if ctx.Err() != nil {
				refund(ctx, &d)
				return waited, ctx.Err()
			}
			if !answered {
				t.quotas.send(key, t.cfg.clock.Now()) // the answers are slow: send without them
				return waited, nil
			}
		case a.wait > 0:
			delay := a.wait + t.jitter(a.wait)
			if err := t.check(ctx, key, "the server's quota", delay); err != nil {
				refund(ctx, &d)
				return waited, err
			}
			t.event(Event{Request: req, Key: key, Reason: "quota", Delay: delay, Attempt: attempt})
			w, err := t.sleep(ctx, delay)
			waited += w
			if err != nil {
				refund(ctx, &d)
				return waited, err
			}
		default:
			return waited, nil
		}
	}
}

// waitLimiter takes one unit of the WithLimiter rule for key, waiting while
// the rule denies it, as core.Limiter.Wait does, but within the transport's
// wait bounds and reporting each wait.
func (t *Transport) waitLimiter(ctx context.Context, req *http.Request, key string, attempt int) (core.Decision, time.Duration, error) {
	var waited time.Duration
	for {
		d, err := t.cfg.lim.Take(ctx, t.cfg.rule, key, 1)
		if err != nil {
			return d, waited, err
		}
		var wait time.Duration
		switch d.Outcome {
		case core.FailedClosed:
			return d, waited, fmt.Errorf("sluiceclient: rule %q: %w", t.cfg.rule, d.Err)
		case core.Delayed:
			wait = d.Delay
		case core.Denied:
			wait = max(d.RetryAfter, time.Millisecond) // a denial always names a wait; never spin
		default:
			return d, waited, nil
		}
		if err := t.check(ctx, key, fmt.Sprintf("rule %q", t.cfg.rule), wait); err != nil {
			refund(ctx, &d)
			return d, waited, err
		}
		t.event(Event{Request: req, Key: key, Reason: "limit", Delay: wait, Attempt: attempt})
		w, err := t.sleep(ctx, wait)
		waited += w
		if err != nil {
			refund(ctx, &d)
			return d, waited, err
		}
		if d.Outcome == core.Delayed {
			return d, waited, nil
		}
	}
}

// refund gives back the unit a Limiter's decision charged for a request
// that is not sent after all. Decisions that charged nothing ignore it; a
// failed refund leaves the unit charged, which errs on the safe side.
func refund(ctx context.Context, d *core.Decision) {
	_ = d.Settle(context.WithoutCancel(ctx), 0)
}

// check returns an error when a wait of d for what would be longer than
// WithMaxWait allows, or than what is left of ctx's deadline. The deadline
// is the context's, in real time, compared as the time left, so that a
// fake clock's waits are measured against what remains of it, as
// core.Limiter.Wait does.
func (t *Transport) check(ctx context.Context, key, what string, d time.Duration) error {
	if d > t.cfg.maxWait {
		return fmt.Errorf("sluiceclient: %s: %s asks to wait %v, more than WithMaxWait's %v: %w", key, what, d, t.cfg.maxWait, ErrWaitTooLong)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("sluiceclient: %s: %s asks to wait %v, which would outlast the context's deadline: %w", key, what, d, context.DeadlineExceeded)
	}
	return nil
}

// sleep waits d on the transport's clock and returns how long it waited.
func (t *Transport) sleep(ctx context.Context, d time.Duration) (time.Duration, error) {
	start := t.cfg.clock.Now()
	err := t.cfg.clock.Sleep(ctx, d)
	return max(t.cfg.clock.Now().Sub(start), 0), err
}

func (t *Transport) event(e Event) {
	if t.cfg.onWait != nil {
		t.cfg.onWait(e)
	}
}

// jitter returns a random duration in [0, d × the WithJitter fraction].
func (t *Transport) jitter(d time.Duration) time.Duration {
	n := int64(float64(d) * t.cfg.jitter)
	if n <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(n + 1))
}

// finish sets the HeaderWaited field of resp when the transport waited.
func (t *Transport) finish(resp *http.Response, waited time.Duration) *http.Response {
	if waited > 0 {
		if resp.Header == nil {
			resp.Header = make(http.Header)
		}
		resp.Header.Set(HeaderWaited, strconv.FormatFloat(waited.Seconds(), 'f', 3, 64))
	}
	return resp
}

// retryable reports whether req may be sent again (see Transport).
func (t *Transport) retryable(req *http.Request) bool {
	if t.cfg.maxRetries == 0 {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if req.Context().Value(retryableKey) != nil {
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// rewind returns a copy of req to send again, with a new body from GetBody.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// drain reads what is left of a response that is not returned, up to a
// limit, so that its connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// fallback is the wait before a retry when a refusal names none: 1s, then
// twice as long for each further attempt.
func fallback(attempt int) time.Duration {
	return time.Second << min(attempt-1, 16)
}
