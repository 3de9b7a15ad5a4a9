package grpctest_test

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/testkit/grpctest"
)

// The tests in this file prove that RunInterceptorSuite can fail: each
// broken interceptor below breaks one rule of the gRPC contract (one switch
// of ref), and the suite must report it in the subtest that checks that
// rule, for the reason that rule gives, while subtests about other rules
// still pass.
//
// As testkit's TestBrokenAdapters does, TestBrokenInterceptors re-executes
// this test binary once per broken interceptor, running only
// TestBrokenInterceptorHelper, and only the subtests it checks, with
// brokenEnv naming the interceptor.

// brokenEnv names the broken interceptor TestBrokenInterceptorHelper runs
// the suite on.
const brokenEnv = "SLUICE_GRPCTEST_BROKEN_INTERCEPTOR"

var broken = []struct {
	name string
	ref  ref
	fail string
	msg  string // in the failing subtest's output
	pass []string
}{
	{
		name: "headers-not-trailers",
		ref:  ref{headersNotTrailers: true},
		fail: "deny-is-trailers-only",
		msg:  "not trailers-only, so gRPC's retry policy will not retry it",
		pass: []string{"deny-details", "exempt-rule", "delay", "no-rule-matches"},
	},
	{
		name: "pushback-rounds-down",
		ref:  ref{pushbackRoundsDown: true},
		fail: "pushback-rounds-up",
		msg:  `trailer grpc-retry-pushback-ms = "99", want "100"`,
		pass: []string{"allow-then-deny", "deny-details", "multi-window", "deny-is-trailers-only"},
	},
	{
		name: "no-release-on-panic",
		ref:  ref{noReleaseOnPanic: true},
		fail: "concurrency-release-on-panic",
		msg:  "its slot was not released",
		pass: []string{"concurrency-release", "allow-then-deny", "exempt-rule"},
	},
	{
		name: "leaks-error",
		ref:  ref{leaksError: true},
		fail: "fail-closed",
		msg:  "leaks the error",
		pass: []string{"allow-then-deny", "fail-open", "shadow"},
	},
	{
		name: "limits-health",
		ref:  ref{limitsHealth: true},
		fail: "exempt-health-and-reflection",
		msg:  `health check: header ratelimit = "\"default\";r=0;t=60", want ""`,
		pass: []string{"allow-then-deny", "exempt-rule", "exempt-methods-replaced", "no-rule-matches"},
	},
	{
		name: "path-is-method-only",
		ref:  ref{pathIsMethodOnly: true},
		fail: "rules-by-method",
		msg:  "Path must be the full method name",
		pass: []string{"allow-then-deny", "exempt-health-and-reflection", "multi-window"},
	},
	{
		name: "ignores-deadline",
		ref:  ref{ignoresDeadline: true},
		fail: "delay-past-deadline",
		msg:  "a delay the deadline cuts short must not be waited",
		pass: []string{"delay", "delay-canceled", "allow-then-deny"},
	},
	{
		name: "no-refund",
		ref:  ref{noRefund: true},
		fail: "delay-canceled",
		msg:  "its charge was not refunded",
		pass: []string{"delay", "delay-past-deadline", "allow-then-deny"},
	},
	{
		name: "no-details",
		ref:  ref{noDetails: true},
		fail: "deny-details",
		msg:  "no RetryInfo detail",
		pass: []string{"allow-then-deny", "deny-is-trailers-only", "delay"},
	},
	{
		name: "first-metadata-value-only",
		ref:  ref{firstValueOnly: true},
		fail: "client-behind-trusted-proxy",
		msg:  "client A on a second metadata value: code OK",
		pass: []string{"allow-then-deny", "api-key-metadata", "forwarded-from-untrusted-peer"},
	},
	{
		name: "ignores-messages",
		ref:  ref{ignoresMessages: true},
		fail: "message-limit",
		msg:  "third message: code OK",
		pass: []string{"stream-open-limit", "stream-concurrency-release", "allow-then-deny"},
	},
	{
		name: "streams-unlimited",
		ref:  ref{streamsUnlimited: true},
		fail: "stream-open-limit",
		msg:  "third stream: code OK",
		pass: []string{"allow-then-deny", "delay", "concurrency-release"},
	},
}

// TestBrokenInterceptorHelper runs the suite on the broken interceptor
// named by brokenEnv. It does nothing when brokenEnv is unset: it is meant
// to run only as TestBrokenInterceptors's subprocess.
func TestBrokenInterceptorHelper(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		return
	}
	for _, b := range broken {
		if b.name == name {
			grpctest.RunInterceptorSuite(t, b.ref.factory)
			return
		}
	}
	t.Fatalf("%s=%q: no such broken interceptor", brokenEnv, name)
}

// verdictLine matches a subtest's verdict in -test.v output.
var verdictLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): TestBrokenInterceptorHelper/(\S+) \(`)

func TestBrokenInterceptors(t *testing.T) {
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			subtests := append([]string{b.fail}, b.pass...)
			quoted := make([]string, len(subtests))
			for i, s := range subtests {
				quoted[i] = regexp.QuoteMeta(s)
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0],
				"-test.run=^TestBrokenInterceptorHelper$/^("+strings.Join(quoted, "|")+")$",
				"-test.v", "-test.count=1", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), brokenEnv+"="+b.name)
			out, err := cmd.CombinedOutput()
			output := string(out)

			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Errorf("the suite passed an interceptor that %s; it must fail", b.name)
			case !errors.As(err, &exit):
				t.Fatalf("running %s: %v", os.Args[0], err)
			}
			if strings.Contains(output, "panic: ") {
				t.Errorf("the subprocess panicked or timed out instead of failing cleanly")
			}
			verdicts := map[string]string{}
			for _, m := range verdictLine.FindAllStringSubmatch(output, -1) {
				verdicts[m[2]] = m[1]
			}
			if got := verdicts[b.fail]; got != "FAIL" {
				t.Errorf("subtest %s: %s, want FAIL", b.fail, verdictText(got))
			} else if !strings.Contains(output, b.msg) {
				t.Errorf("subtest %s failed, but not with %q", b.fail, b.msg)
			}
			for _, name := range b.pass {
				if got := verdicts[name]; got != "PASS" {
					t.Errorf("subtest %s: %s, want PASS (the failure must be specific)", name, verdictText(got))
				}
			}
			if t.Failed() {
				t.Logf("subprocess output:\n%s", output)
			}
		})
	}
}

func verdictText(v string) string {
	if v == "" {
		return "did not run"
	}
	return v
}
