package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sluiceclient "github.com/sluicehq/sluice/client"
)

// clientRun is what one sluiceclient run against one adapter saw.
type clientRun struct {
	adapter  string
	surfaced []string // non-200 responses and errors that reached the caller
	wire     []result // every request the balancer passed on
	elapsed  time.Duration
	waits    map[string]int
	waited   time.Duration // the total of Sluice-Client-Waited
}

// Scenario 7: sluiceclient, the Go client that stays under a server's
// limits, against the example server of every adapter on the Cluster:
// clientCalls calls, clientCallers at a time, against a limit of
// clientLimit a second. No 429 reaches the caller, and fewer than 5 are
// sent on the wire: the client learns the limit from the draft-10
// RateLimit and RateLimit-Policy fields and waits for quota instead of
// being refused.
func scenarioSluiceClient(h *harness, sr *scenarioReport) {
	ins := append(append([]*instance{}, h.onCluster...), h.echo)
	runs := make([]clientRun, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { runs[i] = h.runClient(in) })
	}
	wg.Wait()
	for _, r := range runs {
		s := summarise(r.wire)
		sr.expectEq(fmt.Sprintf("%s: of %d calls against %d/s, non-200 responses and errors reaching the caller", r.adapter, clientCalls, clientLimit),
			"[]", fmt.Sprint(r.surfaced))
		sr.expect(s.denied < 5, fmt.Sprintf("%s: 429s on the wire", r.adapter), "fewer than 5",
			fmt.Sprintf("%d of %d requests sent, in %v", s.denied, s.requests, r.elapsed.Round(time.Millisecond)))
		// Pacing that waits far too long would pass the checks above: the
		// calls must go at no less than a third of the limit.
		sr.expect(r.elapsed < 3*clientCalls*time.Second/clientLimit, fmt.Sprintf("%s: time for %d calls", r.adapter, clientCalls),
			fmt.Sprintf("under %v (a third of the limit; %v at the limit)", 3*clientCalls*time.Second/clientLimit, clientCalls*time.Second/clientLimit),
			r.elapsed.Round(time.Millisecond).String())
		sr.note(fmt.Sprintf("%-17s %3d calls in %6v: %3d requests on the wire, %2d 429s on the wire, %d reached the caller; waits: %s; %v waited in all",
			r.adapter, clientCalls, r.elapsed.Round(time.Millisecond), s.requests, s.denied, len(r.surfaced),
			waitsSummary(r.waits), r.waited.Round(time.Millisecond)))
		sr.record(r.wire)
	}
}

// waitsSummary prints the waits by reason, as "probe 7, quota 36".
func waitsSummary(waits map[string]int) string {
	var out []string
	for _, reason := range []string{"limit", "probe", "quota", "retry"} {
		if n := waits[reason]; n > 0 {
			out = append(out, fmt.Sprintf("%s %d", reason, n))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// runClient makes clientCalls calls through a sluiceclient Transport of
// its own to a balancer in front of in alone, for one new client address.
func (h *harness) runClient(in *instance) clientRun {
	run := clientRun{adapter: in.name, waits: map[string]int{}}
	var blind func(*http.Response)
	if h.broken == "client-blind" {
		// The client never sees what the server said of its limits: only
		// refusals and their Retry-After hold it back.
		blind = func(r *http.Response) {
			r.Header.Del("RateLimit")
			r.Header.Del("RateLimit-Policy")
		}
	}
	lb := h.balancer([]*instance{in}, h.newIP(), blind)
	var mu sync.Mutex
	base := &http.Transport{MaxIdleConnsPerHost: clientCallers}
	defer base.CloseIdleConnections()
	c := &http.Client{Timeout: 2 * time.Minute, Transport: sluiceclient.Wrap(base,
		sluiceclient.WithOnWait(func(e sluiceclient.Event) {
			mu.Lock()
			run.waits[e.Reason]++
			mu.Unlock()
		}))}
	var next atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range clientCallers {
		wg.Go(func() {
			for next.Add(1) <= clientCalls {
				resp, err := c.Get(lb.URL + "/api/client/x")
				var problem string
				if err != nil {
					problem = err.Error()
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						problem = strconv.Itoa(resp.StatusCode)
					}
				}
				mu.Lock()
				if problem != "" {
					run.surfaced = append(run.surfaced, problem)
				}
				if resp != nil {
					run.waited += sluiceclient.Waited(resp)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(begin)
	lb.mu.Lock()
	run.wire = append(run.wire, lb.log...)
	lb.mu.Unlock()
	return run
}
