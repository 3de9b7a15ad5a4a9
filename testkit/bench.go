package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/clock"
)

// BenchmarkAdapter measures what an adapter adds to its framework: the same
// GET through the bare router ("bare") and through the router with the
// adapter installed ("limited"), allowed, on the in-memory token bucket, with
// every rate-limit header written. The limiter runs on a fake clock, so the
// measurement excludes reading the system clock (about 25-60 ns). Subtract the first from the second.
// bare builds the router without the adapter.
func BenchmarkAdapter(b *testing.B, newAdapter AdapterFactory, bare func(routes []Route) http.Handler) {
	routes := []Route{{Method: http.MethodGet, Pattern: "/hello", Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}}}
	// 100/s, with the clock moving 10ms per request: always allowed, with
	// header values of realistic length.
	clk := clock.NewFake(Epoch)
	lim, err := core.New(core.WithDefault(core.PerSecond(100)), core.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lim.Close() })
	t := &testing.T{} // factories take a *testing.T for cleanups they do not need here
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", bare(routes)},
		{"limited", newAdapter(t, lim, routes)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clk.Advance(10 * time.Millisecond)
				clear(w.h)
				w.status = 0
				bc.h.ServeHTTP(w, req)
			}
			if w.status != 0 && w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}

// discardWriter is a reusable ResponseWriter that keeps headers and drops
// the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
