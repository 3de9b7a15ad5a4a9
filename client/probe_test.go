package sluiceclient_test

import (
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	sluiceclient "github.com/sluicehq/sluice/client"
)

// held is a handler whose first request waits for release before it
// answers; every response reports a quota of 10 a second.
type held struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHeld() *held { return &held{arrived: make(chan struct{}), release: make(chan struct{})} }

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.arrived)
		<-h.release
	}
	w.Header().Set("RateLimit-Policy", `"api";q=10;w=1`)
	w.Header().Set("RateLimit", `"api";r=9;t=1`)
}

// TestProbe: while a key's limits are unknown, its first request goes out
// alone, and the others wait for its response, then go.
func TestProbe(t *testing.T) {
	for _, slow := range []bool{false, true} {
		name := "answered"
		if slow {
			name = "slower than 2s"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			h := newHeld()
			srv := serve(t, clk, h)
			var mu sync.Mutex
			var events []sluiceclient.Event
			client := &http.Client{Transport: sluiceclient.Wrap(srv.Client().Transport, sluiceclient.WithClock(clk),
				sluiceclient.WithOnWait(func(e sluiceclient.Event) {
					mu.Lock()
					events = append(events, e)
					mu.Unlock()
				}))}
			defer client.CloseIdleConnections()
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := get(t, client, srv.URL); err != nil {
					t.Error(err)
				}
			})
			<-h.arrived
			for range 3 {
				wg.Go(func() {
					if _, err := get(t, client, srv.URL); err != nil {
						t.Error(err)
					}
				})
			}
			for clk.Sleepers() < 3 {
				runtime.Gosched()
			}
			if got := srv.total(); got != 0 {
				t.Errorf("%d requests answered while the probe is out", got)
			}
			if slow {
				clk.Advance(2 * time.Second)
				for srv.total() < 3 { // the three went without the probe's answer
					runtime.Gosched()
				}
			}
			close(h.release)
			wg.Wait()
			if got := srv.total(); got != 4 {
				t.Errorf("%d requests answered, want 4", got)
			}
			if len(events) != 3 {
				t.Fatalf("events = %+v, want 3", events)
			}
			for _, e := range events {
				if e.Reason != "probe" || e.Delay != 2*time.Second || e.Attempt != 1 {
					t.Errorf("event %+v, want a probe wait of at most 2s", e)
				}
			}
		})
	}
}
