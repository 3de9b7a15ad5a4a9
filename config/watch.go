package sluiceconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sluicehq/sluice/core"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

// ErrRestartRequired is wrapped by the error of a reload that changes a
// setting only a restart can apply (see [Watcher]).
var ErrRestartRequired = errors.New("sluiceconfig: setting changed that needs a restart")

// DefaultDebounce is how long the Watcher waits after the last write to the
// file before it reloads, so an editor's burst of writes is one reload.
const DefaultDebounce = 100 * time.Millisecond

// Watcher reloads a Limiter's rules when its configuration file changes or
// the process receives SIGHUP.
//
// Only the rules and the global shadow switch are reloadable: they are
// swapped in atomically with core.Limiter.SetRules, decisions in flight
// finish on the old rules, and the counters of every rule that keeps its
// name (or group) are kept, so changing a limit resets no one's usage. A
// reload that changes anything else (backend, identify, tiers, exempt,
// headers, failure, metrics, logging) is rejected with ErrRestartRequired,
// since the Limiter cannot change those while running. A file that does
// not load or validate is rejected too. A rejected reload leaves the
// running configuration in place.
//
// Every reload attempt, from a file change or SIGHUP, is logged (see
// WithWatchLogger) and reported to the reload hook (see WithReloadHook).
// When the Limiter reports to a sluiceprom.Metrics, as a Service built
// with metrics.enabled does, the attempt is counted there, in
// sluice_config_reloads_total: no hook is needed for that.
//
// The Watcher watches the file's directory with fsnotify, so that editors
// that replace the file and Kubernetes ConfigMap symlink swaps are seen.
// It does not use viper's WatchConfig, whose goroutine cannot be stopped.
type Watcher struct {
	lim      *core.Limiter
	path     string
	real     string // path with symlinks resolved, as last seen
	debounce time.Duration
	logger   *slog.Logger
	hook     func(error)
	metrics  *sluiceprom.Metrics // the Limiter's observer, if it is one

	mu      sync.Mutex // serializes reloads and guards current
	current *Config

	fsw  *fsnotify.Watcher
	sig  chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// WithReloadHook calls f after every reload attempt with its error, nil on
// success. A Limiter that reports to a sluiceprom.Metrics has its reloads
// counted there without a hook: a hook that calls Metrics.ConfigReloaded
// too counts each reload twice.
func WithReloadHook(f func(error)) WatchOption { return func(w *Watcher) { w.hook = f } }

// WithWatchLogger logs every reload attempt to l: a success at Info, a
// rejection at Error. The default is the Limiter's logger (core.WithLogger,
// which a Service passes when its file's logging section is on, or which
// WithCoreOptions may set); with none, and no l, nothing is logged.
func WithWatchLogger(l *slog.Logger) WatchOption { return func(w *Watcher) { w.logger = l } }

// WithDebounce sets how long to wait after the last change before
// reloading; the default is DefaultDebounce.
func WithDebounce(d time.Duration) WatchOption { return func(w *Watcher) { w.debounce = d } }

// Watch starts reloading lim's rules from the file at path, which lim was
// built from with running. Close the Watcher before the Limiter.
func Watch(lim *core.Limiter, path string, running *Config, opts ...WatchOption) (*Watcher, error) {
	if lim == nil || running == nil {
		return nil, errors.New("sluiceconfig: Watch needs the Limiter and the Config it was built from")
	}
	w := &Watcher{
		lim: lim, path: filepath.Clean(path), current: running,
		debounce: DefaultDebounce, hook: func(error) {},
		sig: make(chan os.Signal, 1), done: make(chan struct{}),
	}
	for _, o := range opts {
		o(w)
	}
	if w.hook == nil {
		w.hook = func(error) {}
	}
	if w.logger == nil {
		w.logger = lim.Logger()
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	w.metrics, _ = lim.Observer().(*sluiceprom.Metrics)
	w.real, _ = filepath.EvalSymlinks(w.path)
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("sluiceconfig: watch: %w", err)
	}
	if err := fsw.Add(filepath.Dir(w.path)); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("sluiceconfig: watch %s: %w", path, err)
	}
	w.fsw = fsw
	notifyHUP(w.sig)
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// Config returns the running configuration.
func (w *Watcher) Config() *Config {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Close stops watching and waits for a reload in progress. It is
// idempotent.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		signal.Stop(w.sig)
		close(w.done)
		err = w.fsw.Close()
		w.wg.Wait()
	})
	return err
}

func (w *Watcher) run() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				timer.Reset(w.debounce)
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.logger.LogAttrs(context.Background(), slog.LevelError, "sluice: config watch error", slog.String("error", err.Error()))
		case <-w.sig:
			w.Reload()
		case <-timer.C:
			w.Reload()
		}
	}
}

// relevant reports whether ev may have changed the file: a write, create or
// rename of it, or any change that makes its symlinks resolve elsewhere.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if filepath.Clean(ev.Name) == w.path {
		return true
	}
	real, _ := filepath.EvalSymlinks(w.path)
	if real != "" && real != w.real {
		w.real = real
		return true
	}
	return false
}

// Reload reloads the file now, as a change or SIGHUP does, and returns the
// reason it was rejected, or nil.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.reload()
	if err != nil {
		w.logger.LogAttrs(context.Background(), slog.LevelError, "sluice: config reload rejected; the running config stays",
			slog.String("path", w.path), slog.String("error", err.Error()))
	} else {
		w.logger.LogAttrs(context.Background(), slog.LevelInfo, "sluice: config reloaded",
			slog.String("path", w.path), slog.Int("rules", len(w.current.Rules)))
	}
	w.count(err)
	return err
}

// count reports a reload attempt to the hook and counts it in the
// Limiter's metrics.
func (w *Watcher) count(err error) {
	w.hook(err)
	if w.metrics != nil {
		w.metrics.ConfigReloaded(err)
	}
}

func (w *Watcher) reload() error {
	next, err := Load(w.path)
	if err != nil {
		return err
	}
	if changed := restartOnly(w.current, next); len(changed) > 0 {
		return fmt.Errorf("%w: %s (only rules and shadow are reloadable)", ErrRestartRequired, strings.Join(changed, ", "))
	}
	if err := w.lim.SetRules(next.CoreRules()...); err != nil {
		return err
	}
	w.current = next
	return nil
}

// reloadable are the top-level keys a reload may change.
var reloadable = map[string]bool{"rules": true, "shadow": true}

// restartOnly returns the top-level keys that differ between a and b and
// are not reloadable.
func restartOnly(a, b *Config) []string {
	var out []string
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("mapstructure")
		if reloadable[key] {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, key)
		}
	}
	return out
}
