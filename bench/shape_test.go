package bench

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/core"
)

// oldName returns the i-th client key of the old shape, an IPv4 address.
func oldName(i int) string { return fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255) }

// sluiceShaped decides as a shape says: a request with a method and a
// path (GET /) unless bare, and the key as an IP identity or a custom one.
type sluiceShaped struct {
	sluiceLimiter
	kind core.IdentityKind
	bare bool
}

func (s sluiceShaped) Allow(ctx context.Context, key string) (bool, error) {
	r := core.Request{Identity: core.Identity{Kind: s.kind, Value: key}}
	if !s.bare {
		r.Method, r.Path = http.MethodGet, "/"
	}
	return allowed(s.lim.Decide(ctx, r))
}

// shapeContender returns the limiter of library ("sluice" or
// "x-time-rate") as shape s calls it, and false when s changes nothing
// for it from the old shape (the store for Sluice, the request for
// x/time/rate).
func shapeContender(library string, s Shape) (Contender, bool) {
	c := Contender{Name: library}
	changed := s.UserKeys || s.Bare || s.UserLimit || s.SyncMap || s.Shuffled
	if library == "sluice" {
		if changed && !s.UserKeys && !s.Bare && !s.UserLimit && !s.Shuffled {
			return c, false
		}
		kind := core.KindIP
		if s.UserKeys {
			kind = core.KindCustom
		}
		c.New = func(cfg Config) (Limiter, error) {
			lim, err := core.New(core.WithDefault(sluiceLimit(cfg)))
			if err != nil {
				return nil, err
			}
			return sluiceShaped{sluiceLimiter{lim: lim}, kind, s.Bare}, nil
		}
		return c, true
	}
	if changed && !s.UserKeys && !s.SyncMap && !s.UserLimit && !s.Shuffled {
		return c, false
	}
	c.New = newXRateMutexMap
	if s.SyncMap {
		c.New = newXRateSyncMap
	}
	return c, true
}

// shapeKeys returns the keys of shape s.
func shapeKeys(s Shape) keySet {
	name := oldName
	if s.UserKeys {
		name = keyName
	}
	return newKeySet(ManyKeys, name, s.Shuffled)
}

// BenchmarkShape runs the many-keys workload (see Benchmark100kKeysParallel)
// in each of Shapes, for Sluice's Decide and x/time/rate:
// BenchmarkShape/<limiter>/shape=<name>.
func BenchmarkShape(b *testing.B) {
	for _, library := range []string{"sluice", "x-time-rate"} {
		b.Run(library, func(b *testing.B) {
			for _, s := range Shapes {
				c, ok := shapeContender(library, s)
				if !ok {
					continue
				}
				cfg := Config{N: OldLimit, Per: OldPeriod}
				if s.UserLimit {
					cfg = userConfig
				}
				keys := shapeKeys(s)
				b.Run("shape="+s.Name, func(b *testing.B) { manyKeysOne(b, c, cfg, keys) })
			}
		})
	}
}
