package sluiceredis

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// script is one Lua script: scripts/lib.lua followed by one algorithm's
// file, run with EVALSHA and loaded with EVAL when the server does not know
// it (NOSCRIPT, after a restart, a failover or SCRIPT FLUSH).
type script struct {
	name string
	src  string
	sha  string
}

func loadScript(name string) *script {
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		panic("sluiceredis: " + err.Error())
	}
	body, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("sluiceredis: " + err.Error())
	}
	src := string(lib) + "\n" + string(body)
	sum := sha1.Sum([]byte(src))
	return &script{name: name, src: src, sha: hex.EncodeToString(sum[:])}
}

// scripts holds one script per algorithm, indexed by backend.Algorithm, and
// the concurrency release script.
var (
	scripts = [...]*script{
		backend.TokenBucket:   loadScript("token_bucket"),
		backend.SlidingLog:    loadScript("sliding_log"),
		backend.SlidingWindow: loadScript("sliding_window"),
		backend.FixedWindow:   loadScript("fixed_window"),
		backend.Concurrency:   loadScript("concurrency"),
	}
	releaseScript = loadScript("release")
)

// noRetryCmd is a command go-redis must never retry. go-redis retries a
// command whose connection failed after it was sent (io.EOF, a reset, a
// read timeout without a context deadline): the script may already have
// run, and running it again would charge twice. Cmder.NoRetry is honoured
// by Client, ClusterClient (which still follows MOVED and ASK, sent before
// the script ran) and Ring, whatever the client's MaxRetries.
type noRetryCmd struct{ *redis.Cmd }

func (noRetryCmd) NoRetry() bool { return true }

// run executes s with EVALSHA, falling back to EVAL on NOSCRIPT. args
// follow the keys. The command is never retried by go-redis; run itself
// sends it again only on TRYAGAIN, which a Cluster node answers without
// running the script while a slot migration has split its keys.
func (s *script) run(ctx context.Context, c Client, keys []string, args []any) (any, error) {
	buf := make([]any, 0, 3+len(keys)+len(args))
	buf = append(buf, "evalsha", s.sha, len(keys))
	for _, k := range keys {
		buf = append(buf, k)
	}
	buf = append(buf, args...)
	for try := 0; ; try++ {
		cmd := redis.NewCmd(ctx, buf...)
		err := c.Process(ctx, noRetryCmd{cmd})
		switch {
		case err == nil:
			return cmd.Val(), nil
		case isNoScript(err) && buf[0] == "evalsha":
			buf[0], buf[1] = "eval", s.src
		case isTryAgain(err) && try < maxTryAgain:
			t := time.NewTimer(tryAgainWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, err
			case <-t.C:
			}
		default:
			return nil, err
		}
	}
}

// A slot migration moves a client's keys in MIGRATE batches; while they
// are split, a script on them gets TRYAGAIN and did not run. It is sent
// again every tryAgainWait, at most maxTryAgain times and never past the
// context's deadline.
const (
	tryAgainWait = 2 * time.Millisecond
	maxTryAgain  = 50
)

func isTryAgain(err error) bool { return redis.HasErrorPrefix(err, "TRYAGAIN") }

func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
