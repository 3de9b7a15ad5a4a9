package sluiceenvoy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"go.yaml.in/yaml/v3"
)

// Load reads a configuration file in Sluice's YAML format: domains of
// descriptors, each with Sluice's limits, algorithm and settings.
//
//	domains:
//	  - domain: edge
//	    descriptors:
//	      - key: remote_address
//	        limits: [10/s, 500/h]        # or one: limits: 10/s
//	        algorithm: sliding_window    # default token_bucket
//	      - key: remote_address
//	        value: 50.0.0.5
//	        limits: 0/s                  # always over the limit
//	      - key: path
//	        value: /api/*                # a wildcard: every value starting /api/
//	        shared: true                 # ... counted together
//	        limits: 1000/m
//	        descriptors:
//	          - key: user
//	            limits: 10/m
//	            failure: closed          # if the backend fails, deny
//	            name: per-user
//	      - key: internal
//	        unlimited: true
//
// The keys of a descriptor are those of [Descriptor] in snake case: key,
// value, limits, algorithm (token_bucket, sliding_log, sliding_window or
// fixed_window), unlimited, shared, shadow, failure, name, replaces and
// descriptors. A limit is written "N/period" with an optional " burst B"
// for the token bucket: "10/s", "100/minute", "5/15m", "1000/h burst 50".
// An unknown key is an error. Load returns an error joining one
// *core.ConfigError per problem, with its path (such as
// "domains[0].descriptors[1].limits[0]") and, in its message, the file and
// line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sluiceenvoy: %w", err)
	}
	return parseSluice(path, data)
}

var (
	topKeys        = map[string]bool{"domains": true}
	domainKeys     = map[string]bool{"domain": true, "descriptors": true}
	descriptorKeys = map[string]bool{
		"key": true, "value": true, "limits": true, "algorithm": true, "unlimited": true,
		"shared": true, "shadow": true, "failure": true, "name": true, "replaces": true, "descriptors": true,
	}
)

// parseSluice parses a file of Sluice's format and validates it.
func parseSluice(file string, data []byte) (*Config, error) {
	r := &yamlReader{file: file}
	cfg := &Config{}
	if root := r.document(data); root != nil {
		r.fields("", root, topKeys, func(_ string, v *yaml.Node) {
			r.list("domains", v, func(at string, n *yaml.Node) {
				var d Domain
				r.fields(at, n, domainKeys, func(k string, v *yaml.Node) {
					switch k {
					case "domain":
						d.Name = r.str(at+".domain", v)
					case "descriptors":
						d.Descriptors = r.descriptors(at+".descriptors", v, 1)
					}
				})
				cfg.Domains = append(cfg.Domains, d)
			})
		})
	}
	// Checked even after other problems, so that every one is reported.
	if _, err := compile(cfg); err != nil {
		r.errs = append(r.errs, errorList(r.locate(err, data))...)
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return cfg, nil
}

func (r *yamlReader) descriptors(path string, n *yaml.Node, depth int) []Descriptor {
	var out []Descriptor
	if depth > maxDepth {
		r.bad(path, n, depth, "descriptors nest at most %d deep", maxDepth)
		return nil
	}
	r.list(path, n, func(at string, n *yaml.Node) {
		var d Descriptor
		r.fields(at, n, descriptorKeys, func(k string, v *yaml.Node) {
			kat := at + "." + k
			switch k {
			case "key":
				d.Key = r.str(kat, v)
			case "value":
				d.Value = r.str(kat, v)
			case "limits":
				if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
					d.Limits = append(d.Limits, r.limit(kat, v))
					return
				}
				r.list(kat, v, func(lat string, v *yaml.Node) { d.Limits = append(d.Limits, r.limit(lat, v)) })
			case "algorithm":
				d.Algorithm = r.algorithm(kat, v)
			case "unlimited":
				d.Unlimited = r.boolean(kat, v)
			case "shared":
				d.Shared = r.boolean(kat, v)
			case "shadow":
				d.Shadow = r.boolean(kat, v)
			case "failure":
				d.Failure = r.str(kat, v)
			case "name":
				d.Name = r.str(kat, v)
			case "replaces":
				r.list(kat, v, func(rat string, v *yaml.Node) { d.Replaces = append(d.Replaces, r.str(rat, v)) })
			case "descriptors":
				d.Descriptors = r.descriptors(kat, v, depth+1)
			}
		})
		out = append(out, d)
	})
	return out
}

func (r *yamlReader) limit(path string, n *yaml.Node) core.Limit {
	s := r.str(path, n)
	l, err := parseLimit(s)
	if err != nil && s != "" {
		r.bad(path, n, s, "%v", err)
	}
	return l
}

func (r *yamlReader) algorithm(path string, n *yaml.Node) backend.Algorithm {
	s := r.str(path, n)
	for a := backend.TokenBucket; a <= backend.Concurrency; a++ {
		if a.String() == s {
			return a
		}
	}
	r.bad(path, n, s, "want token_bucket, sliding_log, sliding_window or fixed_window")
	return 0
}

// locate adds the file and line of each error's path to the errors that
// compile found, which know paths only.
func (r *yamlReader) locate(err error, data []byte) error {
	lines := map[string]int{}
	if root := (&yamlReader{}).document(data); root != nil {
		indexLines("", root, lines)
	}
	list := errorList(err)
	for i, e := range list {
		var ce *core.ConfigError
		if !errors.As(e, &ce) {
			continue
		}
		// The longest prefix of the path that the file has.
		p := ce.Path
		for {
			if line, ok := lines[p]; ok {
				c := *ce
				c.Err = fmt.Errorf("%s:%d: %w", r.file, line, ce.Err)
				list[i] = &c
				break
			}
			cut := strings.LastIndexAny(p, ".[")
			if cut <= 0 {
				break
			}
			p = p[:cut]
		}
	}
	return errors.Join(list...)
}

// indexLines records the line of every path in the tree under n.
func indexLines(path string, n *yaml.Node, lines map[string]int) {
	if path != "" {
		lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			indexLines(join(path, n.Content[i].Value), n.Content[i+1], lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			indexLines(fmt.Sprintf("%s[%d]", path, i), c, lines)
		}
	}
}
