// Package sluiceprom exports what a Sluice Limiter does as Prometheus
// metrics.
//
// Import it as
//
//	import sluiceprom "github.com/sluicehq/sluice/metrics"
//
// and give it to the Limiter as an observer:
//
//	m, err := sluiceprom.New(prometheus.DefaultRegisterer)
//	lim, err := core.New(core.WithObserver(m), ...)
//
// Observers add up, so package sluiceotel's OpenTelemetry metrics can run
// beside these: core.New(core.WithObserver(m), core.WithObserver(otm), ...).
//
// The metrics, with bounded labels only (never a client, IP or user):
//
//	sluice_decisions_total{rule, outcome}                    counter
//	sluice_backend_request_duration_seconds{backend, op}     histogram
//	sluice_backend_errors_total{backend, kind}               counter (kind: timeout, canceled, error)
//	sluice_circuit_breaker_state{backend}                    gauge (0 closed, 1 half-open, 2 open)
//	sluice_local_deny_cache_hits_total                       counter
//	sluice_config_reloads_total{result}                      counter (result: success, failure)
//	sluice_penalties_active                                  gauge (blocked clients this instance saw)
//
// outcome is allowed, denied, delayed, exempt, shadow_denied, fail_open,
// fail_closed, or fail_local for any decision of the fail-local fallback.
// Rule names come from configuration, so their number is bounded.
package sluiceprom
