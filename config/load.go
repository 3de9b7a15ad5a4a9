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

// envPrefix prefixes the environment variables that override file keys:
// backend.redis.url is SLUICE_BACKEND_REDIS_URL.
const envPrefix = "SLUICE"

// Load reads the configuration file at path (TOML, YAML or JSON, by its
// extension: .toml, .yaml, .yml, .json; TOML without one), applies the
// SLUICE_ environment overrides and validates the result, connecting to
// nothing. An empty path reads no file: the environment alone.
//
// When the configuration is invalid, the error joins one
// *core.ConfigError per problem, each with the setting's path and value,
// sorted by path: errors.As(err, &ce) finds the first, and the error's
// Unwrap() []error lists them all. A file that cannot be read or parsed
// is a plain error.
func Load(path string) (*Config, error) {
	return load(path, os.Environ())
}

func load(path string, environ []string) (*Config, error) {
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	keys := envKeys()
	env := envMap(environ)
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
	// An empty variable for a list is the empty list (viper would take it
	// for an unset variable).
	for _, k := range keys {
		if val, ok := env[envName(k)]; ok && val == "" && keyType(k).Kind() == reflect.Slice {
			v.Set(k, []any{})
		}
	}
	var p problems
	used := applyEnvArrays(v, environ, &p)
	unknownEnv(environ, keys, used, &p)
	var c Config
	err := v.UnmarshalExact(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		windowHook, mapstructure.StringToSliceHookFunc(","))))
	if err != nil {
		decodeErrors(err, &p)
	}
	c.overrideRedisURL(env)
	c.validate(&p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// overrideRedisURL makes SLUICE_BACKEND_REDIS_URL replace the file's
// whole connection: its url and its connection fields (the example file's
// mode = "standalone", say), unless the environment sets those too.
func (c *Config) overrideRedisURL(env map[string]string) {
	if env[envName("backend.redis.url")] == "" {
		return
	}
	fields := reflect.ValueOf(&c.Backend.Redis).Elem()
	for i := range fields.NumField() {
		key := fields.Type().Field(i).Tag.Get("mapstructure")
		if _, set := env[envName("backend.redis."+key)]; slices.Contains(redisConnectionKeys, key) && !set {
			fields.Field(i).SetZero()
		}
	}
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, envPrefix+"_") {
			m[name] = val
		}
	}
	return m
}

// windowHook lets a window be written as a string ("100/minute").
func windowHook(from, to reflect.Type, data any) (any, error) {
	if to == reflect.TypeFor[windowConfig]() && from.Kind() == reflect.String {
		return windowConfig{Text: data.(string)}, nil
	}
	return data, nil
}

// decodeErrors turns mapstructure's error, one line per problem, into
// problems.
func decodeErrors(err error, p *problems) {
	for line := range strings.Lines(err.Error()) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "decoding failed") {
			continue
		}
		m := decodeLine.FindStringSubmatch(line)
		if m == nil {
			p.wrap("(file)", nil, errors.New(line))
			continue
		}
		if keys, ok := strings.CutPrefix(m[2], "has invalid keys: "); ok {
			for _, k := range strings.Split(keys, ", ") {
				path := joinPath(m[1], k)
				if advice, ok := removedKeys[path]; ok {
					p.add(path, nil, "%s", advice)
				} else {
					p.add(path, nil, "unknown key")
				}
			}
			continue
		}
		p.wrap(m[1], nil, errors.New(m[2]))
	}
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

// keyType returns the type of the schema field at a dotted key, with "[]"
// after arrays ("rules[].methods"), pointers dereferenced.
func keyType(key string) reflect.Type {
	t := reflect.TypeFor[Config]()
	for _, part := range strings.Split(key, ".") {
		name, elem := strings.CutSuffix(part, "[]")
		for i := range t.NumField() {
			if f := t.Field(i); f.Tag.Get("mapstructure") == name {
				t = f.Type
				break
			}
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if elem {
			t = t.Elem()
		}
	}
	return t
}

// unknownEnv reports SLUICE_ variables that name no key and were not
// applied to an array (used), so that a typo in an override cannot
// silently do nothing.
func unknownEnv(environ []string, keys []string, used map[string]bool, p *problems) {
	known := used
	for _, k := range keys {
		known[envName(k)] = true
	}
	removed := map[string]string{}
	for k, advice := range removedKeys {
		removed[envName(k)] = k + ": " + advice
	}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix+"_") || known[name] {
			continue
		}
		if advice, ok := removed[name]; ok {
			p.add("env "+name, val, "%s", advice)
		} else {
			p.add("env "+name, val, "names no configuration key")
		}
	}
}

// envName returns the environment variable that overrides a dotted key:
// envName("backend.redis.url") is "SLUICE_BACKEND_REDIS_URL".
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// allKeys returns every key of the schema, dotted, with "[]" after arrays
// of tables ("rules[].windows[].limit"), sorted: the keys
// docs/configuration.md documents.
func allKeys() []string {
	var keys []string
	add := func(k string) { keys = append(keys, k) }
	walkKeys(reflect.TypeFor[Config](), "", add, add)
	sort.Strings(keys)
	return slices.Compact(keys)
}
