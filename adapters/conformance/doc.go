// Package conformance runs testkit's adapter conformance suite and
// benchmarks against every Sluice HTTP adapter, and grpctest's interceptor
// suite against sluicegrpc.
//
// It is a module of its own, as OpenTelemetry Go contrib keeps its
// instrumentation tests, so that the adapter modules require only core and
// their framework: go get of one adapter never brings testkit (or
// testkit/grpctest), nor the other frameworks. The module is not published
// (see versions.yaml).
package conformance
