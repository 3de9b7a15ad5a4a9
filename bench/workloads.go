package bench

import (
	"strconv"
	"time"
)

// The workloads' parameters. The benchmarks use them, and cmd/report
// quotes them, so the report describes what actually ran.
const (
	// UserLimit, UserPeriod and UserBurst are the limit of the in-memory
	// throughput workloads and of the Redis throughput workload, as a
	// service would set it: a token bucket of 100 per second per key with
	// a burst of 100 (for the libraries without a burst, 100 per second).
	// A hot key asks far more often than that, so most of its decisions
	// are denials, as a user's hot key over its limit gets: the workloads
	// count decisions, whatever they decide.
	UserLimit  = 100
	UserPeriod = time.Second
	UserBurst  = 100
	// ManyKeys is the number of distinct keys of the many-keys workload.
	ManyKeys = 100_000
	// BytesPerKeyKeys is the number of distinct keys whose memory
	// BenchmarkBytesPerKey measures.
	BytesPerKeyKeys = 1_000_000
	// BytesPerKeyPeriod is the period of BenchmarkBytesPerKey's limit
	// (UserLimit per BytesPerKeyPeriod, burst UserBurst): the state each
	// library keeps for a key does not depend on the rate, but its expiry
	// does, and at 100 per second a key's state expires, or its window
	// turns, long before the millionth key arrives. Per hour, every key is
	// live when the heap is measured.
	BytesPerKeyPeriod = time.Hour
	// AccuracyLimit is the limit, per AccuracyPeriod, of the accuracy
	// races.
	AccuracyLimit = 100
	// AccuracyPeriod is long enough that a race falls within one window,
	// and that a token bucket refills far less than one token during it.
	AccuracyPeriod = time.Hour
	// AccuracyRequests is the number of requests that race.
	AccuracyRequests = 1000
	// RedisKeys is the number of clients the Redis throughput workload
	// spreads its decisions over.
	RedisKeys = 10_000
	// InstancePool is the connection pool of each instance in the
	// two-instance accuracy race.
	InstancePool = 64
)

// RedisCallers are the numbers of concurrent callers of the Redis
// throughput workload.
var RedisCallers = []int{1, 16, 64, 256}

// hotKey is the one client of the hot-key workloads.
const hotKey = "user-42"

// keyName returns the i-th distinct client key, "user-<i>", as a service
// keys its users.
func keyName(i int) string { return "user-" + strconv.Itoa(i) }
