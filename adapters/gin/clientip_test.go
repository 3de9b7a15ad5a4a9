package sluicegin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
)

// TestFrameworkClientIP checks whose counter a request behind gin's
// trusted proxy charges: the proxy's by default (Sluice trusts no proxy
// unless its identifier says so), and the client gin resolved with
// WithFrameworkClientIP.
func TestFrameworkClientIP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []httpcontract.Option
		separate bool // two clients behind one proxy get counters of their own
	}{
		{"default: the peer", nil, false},
		{"WithFrameworkClientIP: gin's ClientIP", []httpcontract.Option{httpcontract.WithFrameworkClientIP()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, err := core.New(core.WithDefault(core.PerMinute(1)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lim.Close() })
			r := gin.New()
			if err := r.SetTrustedProxies([]string{"192.0.2.0/24"}); err != nil {
				t.Fatal(err)
			}
			r.Use(sluicegin.Middleware(lim, tc.opts...))
			r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) })
			get := func(client string) int {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = "192.0.2.10:4000" // the proxy
				req.Header.Set("X-Forwarded-For", client)
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
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
