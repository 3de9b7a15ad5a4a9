package sluiceconfig

import (
	"crypto/tls"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
	sluiceredis "github.com/sluicehq/sluice/backends/redis"
)

// backend builds the Redis backend the section describes. It connects to
// nothing: the first decision does. The closers are to be closed after
// the Limiter: the backend, and the client built for it.
func (r *redisConfig) backend() (*sluiceredis.Backend, []io.Closer, error) {
	var opts []sluiceredis.Option
	if r.Prefix != "" {
		opts = append(opts, sluiceredis.WithPrefix(r.Prefix))
	}
	if r.Batching != nil {
		opts = append(opts, sluiceredis.WithBatching(*r.Batching))
	}
	if r.CallerClock {
		opts = append(opts, sluiceredis.WithCallerClock())
	}
	if r.URL != "" {
		b, err := sluiceredis.NewFromURL(r.URL, opts...)
		if err != nil {
			return nil, nil, err
		}
		return b, []io.Closer{b}, nil
	}
	c := r.client()
	return sluiceredis.New(c, opts...), []io.Closer{c}, nil
}

// client returns a go-redis client for the connection fields. Every one
// has ContextTimeoutEnabled, so that the Limiter's timeout bounds each
// round trip, 5ms between dial attempts (see sluiceredis.New), and a
// Cluster client reloads its slot map
// every second, as sluiceredis.NewFromURL's does: the scripts are never
// retried, so only that reload finds the replica promoted in place of a
// dead primary.
func (r *redisConfig) client() redis.UniversalClient {
	dur := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	var tlsConf *tls.Config
	if r.TLS {
		// The server name is each dialed address's host.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch r.Mode {
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: r.MasterName, SentinelAddrs: r.Addrs, SentinelPassword: r.SentinelPassword,
			Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: tlsConf,
			PoolSize: r.PoolSize, DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout),
			WriteTimeout: dur(r.WriteTimeout), PoolTimeout: dur(r.PoolTimeout), ContextTimeoutEnabled: true,
			DialerRetryTimeout: 5 * time.Millisecond,
		})
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.Addrs, Username: r.Username, Password: r.Password, TLSConfig: tlsConf,
			PoolSize: r.PoolSize, DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout),
			WriteTimeout: dur(r.WriteTimeout), PoolTimeout: dur(r.PoolTimeout), ContextTimeoutEnabled: true,
			ClusterStateReloadInterval: time.Second, DialerRetryTimeout: 5 * time.Millisecond,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr: r.Addr, Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: tlsConf,
		PoolSize: r.PoolSize, DialTimeout: dur(r.DialTimeout), ReadTimeout: dur(r.ReadTimeout),
		WriteTimeout: dur(r.WriteTimeout), PoolTimeout: dur(r.PoolTimeout), ContextTimeoutEnabled: true,
		DialerRetryTimeout: 5 * time.Millisecond,
	})
}
