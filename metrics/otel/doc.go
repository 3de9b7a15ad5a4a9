// Package sluiceotel records what a Sluice Limiter does as OpenTelemetry
// metrics: the same measurements as package sluiceprom, named by the
// OpenTelemetry semantic conventions.
//
// Import it as
//
//	import sluiceotel "github.com/sluicehq/sluice/metrics/otel"
//
// and give it to the Limiter as an observer:
//
//	m, err := sluiceotel.New() // the global MeterProvider; or WithMeterProvider(mp)
//	lim, err := core.New(core.WithObserver(m), ...)
//
// Observers add up, so the Prometheus metrics of package sluiceprom and
// these can run at once: core.New(core.WithObserver(prom),
// core.WithObserver(otel), ...).
//
// The instruments, with bounded attributes only (never a client, IP or
// user):
//
//	sluice.decisions             counter   {decision}  sluice.rule, sluice.outcome
//	sluice.backend.duration      histogram s           sluice.backend, sluice.backend.operation, error.type (on failure)
//	sluice.backend.evictions     counter   {state}     sluice.backend
//	sluice.circuit_breaker.state gauge     1           sluice.backend, sluice.circuit_breaker.state
//	sluice.deny_cache.hits       counter   {decision}
//	sluice.penalties.active      gauge     {client}
//	sluice.config.reloads        counter   {reload}    sluice.config.reload.result
//
// sluice.outcome is allowed, denied, delayed, exempt, shadow_denied,
// fail_open, fail_closed, or fail_local for any decision of the fail-local
// fallback. sluice.backend.operation is apply, settle, release, reset,
// penalty_check or penalty_record; error.type, set only on a failed call,
// is timeout, canceled or _OTHER, so the number of failed calls is the
// histogram's count with error.type set. sluice.circuit_breaker.state has
// one series per state, closed, half_open and open, of which the current
// one is 1 and the others 0. sluice.penalties.active counts the clients
// this instance saw blocked by a progressive penalty whose block has not
// ended. Rule names come from configuration, so their number is bounded.
//
// A Metrics is safe for concurrent use, and recording a decision does not
// allocate once its rule has been seen.
package sluiceotel
