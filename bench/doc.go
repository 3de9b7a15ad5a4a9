// Package bench compares Sluice with the other Go rate limiters a user
// would consider, on the same workloads: golang.org/x/time/rate,
// sethvargo/go-limiter, go-chi/httprate, ulule/limiter/v3, throttled/v2
// and go-redis/redis_rate/v10.
//
// It is a module of its own so that the peers stay out of every module a
// user imports. Each library is driven through its own public API and its
// idiomatic store, reduced to the one question they all answer (see
// [Limiter]); [Memory] and [Redis] list them with what each one counts.
//
// The workloads are Go benchmarks with stable names,
// Benchmark<Workload>/<limiter>, in bench_test.go, accuracy_test.go and
// redis_test.go. `make bench-compare` at the workspace root runs them, and
// the program in cmd/report turns their output into docs/performance.md and
// docs/performance.png. `go test ./...` here runs only quick tests.
package bench
