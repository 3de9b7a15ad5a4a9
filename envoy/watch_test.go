package sluiceenvoy

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWatch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ratelimit.yaml")
	write := func(body string) {
		t.Helper()
		// As editors and ConfigMaps do: a new file renamed over the old.
		if err := os.WriteFile(path+".new", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	limit := func(n string) string {
		return "domains: [{domain: d, descriptors: [{key: k, limits: " + n + "/h, algorithm: fixed_window}]}]\n"
	}
	write(limit("1"))
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reloads []error
	s, _ := newServerFor(t, cfg, WithReloadHook(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reloads = append(reloads, err)
	}))
	if err := s.Watch(t.Context(), path, Load); err != nil {
		t.Fatal(err)
	}
	limitOf := func() uint32 {
		return call(t, s, request("d", desc("k", "v"))).GetStatuses()[0].GetCurrentLimit().GetRequestsPerUnit()
	}
	write(limit("7"))
	waitFor(t, func() bool { return limitOf() == 7 })

	write("domains: [{domain: d, descriptors: [{key: k, limits: 7/fortnight}]}]\n")
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reloads) > 0 && reloads[len(reloads)-1] != nil
	})
	mu.Lock()
	last := reloads[len(reloads)-1]
	mu.Unlock()
	if !strings.Contains(last.Error(), "domains[0].descriptors[0].limits[0]") {
		t.Errorf("the rejected reload's error lacks the path: %v", last)
	}
	if got := limitOf(); got != 7 {
		t.Fatalf("after a bad file the limit is %d, want the running 7", got)
	}
}
