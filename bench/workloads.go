package bench

import "time"

// The workloads' parameters. The benchmarks use them, and cmd/report
// quotes them, so the report describes what actually ran.
const (
	// ThroughputLimit is the limit, per ThroughputPeriod, of the
	// throughput workloads: high enough that no request in them is denied,
	// so every library runs its admit path, the one most requests take.
	// Every run makes far fewer decisions, on a limiter of its own.
	ThroughputLimit = 100_000_000
	// ThroughputPeriod is longer than any run, so that no library's window
	// or refill tick passes during one. That matters for go-limiter: its
	// memorystore refills interval/tokens tokens per tick (v0.7.1), so a
	// bucket of 10^8 tokens per second would get 10 tokens back each
	// second after the first, and deny.
	ThroughputPeriod = time.Hour
	// ManyKeys is the number of distinct keys of the many-keys workload.
	ManyKeys = 100_000
	// BytesPerKeyKeys is the number of distinct keys whose memory
	// BenchmarkBytesPerKey measures.
	BytesPerKeyKeys = 1_000_000
	// BytesPerKeyLimit is the limit per hour of BenchmarkBytesPerKey: low
	// enough to need state, over a period long enough that none expires
	// during the measurement.
	BytesPerKeyLimit = 10
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
