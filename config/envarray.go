package sluiceconfig

import (
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// envArray is an array of tables that environment variables can reach:
// SLUICE_RULES_0_WINDOWS sets rules[0].windows.
type envArray struct {
	key    string            // dotted key of the array: "rules"
	prefix string            // "SLUICE_RULES_"
	fields map[string]string // "PENALTY_BASE" -> "penalty.base"
	lists  map[string]bool   // fields that are lists: "methods", "windows"
}

// envArrays lists the arrays of tables of the schema and the fields of their
// elements that hold a value (nested arrays of tables, such as a rule's
// windows written as tables, are left to the string form).
func envArrays() []envArray {
	var arrays []envArray
	field := func(k string, list bool) {
		for i := range arrays {
			if f, ok := strings.CutPrefix(k, arrays[i].key+"[]."); ok && !strings.Contains(f, "[]") {
				arrays[i].fields[strings.ToUpper(strings.ReplaceAll(f, ".", "_"))] = f
				arrays[i].lists[f] = list || keyType(k).Kind() == reflect.Slice
			}
		}
	}
	walkKeys(reflect.TypeFor[Config](), "", func(k string) { field(k, false) }, func(k string) {
		if strings.Contains(k, "[]") {
			field(k, true) // an array in an element, in its string form ("10/s,100/h")
			return
		}
		arrays = append(arrays, envArray{key: k, prefix: envName(k) + "_", fields: map[string]string{}, lists: map[string]bool{}})
	})
	return arrays
}

// applyEnvArrays applies the SLUICE_<ARRAY>_<i>_<FIELD> variables of environ
// to the arrays of tables in v: element i of the array gets the field, and
// an index one past the end adds an element, so a rule can come from the
// environment alone. Values are read as the scalar overrides are (lists
// comma-separated). It returns the names of the variables it applied, and
// adds a problem to p for each it could not apply.
func applyEnvArrays(v *viper.Viper, environ []string, p *problems) map[string]bool {
	type setting struct {
		name, field, value string
		index              int
	}
	used := map[string]bool{}
	for _, a := range envArrays() {
		var sets []setting
		for _, kv := range environ {
			name, value, _ := strings.Cut(kv, "=")
			rest, ok := strings.CutPrefix(name, a.prefix)
			if !ok {
				continue
			}
			idx, fieldName, ok := strings.Cut(rest, "_")
			i, err := strconv.Atoi(idx)
			field, known := a.fields[fieldName]
			if !ok || err != nil || i < 0 || idx != strconv.Itoa(i) || !known {
				continue // unknownEnv reports it
			}
			sets = append(sets, setting{name, field, value, i})
		}
		if len(sets) == 0 {
			continue
		}
		sort.SliceStable(sets, func(i, j int) bool { return sets[i].index < sets[j].index })
		elems, err := tables(v.Get(a.key))
		if err != nil {
			p.wrap(a.key, nil, err)
			continue
		}
		for _, s := range sets {
			switch {
			case s.index == len(elems):
				elems = append(elems, map[string]any{})
			case s.index > len(elems):
				p.add("env "+s.name, s.value, "index %d skips past the end of %s (%d elements)", s.index, a.key, len(elems))
				used[s.name] = true // reported here, not as unknown
				continue
			}
			m := elems[s.index]
			parts := strings.Split(s.field, ".")
			for _, part := range parts[:len(parts)-1] {
				sub, ok := m[part].(map[string]any)
				if !ok {
					sub = map[string]any{}
					m[part] = sub
				}
				m = sub
			}
			var value any = s.value
			if a.lists[s.field] {
				items := []any{} // an empty value is an empty list
				if s.value != "" {
					for _, item := range strings.Split(s.value, ",") {
						items = append(items, strings.TrimSpace(item))
					}
				}
				value = items
			}
			m[parts[len(parts)-1]] = value
			used[s.name] = true
		}
		list := make([]any, len(elems))
		for i, e := range elems {
			list[i] = e
		}
		v.Set(a.key, list)
	}
	return used
}

// tables returns a copy of an array of tables as decoded from any format.
func tables(v any) ([]map[string]any, error) {
	var out []map[string]any
	switch list := v.(type) {
	case nil:
	case []map[string]any:
		for _, m := range list {
			out = append(out, copyTable(m))
		}
	case []any:
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, errors.New("not an array of tables, so the environment cannot set its elements")
			}
			out = append(out, copyTable(m))
		}
	default:
		return nil, errors.New("not an array of tables, so the environment cannot set its elements")
	}
	return out, nil
}

// copyTable copies m and the tables in it, so that overrides do not write
// into the maps viper holds.
func copyTable(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = copyTable(sub)
		}
		c[k] = v
	}
	return c
}
