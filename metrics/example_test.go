package sluiceprom_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/core"
	sluiceprom "github.com/sluicehq/sluice/metrics"
)

func ExampleNew() {
	reg := prometheus.NewRegistry()
	m, err := sluiceprom.New(reg)
	if err != nil {
		panic(err)
	}
	lim, _ := core.New(core.WithObserver(m), core.WithDefault(core.PerMinute(1)))
	defer lim.Close()
	for range 3 {
		lim.Decide(context.Background(), core.Request{Path: "/", RemoteAddr: "192.0.2.1:1234"})
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "sluice_decisions_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			if v := s.GetCounter().GetValue(); v > 0 { // every outcome is exported, from 0
				l := s.GetLabel()
				fmt.Printf("%s{%s=%q,%s=%q} %v\n", mf.GetName(), l[0].GetName(), l[0].GetValue(), l[1].GetName(), l[1].GetValue(), v)
			}
		}
	}
	// Output:
	// sluice_decisions_total{outcome="allowed",rule="default"} 1
	// sluice_decisions_total{outcome="denied",rule="default"} 2
}
