package sluiceredis

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicehq/sluice/core/backend"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// script is one Lua script: the prelude of scripts/lib.lua, the sections
// of it that one algorithm's file uses, then that file. It is run with
// EVALSHA and loaded with EVAL when the server does not know it (NOSCRIPT,
// after a restart, a failover or SCRIPT FLUSH).
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
	src := compose(string(lib), string(body))
	sum := sha1.Sum([]byte(src))
	return &script{name: name, src: src, sha: hex.EncodeToString(sum[:])}
}

// compose returns the script of body on lib: lib's prelude (the text before
// its first "--@" line), the sections of lib that body uses, in lib's
// order, and body. A section runs from a line "--@ name..." to the next
// one and is used when the code of body, or of a later section that is
// used, contains one of its names as a word (comments do not count).
// Redis runs the whole script on every call, and a function it defines
// costs an allocation each time, so a script carries only what it calls.
func compose(lib, body string) string {
	type section struct {
		names []string
		text  string
	}
	var prelude string
	var secs []section
	for i, part := range strings.Split("\n"+lib, "\n--@") {
		if i == 0 {
			prelude = strings.TrimPrefix(part, "\n")
			continue
		}
		header, text, _ := strings.Cut(part, "\n")
		secs = append(secs, section{strings.Fields(header), text})
	}
	comment := regexp.MustCompile(`--[^\n]*`)
	used := make([]bool, len(secs))
	need := comment.ReplaceAllString(body, "")
	for i := len(secs) - 1; i >= 0; i-- {
		for _, n := range secs[i].names {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(n) + `\b`).MatchString(need) {
				used[i] = true
				need += comment.ReplaceAllString(secs[i].text, "")
				break
			}
		}
	}
	var b strings.Builder
	line := func(s string) { // every piece ends its last line
		b.WriteString(s)
		if s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	line(prelude)
	for i, s := range secs {
		if used[i] {
			line(s.text)
		}
	}
	b.WriteString(body)
	return b.String()
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
	// settleScripts settle a charge, indexed by backend.Algorithm; nil
	// where Settle needs no script of its own.
	settleScripts = [...]*script{
		backend.TokenBucket:   loadScript("settle_token_bucket"),
		backend.SlidingWindow: loadScript("settle_sliding_window"),
		backend.FixedWindow:   loadScript("settle_fixed_window"),
		backend.Concurrency:   nil,
	}
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
//
// Unless bt is nil, the first EVALSHA goes through bt, alone or pipelined
// with other calls' scripts. A NOSCRIPT or TRYAGAIN reply is then handled
// the same way, with the command sent again on its own: the first is rare
// (once per script after a restart, a failover or SCRIPT FLUSH), and a
// TRYAGAIN wait must not hold up a whole batch.
func (s *script) run(ctx context.Context, c Client, bt *batcher, keys []string, args []any) (any, error) {
	buf := make([]any, 0, 3+len(keys)+len(args))
	buf = append(buf, "evalsha", s.sha, len(keys))
	for _, k := range keys {
		buf = append(buf, k)
	}
	buf = append(buf, args...)
	cmd := redis.NewCmd(ctx, buf...)
	var err error
	if bt != nil {
		err = bt.do(ctx, cmd)
	} else {
		err = c.Process(ctx, noRetryCmd{cmd})
	}
	moving := false // a TRYAGAIN said the key's slot is moving
	for try := 0; ; try++ {
		switch {
		case err == nil:
			return cmd.Val(), nil
		case isNoScript(err) && buf[0] == "evalsha":
			buf = append([]any{"eval", s.src}, buf[2:]...)
		case isTryAgain(err) && try < maxTryAgain:
			moving = true
			t := time.NewTimer(tryAgainWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w: %w", backend.ErrKeyUnavailable, err)
			case <-t.C:
			}
		case isTryAgain(err) || moving:
			// Out of tries, or out of time while sending the script again:
			// this key is moving, the cluster is not failing.
			return nil, fmt.Errorf("%w: %w", backend.ErrKeyUnavailable, err)
		default:
			return nil, err
		}
		cmd = redis.NewCmd(ctx, buf...)
		err = c.Process(ctx, noRetryCmd{cmd})
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
