package sluiceenvoy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long Watch waits after the last change before it
// reloads, so that an editor's burst of writes is one reload.
const debounce = 100 * time.Millisecond

// Watch reloads the configuration whenever the file or directory at path
// changes, with load ([Load] or [Import]), until ctx ends. A configuration
// that does not load or validate is logged (see [WithLogger]) and the
// running one stays; every attempt is reported to the reload hook (see
// [WithReloadHook]). It watches path's directory, and path itself when it
// is a directory, so that editors that replace the file and Kubernetes'
// ConfigMap symlink swaps are seen. Watch returns once watching has
// started, or with the error that prevents it.
func (s *Server) Watch(ctx context.Context, path string, load func(string) (*Config, error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("sluiceenvoy: watch: %w", err)
	}
	dirs := []string{filepath.Dir(filepath.Clean(path))}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		dirs = append(dirs, path)
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return fmt.Errorf("sluiceenvoy: watch %s: %w", d, err)
		}
	}
	go s.watch(ctx, w, path, load)
	return nil
}

func (s *Server) watch(ctx context.Context, w *fsnotify.Watcher, path string, load func(string) (*Config, error)) {
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Error("sluiceenvoy: watching the configuration", "path", path, "error", err)
		case <-timer.C:
			s.reload(path, load)
		}
	}
}

// reload loads the configuration at path and applies it.
func (s *Server) reload(path string, load func(string) (*Config, error)) {
	cfg, err := load(path)
	if err == nil {
		err = s.SetConfig(cfg)
	}
	if s.onReload != nil {
		s.onReload(err)
	}
	if err != nil {
		s.log.Error("sluiceenvoy: configuration rejected; the running one stays", "path", path, "error", err)
		return
	}
	s.log.Info("sluiceenvoy: configuration reloaded", "path", path)
}
