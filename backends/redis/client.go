package sluiceredis

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the part of a go-redis client the backend uses: every command
// goes through Process. *redis.Client (standalone, or the Sentinel failover
// client from redis.NewFailoverClient), *redis.ClusterClient, *redis.Ring
// and redis.UniversalClient all implement it.
type Client interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// newStandalone returns a backend on a new client for one Redis server (or
// a primary with replicas that the application does not fail over).
// ContextTimeoutEnabled is always set, so that a decision's context
// deadline bounds its round trip, and DialerRetryTimeout is 5ms unless set
// (see dialerRetryBackoff). [Backend.Close] closes the client.
func newStandalone(o *redis.Options, opts ...Option) *Backend {
	c := *o
	c.ContextTimeoutEnabled = true
	c.DialerRetryTimeout = cmp.Or(c.DialerRetryTimeout, dialerRetryBackoff)
	return newOwned(redis.NewClient(&c), opts)
}

// dialerRetryBackoff is the DialerRetryTimeout of the go-redis clients
// this package builds: the wait between its (5) attempts to dial. go-redis
// waits 100ms by default, longer than a decision's timeout (50ms by
// default), so a Redis that refuses connections would cost each decision
// its whole timeout and reach the Limiter's circuit breaker as a timeout
// rather than as the refusal that opens it at once. At 5ms the attempts
// end within 20ms with the refusal.
const dialerRetryBackoff = 5 * time.Millisecond

// newFailover returns a backend on a new Sentinel-managed client, which
// finds the current primary of o.MasterName through o.SentinelAddrs and
// follows failovers; ContextTimeoutEnabled is always set.
func newFailover(o *redis.FailoverOptions, opts ...Option) *Backend {
	c := *o
	c.ContextTimeoutEnabled = true
	c.DialerRetryTimeout = cmp.Or(c.DialerRetryTimeout, dialerRetryBackoff)
	return newOwned(redis.NewFailoverClient(&c), opts)
}

// newCluster returns a backend on a new Redis Cluster client. o.Addrs
// needs only some of the nodes; the client discovers the rest and follows
// slot moves. ContextTimeoutEnabled is always set. Unless set,
// ClusterStateReloadInterval is one second rather than go-redis's minute:
// the scripts are never retried, so a primary that died (and only refuses
// connections) triggers no MOVED reply, and only the periodic reload finds
// its promoted replica.
func newCluster(o *redis.ClusterOptions, opts ...Option) *Backend {
	c := *o
	c.ContextTimeoutEnabled = true
	c.DialerRetryTimeout = cmp.Or(c.DialerRetryTimeout, dialerRetryBackoff)
	if c.ClusterStateReloadInterval == 0 {
		c.ClusterStateReloadInterval = time.Second
	}
	return newOwned(redis.NewClusterClient(&c), opts)
}

// NewFromURL returns a backend on a new client configured by a URL. The
// scheme selects the deployment; the rest is go-redis's URL syntax, whose
// query parameters set the pool and timeouts (pool_size, dial_timeout,
// read_timeout, write_timeout, pool_timeout, ...):
//
//	redis://user:pass@host:6379/0?pool_size=50     one server
//	rediss://host:6380/0                           one server over TLS
//	unix:///run/redis.sock?db=0                    one server over a Unix socket
//	redis+sentinel://sentinel1:26379,sentinel2:26379?master_name=mymaster
//	                                               Sentinel, following failovers
//	redis+cluster://node1:6379,node2:6379          Cluster (the nodes are seeds)
//
// Sentinel and Cluster URLs list their seed addresses separated by commas,
// or, as go-redis writes them, one in the host and the others in addr
// query parameters (redis+cluster://node1:6379?addr=node2:6379).
//
// The scheme is explicit on purpose: redis.NewUniversalClient, by contrast,
// silently builds a Cluster client whenever it is given two or more
// addresses. rediss+sentinel and rediss+cluster use TLS. [Backend.Close]
// closes the client.
func NewFromURL(url string, opts ...Option) (*Backend, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("sluiceredis: URL %q has no scheme", redactURL(url))
	}
	base, kind, _ := strings.Cut(scheme, "+")
	if kind != "" {
		var err error
		if rest, err = commaHosts(rest); err != nil {
			return nil, fmt.Errorf("sluiceredis: URL %q: %w", redactURL(url), err)
		}
	}
	switch kind {
	case "":
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("sluiceredis: %w", err)
		}
		return newStandalone(o, opts...), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(base + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("sluiceredis: %w", err)
		}
		return newFailover(o, opts...), nil
	case "cluster":
		o, err := redis.ParseClusterURL(base + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("sluiceredis: %w", err)
		}
		return newCluster(o, opts...), nil
	}
	return nil, fmt.Errorf("sluiceredis: unknown URL scheme %q (want redis, rediss, unix, redis+sentinel or redis+cluster)", scheme)
}

// commaHosts rewrites "host1,host2,host3/path?q" (after the scheme) into
// go-redis's "host1/path?q&addr=host2&addr=host3". An empty address in the
// list is an error: go-redis would put localhost:6379 in its place.
func commaHosts(rest string) (string, error) {
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	at := strings.LastIndexByte(authority, '@') + 1
	hosts := strings.Split(authority[at:], ",")
	if len(hosts) < 2 {
		return rest, nil
	}
	extra := make([]string, 0, len(hosts)-1)
	for i, h := range hosts {
		if h == "" {
			return "", fmt.Errorf("seed address %d of %d is empty", i+1, len(hosts))
		}
		if i > 0 {
			extra = append(extra, "addr="+url.QueryEscape(h))
		}
	}
	sep := "&"
	if !strings.Contains(tail, "?") {
		sep = "?"
	}
	return authority[:at] + hosts[0] + tail + sep + strings.Join(extra, "&"), nil
}

// redactURL drops the user information of a URL for error messages.
func redactURL(url string) string {
	if at := strings.LastIndexByte(url, '@'); at >= 0 {
		return "…@" + url[at+1:]
	}
	return url
}

// newOwned returns a backend that closes its client on Close.
func newOwned(c interface {
	Client
	io.Closer
}, opts []Option) *Backend {
	b := New(c, opts...)
	b.closer = c
	return b
}
