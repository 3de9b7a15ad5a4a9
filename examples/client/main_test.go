package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun is the program's smoke test: 15 calls, 3 at a time, to a
// Sluice-protected server that admits 10 a second, on real time (about a
// second). Every call succeeds, no 429 is sent on the wire, and the
// report says so.
func TestRun(t *testing.T) {
	lim, err := core.New(core.WithDefault(core.PerSecond(10)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	var refused atomic.Int64
	limited := sluicehttp.Middleware(lim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		limited.ServeHTTP(rec, r)
		if rec.Code == http.StatusTooManyRequests {
			refused.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-url", srv.URL, "-n", "15", "-c", "3", "-v"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	t.Logf("%s%s", out.String(), errOut.String())
	if !strings.Contains(out.String(), "    15  200 OK\n") {
		t.Errorf("report:\n%s\nwant 15 × 200 OK", out.String())
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("%d 429s on the wire, want 0", n)
	}
	if !strings.Contains(errOut.String(), "reason=quota") {
		t.Errorf("-v logged no wait for the quota:\n%s", errOut.String())
	}
}

func TestRunFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{}, {"-url", "http://x", "-n", "0"}, {"-bogus"}} {
		if err := run(t.Context(), args, &out, &errOut); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
