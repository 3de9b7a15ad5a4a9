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
)

// Watch starts reloading the Service's rules from its file (see Reload)
// whenever the file changes and whenever the process receives SIGHUP,
// until Close. It watches the file's directory with fsnotify, so that
// editors that replace the file and Kubernetes ConfigMap symlink swaps are
// seen, and waits for a burst of writes to end before it reloads. It
// fails for a Service built from the environment alone, and when called
// twice.
func (s *Service) Watch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("sluiceconfig: Watch: %w", core.ErrClosed)
	case s.path == "":
		return errors.New("sluiceconfig: Watch: the Service was built from the environment alone: no file to watch")
	case s.watcher != nil:
		return errors.New("sluiceconfig: Watch: already watching")
	}
	w, err := startWatcher(s.path, s.opts.debounce, func() { s.Reload() }, s.log())
	if err != nil {
		return err
	}
	s.watcher = w
	return nil
}

// Reload reloads the Service's file now, as a change of the file or SIGHUP
// does once Watch runs, and returns the reason it was rejected, or nil.
//
// Only the rules and the global shadow switch are reloadable: they are
// swapped in atomically with core.Limiter.SetRules, decisions in flight
// finish on the old rules, and the counters of every rule that keeps its
// name (or group) are kept, so changing a limit resets no one's usage. A
// reload that changes anything else (backend, identify, tiers, exempt,
// headers, failure, metrics, logging) is rejected with an error wrapping
// ErrRestartRequired, since the Limiter cannot change those while it
// runs; so is a file that does not load or validate (the error is Load's).
// A rejected reload leaves the running configuration in place.
//
// Every attempt is logged, a success at Info and a rejection at Error, to
// the logging section's logger, or to slog.Default() when logging is off;
// counted in sluice_config_reloads_total{result} when metrics are on; and
// reported to the WithReloadObserver functions.
func (s *Service) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("sluiceconfig: Reload: %w", core.ErrClosed)
	}
	err := s.reload()
	if err != nil {
		s.log().LogAttrs(context.Background(), slog.LevelError, "sluiceconfig: reload rejected; the running configuration stays",
			slog.String("path", s.path), slog.String("error", err.Error()))
	} else {
		s.log().LogAttrs(context.Background(), slog.LevelInfo, "sluiceconfig: configuration reloaded",
			slog.String("path", s.path), slog.Int("rules", len(s.current.Rules)))
	}
	if s.Metrics != nil {
		s.Metrics.ConfigReloaded(err)
	}
	for _, f := range s.opts.observers {
		f(err)
	}
	return err
}

func (s *Service) reload() error {
	next, err := Load(s.path)
	if err != nil {
		return err
	}
	if changed := restartOnly(s.current, next); len(changed) > 0 {
		return fmt.Errorf("%w: %s (only rules and shadow are reloadable)", ErrRestartRequired, strings.Join(changed, ", "))
	}
	var p problems
	if err := s.Limiter.SetRules(next.coreRules(&p)...); err != nil {
		return fmt.Errorf("sluiceconfig: %w", err)
	}
	s.current = next
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
		if key == "" || reloadable[key] {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, key)
		}
	}
	return out
}

// watcher calls reload when a file changes or the process receives SIGHUP.
// It does not use viper's WatchConfig, whose goroutine cannot be stopped.
type watcher struct {
	path     string
	real     string // path with symlinks resolved, as last seen
	debounce time.Duration
	reload   func()
	logger   *slog.Logger

	fsw  *fsnotify.Watcher
	sig  chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startWatcher(path string, debounce time.Duration, reload func(), logger *slog.Logger) (*watcher, error) {
	w := &watcher{
		path: filepath.Clean(path), debounce: debounce, reload: reload, logger: logger,
		sig: make(chan os.Signal, 1), done: make(chan struct{}),
	}
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

// close stops watching and waits for a reload in progress. It is
// idempotent.
func (w *watcher) close() error {
	var err error
	w.once.Do(func() {
		signal.Stop(w.sig)
		close(w.done)
		err = w.fsw.Close()
		w.wg.Wait()
	})
	return err
}

func (w *watcher) run() {
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
			w.logger.LogAttrs(context.Background(), slog.LevelError, "sluiceconfig: watching the configuration file failed",
				slog.String("path", w.path), slog.String("error", err.Error()))
		case <-w.sig:
			w.reload()
		case <-timer.C:
			w.reload()
		}
	}
}

// relevant reports whether ev may have changed the file: a write, create or
// rename of it, or any change that makes its symlinks resolve elsewhere.
func (w *watcher) relevant(ev fsnotify.Event) bool {
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
