package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis starts a redis-server of its own on a free loopback port,
// with persistence off, and returns its address; it is killed when tb
// ends. It never touches a Redis that is already running. Without
// redis-server the test or benchmark is skipped, unless CI is "true".
func startRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is not installed, and CI=true forbids skipping: %v", err)
		}
		tb.Skipf("redis-server is not installed: %v", err)
	}
	var last error
	for range 5 { // a port found free can be taken before the server binds it
		addr, err := startRedisOnce(tb, bin)
		if err == nil {
			return addr
		}
		last = err
	}
	tb.Fatalf("start redis-server: %v", last)
	return ""
}

func startRedisOnce(tb testing.TB, bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := tb.TempDir()
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--logfile", "redis.log",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() { cmd.Process.Kill(); <-exited }
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return "", fmt.Errorf("redis-server on port %d exited: %s", port, log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			// Make sure the server answering is this one, not another
			// process that took the port first.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			got, err := c.ConfigGet(ctx, "dir").Result()
			cancel()
			if err != nil || !sameDir(got["dir"], dir) {
				stop()
				return "", fmt.Errorf("port %d answers PING but is not the server started in %s (%v)", port, dir, err)
			}
			tb.Cleanup(stop)
			return addr, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server on port %d did not answer PING within 10s: %v", port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameDir reports whether two paths name the same directory.
func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// newRedisClient returns a client for addr with room for callers
// concurrent commands, closed when tb ends.
func newRedisClient(tb testing.TB, addr string, callers int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		PoolSize:              max(callers, 10*runtime.GOMAXPROCS(0)),
		ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { c.Close() })
	return c
}
