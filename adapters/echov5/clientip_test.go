package sluiceechov5_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// TestFrameworkClientIP checks whose counter a request behind echo's
// trusted proxy charges: the proxy's by default (Sluice trusts no proxy
// unless its identifier says so), and the client echo's IPExtractor
// resolved with WithFrameworkClientIP.
func TestFrameworkClientIP(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("192.0.2.0/24")
	for _, tc := range []struct {
		name     string
		opts     []httpcontract.Option
		separate bool // two clients behind one proxy get counters of their own
	}{
		{"default: the peer", nil, false},
		{"WithFrameworkClientIP: echo's RealIP", []httpcontract.Option{httpcontract.WithFrameworkClientIP()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, err := core.New(core.WithDefault(core.PerMinute(1)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lim.Close() })
			e := echo.New()
			e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustIPRange(proxies))
			e.Use(sluiceechov5.Middleware(lim, tc.opts...))
			e.GET("/", func(c *echo.Context) error { return c.String(http.StatusOK, c.RealIP()) })
			get := func(client string) int {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = "192.0.2.10:4000" // the proxy
				req.Header.Set("X-Forwarded-For", client)
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req)
				return w.Code
			}
			if code := get("203.0.113.1"); code != http.StatusOK {
				t.Fatalf("first client: %d, want 200", code)
			}
			want := http.StatusTooManyRequests
			if tc.separate {
				want = http.StatusOK
			}
			if code := get("203.0.113.2"); code != want {
				t.Errorf("second client behind the same proxy: %d, want %d", code, want)
			}
			if code := get("203.0.113.1"); code != http.StatusTooManyRequests {
				t.Errorf("first client again: %d, want 429", code)
			}
		})
	}
}
