package sluiceenvoy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
	"go.yaml.in/yaml/v3"
)

// Import reads envoyproxy/ratelimit's YAML configuration, so that its users
// can switch to Sluice without rewriting it. path is one file, or a
// directory whose *.yaml and *.yml files are read (names starting with "."
// are skipped, as in a Kubernetes ConfigMap mount), one domain per file.
//
// Every setting means what it means there: domain; descriptors with key,
// value (a trailing "*" is a wildcard) and nested descriptors;
// rate_limit with unit (second, minute, hour, day, week, month of 30 days,
// year of 365 days, in any case), requests_per_unit, unlimited, name and
// replaces; shadow_mode; share_threshold. Limits are fixed windows aligned
// to the Unix epoch (backend.FixedWindow), as that service counts them.
// detailed_metric and value_to_metric, which only name its statsd metrics,
// are accepted and have no effect: Sluice's metrics are per descriptor,
// never per value. quota_mode is read as shadow_mode: over the limit is
// answered OK (without that service's dynamic metadata).
//
// An unknown key, a missing or unknown unit, a unit beside unlimited, a
// duplicate descriptor and a domain in two files are errors, as there.
// Import returns an error joining one *core.ConfigError per problem, with
// its path in the file (such as "descriptors[1].rate_limit.unit") and, in
// its message, the file and line.
func Import(path string) (*Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sluiceenvoy: %w", err)
	}
	files := []string{path}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("sluiceenvoy: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			name := e.Name()
			if ext := filepath.Ext(name); strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			if st, err := os.Stat(filepath.Join(path, name)); err == nil && st.Mode().IsRegular() {
				files = append(files, filepath.Join(path, name))
			}
		}
		slices.Sort(files)
	}
	cfg := &Config{}
	var errs []error
	from := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("sluiceenvoy: %w", err))
			continue
		}
		d, err := parseRatelimit(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := from[d.Name]; dup {
			errs = append(errs, &core.ConfigError{Path: "domain", Value: d.Name, Err: fmt.Errorf("%s: domain also configured in %s", f, other)})
			continue
		}
		from[d.Name] = f
		cfg.Domains = append(cfg.Domains, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

var (
	rlTopKeys        = map[string]bool{"domain": true, "descriptors": true}
	rlDescriptorKeys = map[string]bool{
		"key": true, "value": true, "rate_limit": true, "descriptors": true, "shadow_mode": true,
		"quota_mode": true, "detailed_metric": true, "value_to_metric": true, "share_threshold": true,
	}
	rlLimitKeys   = map[string]bool{"unit": true, "requests_per_unit": true, "unlimited": true, "name": true, "replaces": true}
	rlReplaceKeys = map[string]bool{"name": true}
	rlUnits       = map[string]time.Duration{
		"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": day,
		"week": week, "month": month, "year": year,
	}
)

// parseRatelimit parses one file of envoyproxy/ratelimit's format into a
// Domain, and validates it.
func parseRatelimit(file string, data []byte) (Domain, error) {
	r := &yamlReader{file: file}
	var d Domain
	root := r.document(data)
	if root == nil {
		r.bad("domain", nil, "", "empty file: want a domain and its descriptors")
	} else {
		r.fields("", root, rlTopKeys, func(k string, v *yaml.Node) {
			switch k {
			case "domain":
				d.Name = r.str("domain", v)
			case "descriptors":
				d.Descriptors = r.rlDescriptors("descriptors", v, 1)
			}
		})
		if d.Name == "" && len(r.errs) == 0 {
			r.bad("domain", root, "", "a domain needs a name")
		}
	}
	if root != nil && d.Name != "" {
		// Checked even after other problems, so that every one is reported.
		if _, err := compile(&Config{Domains: []Domain{d}}); err != nil {
			r.errs = append(r.errs, errorList(r.locate(ratelimitPaths(err), data))...)
		}
	}
	if len(r.errs) > 0 {
		return Domain{}, errors.Join(r.errs...)
	}
	return d, nil
}

func (r *yamlReader) rlDescriptors(path string, n *yaml.Node, depth int) []Descriptor {
	if depth > maxDepth {
		r.bad(path, n, depth, "descriptors nest at most %d deep", maxDepth)
		return nil
	}
	var out []Descriptor
	r.list(path, n, func(at string, n *yaml.Node) {
		d := Descriptor{Algorithm: backend.FixedWindow}
		var limitNode, unitNode *yaml.Node
		var unit string
		var hasUnit bool
		var perUnit uint32
		var share bool
		r.fields(at, n, rlDescriptorKeys, func(k string, v *yaml.Node) {
			kat := at + "." + k
			switch k {
			case "key":
				d.Key = r.str(kat, v)
			case "value":
				d.Value = r.str(kat, v)
			case "descriptors":
				d.Descriptors = r.rlDescriptors(kat, v, depth+1)
			case "shadow_mode", "quota_mode":
				d.Shadow = r.boolean(kat, v) || d.Shadow
			case "detailed_metric", "value_to_metric":
				r.boolean(kat, v)
			case "share_threshold":
				share = r.boolean(kat, v)
			case "rate_limit":
				limitNode = v
				r.fields(kat, v, rlLimitKeys, func(k string, v *yaml.Node) {
					lat := kat + "." + k
					switch k {
					case "unit":
						unit, hasUnit, unitNode = r.str(lat, v), true, v
					case "requests_per_unit":
						perUnit = r.uint32(lat, v)
					case "unlimited":
						d.Unlimited = r.boolean(lat, v)
					case "name":
						d.Name = r.str(lat, v)
					case "replaces":
						r.list(lat, v, func(rat string, v *yaml.Node) {
							var name string
							r.fields(rat, v, rlReplaceKeys, func(_ string, v *yaml.Node) { name = r.str(rat+".name", v) })
							if name == "" {
								r.bad(rat+".name", v, "", "a replaced limit needs a name")
							}
							d.Replaces = append(d.Replaces, name)
						})
					}
				})
			}
		})
		if share {
			if !strings.HasSuffix(d.Value, "*") {
				r.bad(at+".share_threshold", n, true, "share_threshold needs a value ending in *")
			}
			d.Shared = true
		}
		if limitNode != nil && limitNode.Kind == yaml.MappingNode {
			per, known := rlUnits[strings.ToLower(unit)]
			switch {
			case d.Unlimited && hasUnit && known:
				r.bad(at+".rate_limit.unit", unitNode, unit, "an unlimited rate limit cannot have a unit")
			case d.Unlimited:
			case !hasUnit:
				r.bad(at+".rate_limit.unit", limitNode, "", "missing unit (want second, minute, hour, day, week, month or year)")
			case !known:
				r.bad(at+".rate_limit.unit", unitNode, unit, "unknown unit (want second, minute, hour, day, week, month or year)")
			default:
				d.Limits = []core.Limit{{N: int64(perUnit), Per: per}}
			}
		}
		out = append(out, d)
	})
	return out
}

// ratelimitPaths rewrites the paths of compile's errors about a one-domain
// Config into the paths of the file it came from.
func ratelimitPaths(err error) error {
	list := errorList(err)
	for i, e := range list {
		var ce *core.ConfigError
		if !errors.As(e, &ce) {
			continue
		}
		p := strings.TrimPrefix(strings.TrimPrefix(ce.Path, "domains[0]"), ".")
		for _, r := range [][2]string{
			{".limits[0]", ".rate_limit"}, {".limits", ".rate_limit"}, {".unlimited", ".rate_limit.unlimited"},
			{".shared", ".share_threshold"}, {".shadow", ".shadow_mode"}, {".name", ".rate_limit.name"},
			{".replaces", ".rate_limit.replaces"},
		} {
			if i := strings.LastIndex(p, r[0]); i >= 0 && !strings.Contains(p[i+len(r[0]):], ".descriptors") {
				p = p[:i] + r[1] + p[i+len(r[0]):]
				break
			}
		}
		c := *ce
		c.Path = p
		list[i] = &c
	}
	return errors.Join(list...)
}
