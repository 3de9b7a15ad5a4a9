package sluiceconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/core/memory"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// Option adjusts how New builds a Service.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	reg       prometheus.Registerer
	core      []core.Option
	observers []func(error)

	// For tests: where the logging section's logger writes (os.Stderr),
	// and how long the watcher waits after a change (defaultDebounce).
	logOutput io.Writer
	debounce  time.Duration
}

// defaultDebounce is how long the watcher waits after the last change to
// the file before it reloads, so that an editor's burst of writes is one
// reload.
const defaultDebounce = 100 * time.Millisecond

// WithRegisterer registers the metrics, when the file turns them on
// (metrics.enabled), with reg. The default is prometheus.DefaultRegisterer.
func WithRegisterer(reg prometheus.Registerer) Option {
	return optionFunc(func(o *options) { o.reg = reg })
}

// WithCoreOptions adds options that a file cannot express, such as a
// clock or an identifier of your own; they apply after the file's, so they
// override it (core.WithIdentifier replaces the identify section and the
// exemptions of clients, core.WithLogger the logging section's logger for
// the Limiter). The default adds none.
func WithCoreOptions(opts ...core.Option) Option {
	return optionFunc(func(o *options) { o.core = append(o.core, opts...) })
}

// WithReloadObserver calls f after every reload attempt of the Service
// (Service.Reload, a change of its file, SIGHUP) with its error, nil on
// success, for metrics or alerts of your own. It may be given several
// times. f runs while the reload holds the Service: it must not call the
// Service's Reload or Close. The default is none: the Service logs every attempt, and counts
// it in sluice_config_reloads_total when the file turns metrics on,
// without an observer.
func WithReloadObserver(f func(error)) Option {
	return optionFunc(func(o *options) { o.observers = append(o.observers, f) })
}

// Service is a Limiter built from a configuration file, with what goes
// with it. Create one with New and Close it when done. Its methods are
// safe for concurrent use.
type Service struct {
	// Limiter is ready to use: pass it to an adapter with HTTP.
	Limiter *core.Limiter
	// HTTP are the adapter options of the headers section; every adapter
	// takes them (their Option is httpcontract.Option).
	HTTP []httpcontract.Option
	// Metrics is the Prometheus collector, nil unless metrics.enabled.
	// The Limiter reports to it, and the Service counts its reloads in it.
	Metrics *sluiceprom.Metrics
	// Config is the configuration the Service was built from. Reloads do
	// not change it: Limiter.Rules returns the rules in force.
	Config *Config

	path    string
	opts    options
	logger  *slog.Logger    // the logging section's; nil when it is off
	backend backend.Backend // the backend built for the file; nil for the Limiter's own
	closers []io.Closer     // closed after the Limiter, in order

	mu      sync.Mutex // serializes reloads and Close; guards what follows
	current *Config
	watcher *watcher
	closed  bool
}

// New loads the file at path (see Load for the format, the environment
// overrides and the errors) and builds a Service from it: backend,
// identification, rules, failure handling, metrics and logging. It
// connects to nothing: the Limiter's first decision does. Close the
// Service when done.
func New(path string, opts ...Option) (*Service, error) {
	o := options{reg: prometheus.DefaultRegisterer, logOutput: os.Stderr, debounce: defaultDebounce}
	for _, opt := range opts {
		opt.apply(&o)
	}
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	return build(c, path, o)
}

func build(c *Config, path string, o options) (*Service, error) {
	s := &Service{Config: c, path: path, opts: o, current: c, HTTP: c.Headers.options()}
	s.logger = c.Logging.logger(o.logOutput)
	if c.Metrics.Enabled {
		m, err := sluiceprom.New(o.reg)
		if err != nil {
			return nil, fmt.Errorf("sluiceconfig: metrics: %w", err)
		}
		s.Metrics = m
	}
	// A Service that fails to build leaves nothing registered or open.
	fail := func(err error) (*Service, error) {
		s.closeAll()
		if s.Metrics != nil {
			s.Metrics.Unregister(o.reg)
		}
		return nil, err
	}
	copts, err := s.coreOptions(c)
	if err != nil {
		return fail(err)
	}
	lim, err := core.New(append(copts, o.core...)...)
	if err != nil {
		return fail(fmt.Errorf("sluiceconfig: %w", err))
	}
	s.Limiter = lim
	return s, nil
}

// coreOptions returns the core options of c, and builds its backend.
func (s *Service) coreOptions(c *Config) ([]core.Option, error) {
	var p problems
	opts := []core.Option{core.WithRules(c.coreRules(&p)...)}
	opts = append(opts, c.tierOptions()...)
	id, err := c.identifier(&p, s.log())
	if err != nil {
		return nil, fmt.Errorf("sluiceconfig: %w", err)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	opts = append(opts, core.WithIdentifier(id), core.WithFailure(c.Failure.core(&p)))
	if s.logger != nil {
		opts = append(opts, core.WithLogger(s.logger))
	}
	if s.Metrics != nil {
		opts = append(opts, core.WithObserver(s.Metrics))
	}
	switch b := &c.Backend; {
	case b.Type == "redis":
		rb, closers, err := b.Redis.backend()
		if err != nil {
			return nil, fmt.Errorf("sluiceconfig: backend.redis: %w", err)
		}
		s.backend, s.closers = rb, closers
	case b.Memory.MaxKeys != 0:
		mb := memory.New(memory.WithMaxKeys(b.Memory.MaxKeys))
		s.backend, s.closers = mb, []io.Closer{mb}
	}
	if s.backend != nil {
		opts = append(opts, core.WithBackend(s.backend))
	}
	return opts, nil
}

// log returns the logger of the Service's own messages (reloads, key set
// fetches): the logging section's, or slog.Default() when it is off.
func (s *Service) log() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}

// options returns the httpcontract options of the section.
func (h *headersConfig) options() []httpcontract.Option {
	var opts []httpcontract.Option
	if h.Send != nil {
		var set httpcontract.Headers
		for _, s := range *h.Send {
			switch s {
			case "draft10":
				set |= httpcontract.HeadersDraft10
			case "triple":
				set |= httpcontract.HeadersTriple
			case "x":
				set |= httpcontract.HeadersX
			case "x_unix":
				set |= httpcontract.HeadersXUnix
			}
		}
		opts = append(opts, httpcontract.WithHeaders(set))
	}
	if h.ProblemType != "" {
		opts = append(opts, httpcontract.WithProblemType(h.ProblemType))
	}
	if h.Shadow {
		opts = append(opts, httpcontract.WithShadowHeaders(true))
	}
	if d, _ := time.ParseDuration(h.UnavailableRetryAfter); d > 0 {
		opts = append(opts, httpcontract.WithUnavailableRetryAfter(d))
	}
	return opts
}

// Close stops watching the file (see Watch), closes the Limiter, and then
// the backend built for it. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	w := s.watcher
	s.mu.Unlock()
	var err error
	if w != nil {
		err = w.close() // waits for a reload in progress, which takes s.mu
	}
	err = errors.Join(err, s.Limiter.Close())
	return errors.Join(err, s.closeAll())
}

func (s *Service) closeAll() error {
	var err error
	for _, c := range s.closers {
		err = errors.Join(err, c.Close())
	}
	s.closers = nil
	return err
}

// Ping checks that the backend the file configures answers, for readiness
// probes: a Redis backend is sent a PING; the in-memory backend always
// answers.
func (s *Service) Ping(ctx context.Context) error {
	if r, ok := s.backend.(backend.Remote); ok {
		if err := r.Ping(ctx); err != nil {
			return fmt.Errorf("sluiceconfig: ping %s: %w", r.Name(), err)
		}
	}
	return nil
}
