package bench

import "time"

// The many-keys workload as bench/ first ran it, before it measured what
// users do, and each of the changes since, one at a time. BenchmarkShape
// measures them so that the report can say which change moved whom.
const (
	// OldLimit per OldPeriod is the limit the throughput workloads first
	// ran under: high enough that no request is ever denied.
	OldLimit  = 100_000_000
	OldPeriod = time.Hour
)

// Shape is one variant of the many-keys workload: the old shape with some
// of the changes to the new one.
type Shape struct {
	// Name is the sub-benchmark name: BenchmarkShape/<limiter>/shape=<Name>.
	Name string
	// What says what the variant changes from the old shape.
	What string
	// UserKeys passes keys "user-<n>" as a custom identity
	// (Identity{Kind: KindCustom}), as the new workloads do, instead of
	// IPv4 addresses "10.x.y.z" as an IP identity.
	UserKeys bool
	// Bare makes Sluice's request carry only the identity, as the new
	// workloads' does, instead of also a method and a path (GET /).
	// x/time/rate has no request.
	Bare bool
	// UserLimit limits each key to 100 per second, burst 100, instead of
	// 10^8 per hour.
	UserLimit bool
	// SyncMap keeps x/time/rate's limiters in a sync.Map instead of a map
	// behind one mutex. Sluice has no such choice.
	SyncMap bool
	// Shuffled asks about the keys in a random order instead of the order
	// in which they were created (see newKeySet).
	Shuffled bool
}

// Shapes are the variants BenchmarkShape measures: the old shape, each
// change alone, and all of them together, which is the new shape
// (Benchmark100kKeysParallel).
var Shapes = []Shape{
	{Name: "old", What: "IPv4 keys as an IP identity of a `GET /` request, 10^8 per hour, x/time/rate in a mutex map, keys asked in the order they were created"},
	{Name: "user-keys", What: "keys `user-<n>` as a custom identity", UserKeys: true},
	{Name: "bare", What: "Sluice's request carries only the identity, no method or path", Bare: true},
	{Name: "user-limit", What: "100 per second, burst 100", UserLimit: true},
	{Name: "sync-map", What: "x/time/rate in a sync.Map", SyncMap: true},
	{Name: "shuffled", What: "keys asked in a random order, not the order they were created in", Shuffled: true},
	{Name: "new", What: "all of these changes", UserKeys: true, Bare: true, UserLimit: true, SyncMap: true, Shuffled: true},
}
