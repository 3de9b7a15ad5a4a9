package examples_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
)

// TestRetryableClientHonoursRetryAfter sends a burst twice the limit through
// a go-retryablehttp client, as docs/clients.md recommends: every request
// succeeds in the end, no 429 reaches the caller, and no retry goes out
// before the server's Retry-After allowed it.
func TestRetryableClientHonoursRetryAfter(t *testing.T) {
	lim, err := core.New(core.WithDefault(core.PerSecond(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	var mu sync.Mutex
	var notBefore time.Time // when the last 429 said a retry may come
	var early int
	handler := sluicehttp.Middleware(lim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if time.Now().Before(notBefore) {
			early++
		}
		mu.Unlock()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		if rec.Code == http.StatusTooManyRequests {
			var secs int
			fmt.Sscan(rec.Header().Get("Retry-After"), &secs)
			mu.Lock()
			notBefore = time.Now().Add(time.Duration(secs) * time.Second)
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()

	client := retryablehttp.NewClient()
	client.Logger = nil
	client.RetryMax = 5
	client.RetryWaitMax = 3 * time.Second // Retry-After wins over the backoff on 429
	for i := range 4 {                    // the limit admits 2 at once, then 2 per second
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d reached the caller", i, resp.StatusCode)
		}
	}
	if early > 0 {
		t.Errorf("%d requests came before Retry-After allowed them", early)
	}
}
