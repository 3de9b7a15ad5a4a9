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

// sluiceIP decides a request from an IP address as the old shape did.
type sluiceIP struct{ sluiceLimiter }

func (s sluiceIP) Allow(ctx context.Context, key string) (bool, error) {
	return allowed(s.lim.Decide(ctx, core.Request{Method: http.MethodGet, Path: "/", Identity: core.Identity{Kind: core.KindIP, Value: key}}))
}

func newSluiceIP(c Config) (Limiter, error) {
	lim, err := core.New(core.WithDefault(sluiceLimit(c)))
	if err != nil {
		return nil, err
	}
	return sluiceIP{sluiceLimiter{lim: lim}}, nil
}

// shapeContender returns the limiter of library ("sluice" or
// "x-time-rate") as shape s calls it, and false when s changes nothing
// for it from the old shape (the sync.Map, for Sluice).
func shapeContender(library string, s Shape) (Contender, bool) {
	c := Contender{Name: library}
	switch library {
	case "sluice":
		if s.SyncMap && !s.UserKeys && !s.UserLimit && !s.Shuffled {
			return c, false
		}
		c.New = newSluiceIP
		if s.UserKeys {
			c.New = newSluiceDecide
		}
	default:
		c.New = newXRateMutexMap
		if s.SyncMap {
			c.New = newXRateSyncMap
		}
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
