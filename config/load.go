package sluiceconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes the environment variables that override file keys:
// backend.redis.url is SLUICE_BACKEND_REDIS_URL.
const EnvPrefix = "SLUICE"

// Load reads the configuration file at path (TOML, YAML or JSON, by its
// extension: .toml, .yaml, .yml, .json), applies SLUICE_ environment
// overrides and validates the result. It returns an *Errors listing every
// problem found, each with its path, or a plain error when the file cannot
// be read or parsed. An empty path reads no file: environment only.
func Load(path string) (*Config, error) {
	return load(path, os.Environ())
}

func load(path string, environ []string) (*Config, error) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	keys := envKeys()
	for _, k := range keys {
		// BindEnv makes the key known even when the file lacks it, so
		// that an override can set it; the value comes from environ.
		if err := v.BindEnv(k); err != nil {
			return nil, fmt.Errorf("sluiceconfig: %w", err)
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if ext := strings.TrimPrefix(filepath.Ext(path), "."); ext == "" {
			v.SetConfigType("toml")
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("sluiceconfig: read %s: %w", path, err)
		}
	}
	used, errs := applyEnvArrays(v, environ)
	errs = append(errs, unknownEnv(environ, keys, used)...)
	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		windowHook, mapstructure.StringToSliceHookFunc(","))))
	if err != nil {
		errs = append(errs, decodeErrors(err)...)
	}
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return &c, nil
}

// windowHook lets a window be written as a string ("100/minute").
func windowHook(from, to reflect.Type, data any) (any, error) {
	if to == reflect.TypeFor[Window]() && from.Kind() == reflect.String {
		return Window{Text: data.(string)}, nil
	}
	return data, nil
}

// decodeErrors turns mapstructure's error, one line per problem, into
// field errors.
func decodeErrors(err error) Errors {
	var out Errors
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "decoding failed") {
			continue
		}
		m := decodeLine.FindStringSubmatch(line)
		if m == nil {
			out = append(out, &FieldError{Path: "(file)", Err: errors.New(line)})
			continue
		}
		if keys, ok := strings.CutPrefix(m[2], "has invalid keys: "); ok {
			for _, k := range strings.Split(keys, ", ") {
				out = append(out, &FieldError{Path: joinPath(m[1], k), Err: errors.New("unknown key")})
			}
			continue
		}
		out = append(out, &FieldError{Path: m[1], Err: errors.New(m[2])})
	}
	return out
}

var decodeLine = regexp.MustCompile(`^'([^']*)' (.*)$`)

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// envKeys returns every leaf key outside arrays, dotted
// ("backend.redis.url"): the keys an environment variable can set.
func envKeys() []string {
	var keys []string
	walkKeys(reflect.TypeFor[Config](), "", func(k string) { keys = append(keys, k) }, nil)
	return keys
}

// walkKeys calls leaf with the dotted key of every field of t that holds a
// value, and array, when not nil, with the key of every array of tables
// before walking its element type under key+"[]". Without array, arrays of
// tables (rules) are skipped.
func walkKeys(t reflect.Type, prefix string, leaf func(key string), array func(key string)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		k := joinPath(prefix, tag)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			walkKeys(ft, k, leaf, array)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if array != nil {
				array(k)
				walkKeys(ft.Elem(), k+"[]", leaf, array)
			}
		default:
			leaf(k)
		}
	}
}

// unknownEnv reports SLUICE_ variables that name no key and were not
// applied to an array (used), so that a typo in an override cannot
// silently do nothing.
func unknownEnv(environ []string, keys []string, used map[string]bool) Errors {
	known := used
	for _, k := range keys {
		known[EnvName(k)] = true
	}
	var out Errors
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix+"_") && !known[name] {
			out = append(out, &FieldError{Path: "env " + name, Value: val, Err: errors.New("names no configuration key")})
		}
	}
	return out
}

// EnvName returns the environment variable that overrides a dotted key:
// EnvName("backend.redis.url") is "SLUICE_BACKEND_REDIS_URL".
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys returns every key of the schema, dotted, with "[]" after arrays of
// tables ("rules[].windows[].limit"), sorted. docs/configuration.md
// documents exactly these.
func Keys() []string {
	var keys []string
	add := func(k string) { keys = append(keys, k) }
	walkKeys(reflect.TypeFor[Config](), "", add, add)
	sort.Strings(keys)
	return slices.Compact(keys)
}
