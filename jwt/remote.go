package sluicejwt

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core/clock"
)

const (
	defaultJWKSRefresh    = time.Hour
	defaultJWKSMinRefresh = time.Minute
	defaultJWKSTimeout    = 10 * time.Second
	// maxJWKSSize bounds a fetched key set: real ones are a few KiB.
	maxJWKSSize = 1 << 20
)

// remote is a key set fetched from a URL (Keys.JWKSURL) and refreshed.
//
// Nothing runs in the background between fetches: a fetch starts when a
// token needs it (the first set, a set older than every, an unknown key
// ID) and ends with its HTTP request, so a Verifier needs no Close. At
// most one fetch is in flight, and two start at least minGap apart;
// callers that need a fetch's result wait for the one in flight. A failed
// fetch keeps the last good set.
type remote struct {
	url    string
	client *http.Client
	every  time.Duration
	minGap time.Duration

	// Set by New.
	clk     clock.Clock
	logger  *slog.Logger
	changed func() // called, under mu, when a fetch replaced the keys with different ones

	mu        sync.Mutex
	keys      []key
	digest    [sha256.Size]byte // of the document the keys came from
	fetchedAt time.Time         // when the fetch of keys started; zero before the first success
	triedAt   time.Time         // when the last fetch started; zero before the first
	inflight  chan struct{}     // closed when the fetch in flight ends; nil when none is
	fetches   int               // fetches started, for tests
}

func newRemote(k Keys) (*remote, error) {
	if err := checkJWKSURL(k.JWKSURL); err != nil {
		return nil, err
	}
	r := &remote{url: k.JWKSURL, client: k.HTTPClient, every: k.JWKSRefresh, minGap: k.JWKSMinRefresh}
	if r.client == nil {
		r.client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	switch {
	case r.every < 0 || r.minGap < 0:
		return nil, fmt.Errorf("JWKS URL %s: refresh intervals must not be negative", k.JWKSURL)
	case r.every == 0:
		r.every = defaultJWKSRefresh
	}
	if r.minGap == 0 {
		r.minGap = min(defaultJWKSMinRefresh, r.every)
	}
	return r, nil
}

// checkJWKSURL accepts https URLs, and http ones to a loopback host only.
func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("JWKS URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("JWKS URL %q: no host", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("JWKS URL %q: want https (http only to a loopback address): whoever can change the key set can sign tokens", s)
}

// current returns the keys. Before the first successful fetch it starts
// one (unless one started less than minGap ago) and waits for it, or for
// ctx; when the keys are older than every, it starts a fetch in the
// background and returns the keys it has.
func (r *remote) current(ctx context.Context) []key {
	r.mu.Lock()
	now := r.clk.Now()
	if r.fetchedAt.IsZero() {
		done := r.startLocked(now)
		r.mu.Unlock()
		return r.await(ctx, done)
	}
	if !now.Before(r.fetchedAt.Add(r.every)) {
		r.startLocked(now)
	}
	keys := r.keys
	r.mu.Unlock()
	return keys
}

// refresh fetches the set again, for a token whose key ID it lacks, unless
// a fetch started less than minGap ago, and returns the keys it then has.
// It waits for the fetch in flight, or for ctx.
func (r *remote) refresh(ctx context.Context) []key {
	r.mu.Lock()
	done := r.startLocked(r.clk.Now())
	r.mu.Unlock()
	return r.await(ctx, done)
}

func (r *remote) await(ctx context.Context, done <-chan struct{}) []key {
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys
}

// startLocked starts a fetch and returns a channel closed when it ends: a
// new fetch, the one in flight, or nil when the last one started less
// than minGap ago. r.mu is held.
func (r *remote) startLocked(now time.Time) <-chan struct{} {
	if r.inflight != nil {
		return r.inflight
	}
	if !r.triedAt.IsZero() && now.Before(r.triedAt.Add(r.minGap)) {
		return nil
	}
	r.triedAt = now
	r.fetches++
	done := make(chan struct{})
	r.inflight = done
	go r.fetch(now, done)
	return done
}

// fetch gets the set and, when it holds a usable key, makes it current.
func (r *remote) fetch(started time.Time, done chan struct{}) {
	keys, digest, err := r.get()
	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(done)
	r.inflight = nil
	if err != nil {
		attrs := []slog.Attr{slog.String("url", r.url), slog.String("error", err.Error())}
		if r.fetchedAt.IsZero() {
			attrs = append(attrs, slog.String("keys", "none yet: tokens are not verified until a fetch succeeds"))
		} else {
			attrs = append(attrs, slog.Duration("keys_age", r.clk.Now().Sub(r.fetchedAt)))
		}
		r.logger.LogAttrs(context.Background(), slog.LevelWarn, "sluicejwt: JWKS fetch failed; the last good key set stays", attrs...)
		return
	}
	if !r.fetchedAt.IsZero() && digest != r.digest && r.changed != nil {
		r.changed()
	}
	r.keys, r.digest, r.fetchedAt = keys, digest, started
}

// get fetches and parses the set.
func (r *remote) get() ([]key, [sha256.Size]byte, error) {
	var digest [sha256.Size]byte
	ctx, cancel := context.WithTimeout(context.Background(), defaultJWKSTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, digest, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, digest, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, digest, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, digest, err
	}
	if len(body) > maxJWKSSize {
		return nil, digest, errors.New("key set larger than 1 MiB")
	}
	keys, err := parseJWKS(body, true)
	if err != nil {
		return nil, digest, err
	}
	return keys, sha256.Sum256(body), nil
}
