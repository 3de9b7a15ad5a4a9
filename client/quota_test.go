package sluiceclient

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestQuotaSteps drives one key's learned limits through admissions and
// answers at given times, step by step. An admission that neither waits
// nor queues counts the request as out until an answer.
func TestQuotaSteps(t *testing.T) {
	type step struct {
		at    time.Duration // since now
		admit bool          // ask to send; else an answer arrives
		// the answer: nil header means the request failed
		status int
		header http.Header
		// what admit must answer
		wantWait  time.Duration
		wantQueue bool
		// what done must answer
		wantRefused bool
	}
	draft := func(r, t string) http.Header {
		return http.Header{"Ratelimit": {`"api";r=` + r + `;t=` + t}, "Ratelimit-Policy": {`"api";q=3;w=2`}}
	}
	send := step{admit: true}
	queue := step{admit: true, wantQueue: true}
	tests := []struct {
		name  string
		steps []step
	}{
		{"probe, pace, wait for news, learn again at the reset", []step{
			send, // the probe
			queue,
			{status: 200, header: draft("2", "2")},
			send,
			send,
			queue, // none left by our count, but the server has not said so
			{status: 200, header: draft("1", "2")},
			{status: 200, header: draft("0", "2")},
			{admit: true, wantWait: 2 * time.Second},
			{at: time.Second, admit: true, wantWait: time.Second},
			{at: 2 * time.Second, admit: true}, // learned again: a probe
			{at: 2 * time.Second, admit: true, wantQueue: true},
			{at: 2 * time.Second, status: 200, header: draft("1", "1")},
			{at: 2 * time.Second, admit: true},
			{at: 2 * time.Second, admit: true, wantQueue: true},
			{at: 2 * time.Second, status: 200, header: draft("0", "1")},
			{at: 2 * time.Second, admit: true, wantWait: time.Second},
		}},
		{"the lowest report's reset counts, not the latest", []step{
			send,
			{status: 200, header: draft("2", "120")}, // t: when one more is back
			send,
			send,
			{status: 200, header: draft("0", "61")},
			{status: 200, header: draft("1", "120")}, // overtaken
			{admit: true, wantWait: 61 * time.Second},
		}},
		{"every answer in: believe the server", []step{
			send,
			{status: 200, header: draft("2", "10")},
			send,
			send,
			{}, // both failed: the server counted neither
			{},
			send,
			send,
			queue,
		}},
		{"lower counts win", []step{
			send,
			{status: 200, header: draft("2", "2")},
			send,
			{status: 200, header: draft("0", "3")}, // another client spent it
			{admit: true, wantWait: 3 * time.Second},
			{status: 200, header: draft("2", "1")}, // an old answer: ignored
			{admit: true, wantWait: 3 * time.Second},
		}},
		{"a new window counts what is out as spent", []step{
			send,
			{status: 200, header: http.Header{}}, // free
			send,
			send,
			send,
			{status: 200, header: draft("3", "5")}, // two more are out
			send,
			queue,
		}},
		{"a refusal blocks, then probes", []step{
			send,
			{status: 200, header: draft("2", "2")},
			send,
			{status: 429, header: http.Header{"Retry-After": {"5"}}, wantRefused: true},
			{admit: true, wantWait: 5 * time.Second},
			{at: 5 * time.Second, admit: true},
			{at: 5 * time.Second, admit: true, wantQueue: true},
		}},
		{"no fields: free", []step{
			send,
			{status: 200, header: http.Header{}},
			send,
			send,
			{status: 429, header: http.Header{}, wantRefused: true}, // no time named: 1s
			{admit: true, wantWait: time.Second},
		}},
		{"a GitHub 403 over the primary limit", []step{
			send,
			{status: 403, header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {fmt.Sprint(now.Unix() + 60)}}, wantRefused: true},
			{admit: true, wantWait: time.Minute},
		}},
		{"a 403 that is not a limit", []step{
			send,
			{status: 403, header: http.Header{"X-Ratelimit-Remaining": {"7"}, "X-Ratelimit-Reset": {"60"}}},
			send,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var qs quotas
			for i, s := range tt.steps {
				at := now.Add(s.at)
				if s.admit {
					a := qs.admit("k", at)
					if a.wait != s.wantWait || a.queue != s.wantQueue {
						t.Fatalf("step %d: admit = %+v, want wait %v queue %v", i, a, s.wantWait, s.wantQueue)
					}
					continue
				}
				var resp *http.Response
				if s.header != nil {
					resp = &http.Response{StatusCode: s.status, Header: s.header}
				}
				_, refused := qs.done("k", at, resp, time.Second)
				if refused != s.wantRefused {
					t.Fatalf("step %d: refused = %v, want %v", i, refused, s.wantRefused)
				}
			}
		})
	}
}

// TestQuotaSweep: a table of many keys forgets those it has nothing to say
// about, and keeps the others.
func TestQuotaSweep(t *testing.T) {
	var qs quotas
	for i := range 3 * minSweep {
		k := fmt.Sprint(i)
		qs.admit(k, now)
		qs.done(k, now, &http.Response{StatusCode: 200, Header: http.Header{"X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {"10"}}}, time.Second)
	}
	if got, want := len(qs.keys), 3*minSweep; got != want {
		t.Fatalf("%d keys, want %d: none has expired", got, want)
	}
	// The table has doubled twice; the next sweep comes at 4096 keys, by
	// when every key above has expired. The new keys have a probe out:
	// kept.
	later := now.Add(time.Minute)
	for i := range minSweep + 1 {
		qs.admit(fmt.Sprint("new", i), later)
	}
	if got, want := len(qs.keys), minSweep+1; got != want {
		t.Errorf("%d keys after the sweep, want %d", got, want)
	}
	if got, want := qs.nextSweep, 2*minSweep; got != want {
		t.Errorf("next sweep at %d keys, want %d", got, want)
	}
}

func TestHostKey(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://API.GitHub.com/repos", "api.github.com"},
		{"https://api.github.com:443/repos", "api.github.com"},
		{"http://example.com:80/", "example.com"},
		{"http://example.com:8080/", "example.com:8080"},
		{"https://example.com:80/", "example.com:80"},
		{"http://[::1]:80/", "[::1]"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest("GET", tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostKey(req); got != tt.want {
			t.Errorf("hostKey(%s) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
