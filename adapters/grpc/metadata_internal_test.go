package sluicegrpc

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"github.com/sluicehq/sluice/core/clock"
	"github.com/sluicehq/sluice/core/httpcontract"
	"google.golang.org/grpc/metadata"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TestSameValuesAsHTTP checks that the metadata values are exactly the
// HTTP contract's fields for the same decisions: two Limiters with the same
// rules on two fake clocks moved alike, one behind httpcontract, one asked
// directly.
func TestSameValuesAsHTTP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []core.Rule
		steps []time.Duration // advance before each request
	}{
		{"token bucket", []core.Rule{{Limits: []core.Limit{core.PerMinute(3)}}}, []time.Duration{0, 0, 0, 0, 1500 * time.Millisecond, 20 * time.Second}},
		{"multi-window", []core.Rule{{Name: "api", Algorithm: backend.FixedWindow,
			Limits: []core.Limit{core.PerSecond(2), {N: 1000, Per: 24 * time.Hour, Name: "daily"}}}}, []time.Duration{0, 0, 0, 300 * time.Millisecond, time.Second}},
		{"sliding log with an odd name", []core.Rule{{Name: `a"b\c` + "\u00e9", Algorithm: backend.SlidingLog,
			Limits: []core.Limit{{N: 2, Per: 90 * time.Second}}}}, []time.Duration{0, 0, 0, 45 * time.Second}},
		{"a name longer than the metadata block", []core.Rule{{Name: strings.Repeat("long-name-", 10),
			Limits: []core.Limit{core.PerMinute(3), core.PerHour(100)}}}, []time.Duration{0, time.Second}},
		{"concurrency", []core.Rule{{Name: "conc", Limits: []core.Limit{core.Concurrent(2)}}}, []time.Duration{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newLim := func() (*core.Limiter, clock.Fake) {
				clk := clock.NewFake(epoch)
				lim, err := core.New(core.WithClock(clk), core.WithRules(tc.rules...))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { lim.Close() })
				return lim, clk
			}
			httpLim, httpClock := newLim()
			grpcLim, grpcClock := newLim()
			mw := httpcontract.New(httpLim).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			var ps policies
			for i, adv := range tc.steps {
				httpClock.Advance(adv)
				grpcClock.Advance(adv)
				w := httptest.NewRecorder()
				req := httptest.NewRequest("POST", "/pkg.Svc/M", nil)
				mw.ServeHTTP(w, req)
				d, err := grpcLim.Decide(t.Context(), core.Request{Method: "POST", Path: "/pkg.Svc/M", RemoteAddr: req.RemoteAddr})
				if err != nil {
					t.Fatal(err)
				}
				d.Release() // as the HTTP request's ended before the next
				var got metadata.MD
				if d.Outcome == core.Denied {
					got = (&interceptor{}).trailer(&d, d.RetryAfter, true)
				} else {
					got = ps.headerMD(&d)
				}
				for _, k := range []string{"RateLimit", "RateLimit-Policy", "Retry-After"} {
					if want, g := w.Header().Values(k), got.Get(k); !slices.Equal(g, want) {
						t.Errorf("step %d (%s): %s = %q, want %q as HTTP sends it", i, d.Outcome, k, g, want)
					}
				}
			}
		})
	}
}

func TestIncomingHeader(t *testing.T) {
	md := metadata.MD{
		"x-forwarded-for": {"198.51.100.7", "203.0.113.1"},
		"authorization":   {"Bearer t"},
		"x-custom-thing":  {"v"},
	}
	h := &incomingHeader{metadata.NewIncomingContext(context.Background(), md)}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"X-Forwarded-For", []string{"198.51.100.7", "203.0.113.1"}},
		{"x-forwarded-for", []string{"198.51.100.7", "203.0.113.1"}},
		{"Authorization", []string{"Bearer t"}},
		{"X-Custom-Thing", []string{"v"}},
		{"X-Api-Key", nil},
	} {
		if got := h.Values(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("Values(%q) = %q, want %q", tc.name, got, tc.want)
		}
		want := ""
		if len(tc.want) > 0 {
			want = tc.want[0]
		}
		if got := h.Get(tc.name); got != want {
			t.Errorf("Get(%q) = %q, want %q", tc.name, got, want)
		}
	}
	// The lookup allocates only the copy grpc-go makes of the values, and
	// nothing for a key that is absent.
	if n := testing.AllocsPerRun(100, func() { h.Get("X-Forwarded-For") }); n > 1 {
		t.Errorf("Get of a canonical name: %v allocations, want at most 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { h.Get("X-Api-Key") }); n != 0 {
		t.Errorf("Get of an absent key: %v allocations, want 0", n)
	}
	empty := &incomingHeader{context.Background()}
	if got := empty.Get("X-Forwarded-For"); got != "" {
		t.Errorf("Get without metadata = %q, want \"\"", got)
	}
}

func TestAddrString(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 51234},
		&net.TCPAddr{IP: net.ParseIP("192.0.2.7").To4(), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"},
		&net.TCPAddr{IP: nil, Port: 80},
		&net.UnixAddr{Name: "/tmp/s.sock", Net: "unix"},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	if got := addrString(nil); got != "" {
		t.Errorf("addrString(nil) = %q, want \"\"", got)
	}
	if got := addrString(&net.UnixAddr{Net: "unix"}); got != "unix" {
		t.Errorf("addrString of an unnamed Unix peer = %q, want \"unix\"", got)
	}
}

func TestRounding(t *testing.T) {
	for _, tc := range []struct {
		d            time.Duration
		secs, millis int64
	}{
		{0, 0, 1},
		{time.Nanosecond, 1, 1},
		{999 * time.Microsecond, 1, 1},
		{time.Millisecond, 1, 1},
		{time.Millisecond + 1, 1, 2},
		{99500 * time.Microsecond, 1, 100},
		{time.Second, 1, 1000},
		{20 * time.Second, 20, 20000},
		{20*time.Second + 1, 21, 20001},
	} {
		if got := seconds(tc.d); got != tc.secs {
			t.Errorf("seconds(%v) = %d, want %d", tc.d, got, tc.secs)
		}
		if got := millis(tc.d); got != tc.millis {
			t.Errorf("millis(%v) = %d, want %d", tc.d, got, tc.millis)
		}
	}
}

func TestMatchMethod(t *testing.T) {
	patterns := []string{"/grpc.health.v1.Health/*", "/pkg.Svc/Exact", "/other.Svc*"}
	for method, want := range map[string]bool{
		"/grpc.health.v1.Health/Check":  true,
		"/grpc.health.v1.Health/Watch":  true,
		"/grpc.health.v1.HealthX/Check": false,
		"/pkg.Svc/Exact":                true,
		"/pkg.Svc/Exactly":              false,
		"/other.Svc/M":                  false, // "*" only after a "/"
		"/other.Svc*":                   true,
	} {
		if got := matchMethod(patterns, method); got != want {
			t.Errorf("matchMethod(%q) = %v, want %v", method, got, want)
		}
	}
}
