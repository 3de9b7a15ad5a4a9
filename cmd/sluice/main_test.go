package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sluiceconfig "github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/testkit/redistest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the output the commands give now")

// sluice runs the command line through run, which main calls, and returns
// its stdout, stderr and exit code as one text.
func sluice(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return fmt.Sprintf("$ sluice %s\n%s", strings.Join(args, " "), stdout.String()) +
		fmt.Sprintf("--- stderr\n%s--- exit %d\n", stderr.String(), code)
}

// golden compares got with testdata/NAME.golden, or rewrites the file
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// token is a JWT the test policy verifies: alice, tier enterprise,
// expiring in 2100.
func token(t *testing.T, secret string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"sub": "alice", "tier": "enterprise", "iss": "https://id.example.com", "exp": 4102444800})
	signed := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestCommands(t *testing.T) {
	const api = "testdata/api.toml"
	good := token(t, "test-secret-of-at-least-32-bytes!")
	forged := token(t, "another-secret-of-at-least-32-bytes")
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"help", "", []string{"--help"}},
		{"check-help", "", []string{"check", "--help"}},
		{"explain-help", "", []string{"explain", "--help"}},
		{"peek-help", "", []string{"peek", "--help"}},
		{"reset-help", "", []string{"reset", "--help"}},
		{"unblock-help", "", []string{"unblock", "--help"}},
		{"no-command", "", []string{"frobnicate"}},
		{"check-no-file", "", []string{"check"}},
		{"check", "", []string{"check", api}},
		{"check-json", "", []string{"check", "--json", api}},
		{"check-invalid", "", []string{"check", "testdata/invalid.toml"}},
		{"check-invalid-json", "", []string{"check", "--json", "testdata/invalid.toml"}},
		{"check-missing", "", []string{"check", "testdata/missing.toml"}},
		{"explain-proxy", "", []string{"explain", api, "--method", "POST", "--path", "/login", "--remote", "10.0.0.5:5000", "--header", "X-Forwarded-For: 198.51.100.1, 203.0.113.7"}},
		{"explain-spoofed", "", []string{"explain", api, "--method", "POST", "--path", "/login", "--remote", "203.0.113.9:5000", "--header", "X-Forwarded-For: 192.0.2.250"}},
		{"explain-apikey", "", []string{"explain", api, "--path", "/api/items/7", "--remote", "203.0.113.9:5000", "--header", "X-API-Key: k-premium"}},
		{"explain-token", "", []string{"explain", api, "--path", "/api/items", "--remote", "203.0.113.9:5000", "--token", good}},
		{"explain-forged-token", "", []string{"explain", api, "--path", "/api/items", "--remote", "203.0.113.9:5000", "--token", forged}},
		{"explain-exempt-ip", "", []string{"explain", api, "--path", "/api/items", "--remote", "10.0.0.5:1", "--header", "X-Forwarded-For: 192.0.2.250"}},
		{"explain-health-json", "", []string{"explain", "--json", api, "--path", "/healthz", "--remote", "203.0.113.9:1"}},
		{"explain-no-remote", "", []string{"explain", api, "--path", "/"}},
		{"explain-bad-header", "", []string{"explain", api, "--remote", "203.0.113.9:1", "--header", "no colon"}},
		{"peek-no-client", "", []string{"peek", api}},
		{"peek-key-and-request", "", []string{"peek", api, "--key", "203.0.113.9", "--remote", "203.0.113.9:1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name, sluice(t, c.stdin, c.args...))
		})
	}
}

// TestLive runs peek, reset and unblock against a real redis-server that
// a service built from the same file has denied and blocked a client in.
func TestLive(t *testing.T) {
	srv := redistest.Start(t)
	policy, err := os.ReadFile("testdata/api.toml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "live.toml")
	conf := fmt.Sprintf("[backend]\ntype = \"redis\"\n[backend.redis]\nurl = \"redis://%s/0\"\n\n%s", srv.Addr, policy)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	svc, err := sluiceconfig.New(file)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	decide := func(method, path, addr string) core.Decision {
		t.Helper()
		d, err := svc.Limiter.Decide(t.Context(), core.Request{Method: method, Path: path, RemoteAddr: addr})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for range 7 { // 5 allowed, then 2 denials: blocked for 10 minutes
		decide("POST", "/login", "203.0.113.7:1")
	}
	for range 3 {
		decide("GET", "/other", "203.0.113.7:1")
	}
	if d := decide("POST", "/login", "203.0.113.7:1"); !d.Blocked {
		t.Fatalf("the client is not blocked: %+v", d)
	}

	var out strings.Builder
	step := func(stdin string, args ...string) {
		t.Helper()
		out.WriteString(strings.ReplaceAll(sluice(t, stdin, append(args[:1:1], append([]string{file}, args[1:]...)...)...), file, "live.toml"))
		out.WriteString("\n")
	}
	step("", "peek", "--key", "203.0.113.7")
	step("", "peek", "--rule", "login", "--remote", "10.0.0.5:1", "--header", "X-Forwarded-For: 203.0.113.7")
	step("n\n", "unblock", "--key", "203.0.113.7")
	step("", "unblock", "--key", "203.0.113.7") // no answer at all
	step("y\n", "unblock", "--key", "203.0.113.7")
	step("", "unblock", "--key", "203.0.113.7", "--yes")
	step("", "peek", "--key", "203.0.113.7", "--rule", "login")
	step("", "reset", "--key", "203.0.113.7", "--rule", "default", "--yes")
	step("", "peek", "--key", "203.0.113.7")
	step("", "peek", "--key", "203.0.113.7", "--rule", "nope")
	golden(t, "live", strings.ReplaceAll(out.String(), srv.Addr, "REDIS"))

	// The service sees the unblock in Redis. (Its deny cache still holds
	// the limit's last denial, until that denial's own Retry-After; a Peek
	// asks Redis.)
	if d, err := svc.Limiter.Peek(t.Context(), core.Request{Method: "POST", Path: "/login", RemoteAddr: "203.0.113.7:1"}); err != nil || d.Outcome != core.Allowed || d.Blocked {
		t.Errorf("the service after the unblock: %v (blocked %v), %v; want allowed", d.Outcome, d.Blocked, err)
	}
	// --json prints the admin API's answer.
	js := sluice(t, "", "peek", "--json", file, "--key", "203.0.113.7", "--rule", "default")
	var ans struct {
		Client struct{ Kind, Key string }
		Rules  []struct {
			Rule    string
			Windows []struct{ Remaining int64 }
		}
	}
	if err := json.Unmarshal([]byte(js[strings.Index(js, "\n")+1:strings.Index(js, "--- stderr")]), &ans); err != nil {
		t.Fatalf("peek --json: %v in %s", err, js)
	}
	if ans.Client.Key != "203.0.113.7" || len(ans.Rules) != 1 || ans.Rules[0].Windows[0].Remaining != 60 {
		t.Errorf("peek --json after the reset: %+v, want 60 left in default", ans)
	}
}
