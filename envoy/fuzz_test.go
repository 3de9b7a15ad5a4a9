package sluiceenvoy

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
)

// addSeeds adds every file of testdata/ratelimit and the tests'
// configurations as seeds.
func addSeeds(f *testing.F, extra ...string) {
	files, _ := filepath.Glob("testdata/ratelimit/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// FuzzLoad checks that Sluice's format never panics, that a configuration
// it accepts always compiles and serves, and that matching any descriptor
// against it neither panics nor errs.
func FuzzLoad(f *testing.F) {
	addSeeds(f, edgeConfig, "domains:\n  - domain: d\n    descriptors:\n      - key: a\n        value: x*\n        shared: true\n        limits: [1/s, 2/m burst 3]\n",
		"domains: [{domain: d, descriptors: [{key: a, limits: 1/s, descriptors: [{key: b, unlimited: true}]}]}]")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseSluice("fuzz.yaml", data)
		if err != nil {
			return
		}
		serve(t, cfg)
	})
}

// FuzzImport checks the same of envoyproxy/ratelimit's format.
func FuzzImport(f *testing.F) {
	addSeeds(f, "domain: d\ndescriptors:\n  - key: a\n    value: v*\n    share_threshold: true\n    rate_limit: {unit: hour, requests_per_unit: 3, name: n, replaces: [{name: m}]}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseRatelimit("fuzz.yaml", data)
		if err != nil {
			return
		}
		serve(t, &Config{Domains: []Domain{d}})
	})
}

// serve builds a Server for an accepted configuration and sends it a
// descriptor made of each configured key and value.
func serve(t *testing.T, cfg *Config) {
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("accepted configuration does not serve: %v", err)
	}
	defer s.Close()
	for _, d := range cfg.Domains {
		if d.Name == "" {
			continue
		}
		var walk func(ds []Descriptor, entries []*commonv3.RateLimitDescriptor_Entry)
		walk = func(ds []Descriptor, entries []*commonv3.RateLimitDescriptor_Entry) {
			for _, c := range ds {
				if len(entries) > 6 || c.Key == "" {
					continue
				}
				e := append(entries[:len(entries):len(entries)], &commonv3.RateLimitDescriptor_Entry{Key: c.Key, Value: c.Value + "x"})
				req := request(d.Name, &commonv3.RateLimitDescriptor{Entries: e})
				if _, err := s.ShouldRateLimit(context.Background(), req); err != nil {
					t.Fatalf("ShouldRateLimit(%v): %v", req, err)
				}
				walk(c.Descriptors, e)
			}
		}
		walk(d.Descriptors, nil)
	}
}
