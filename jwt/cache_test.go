package sluicejwt

import (
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

func TestCacheIsBounded(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(64)
	for i := range 10_000 {
		c.put("token-"+strconv.Itoa(i), core.Identity{Kind: core.KindUser, Value: strconv.Itoa(i)}, now, now.Add(time.Hour))
	}
	if n := c.len(); n > 64 || n < 16 {
		t.Errorf("cache holds %d entries, want between 16 and 64", n)
	}
	// Expired entries make room first.
	c = newCache(16)
	c.put("old", core.Identity{Value: "old"}, now, now.Add(time.Second))
	c.put("older", core.Identity{Value: "older"}, now, now.Add(time.Second))
	later := now.Add(time.Minute)
	for i := range 16 {
		c.put("new-"+strconv.Itoa(i), core.Identity{Value: "new"}, later, later.Add(time.Hour))
	}
	for _, k := range []string{"old", "older"} {
		if _, ok := c.get(k, later); ok {
			t.Errorf("expired entry %q served", k)
		}
	}
	if _, ok := c.get("x", now); ok {
		t.Error("unknown token served")
	}
	c.put("past", core.Identity{}, now, now) // already expired: not kept
	if _, ok := c.get("past", now); ok {
		t.Error("an expired token was cached")
	}
	if newCache(0) != nil {
		t.Error("newCache(0) is not disabled")
	}
}
