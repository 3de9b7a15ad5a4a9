package sluiceconfig

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
)

// startRedis starts a redis-server of the test's own on a Unix socket in a
// temporary directory (no port to collide on) and returns the socket's
// path. A missing binary skips the test, unless CI=true.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed and CI=true forbids skipping: %v", err)
		}
		t.Skipf("redis-server is not installed: %v", err)
	}
	dir, err := os.MkdirTemp("", "sluice-redis-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not create its socket")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRedisReloadKeepsUsage(t *testing.T) {
	t.Parallel()
	sock := startRedis(t)
	file := func(limit int) string {
		return fmt.Sprintf("[backend]\ntype = \"redis\"\n[backend.redis]\nurl = \"unix://%s\"\nprefix = \"cfgtest:\"\n"+
			"[failure]\nmode = \"closed\"\ntimeout = \"2s\"\n"+
			"[[rules]]\nname = \"api\"\nalgorithm = \"sliding_log\"\nwindows = [\"%d/h\"]\n", sock, limit)
	}
	path := write(t, t.TempDir(), "sluice.toml", file(10))
	svc, err := New(path, WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	w, err := Watch(svc.Limiter, path, svc.Config, WithDebounce(10*time.Millisecond),
		WithWatchLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	decide := func() core.Decision {
		t.Helper()
		d, err := svc.Limiter.Decide(t.Context(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1"})
		if err != nil || d.Err != nil {
			t.Fatalf("Decide: %v, %v", err, d.Err)
		}
		return d
	}
	for range 5 {
		decide()
	}
	replace(t, path, file(8))
	waitFor(t, "limit 8", func() bool { return svc.Limiter.Rules()[0].Limits[0].N == 8 })
	if got, want := decide().Remaining, int64(2); got != want {
		t.Errorf("remaining = %d, want %d (usage kept in Redis)", got, want)
	}
}
