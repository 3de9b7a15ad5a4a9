package sluiceotel

import "go.opentelemetry.io/otel/metric"

type config struct {
	provider metric.MeterProvider
}

// Option configures [New].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider creates the instruments with mp's meter. The default is
// the global MeterProvider (otel.GetMeterProvider()) at the time New is
// called.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.provider = mp })
}
