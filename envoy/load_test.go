package sluiceenvoy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ratelimit.yaml")
	if err := os.WriteFile(path, []byte(edgeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Domains) != 1 || cfg.Domains[0].Name != "edge" || len(cfg.Domains[0].Descriptors) != 9 {
		t.Fatalf("loaded %+v", cfg)
	}
	d := cfg.Domains[0].Descriptors[6].Descriptors[0]
	if d.Key != "user" || d.Algorithm != backend.FixedWindow || !slices.Equal(d.Limits, []core.Limit{core.PerSecond(2), core.PerMinute(5)}) {
		t.Fatalf("nested descriptor %+v", d)
	}
	if w := cfg.Domains[0].Descriptors[2]; w.Value != "/api/*" || !w.Shared {
		t.Fatalf("wildcard descriptor %+v", w)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    core.Limit
		wantErr string
	}{
		{"100/m", core.PerMinute(100), ""},
		{"10/s", core.PerSecond(10), ""},
		{"5/15m", core.Limit{N: 5, Per: 15 * time.Minute}, ""},
		{"1000/h burst 50", core.Limit{N: 1000, Per: time.Hour, Burst: 50}, ""},
		{"7/week", core.Limit{N: 7, Per: 7 * 24 * time.Hour}, ""},
		{"3/2days", core.Limit{N: 3, Per: 48 * time.Hour}, ""},
		{"20/1.5s", core.Limit{N: 20, Per: 1500 * time.Millisecond}, ""},
		{"0/s", core.Limit{Per: time.Second}, ""},
		{"100", core.Limit{}, `missing "/period"`},
		{"-1/s", core.Limit{}, "not a whole number"},
		{"1/fortnight", core.Limit{}, "want a unit"},
		{"1/400d", core.Limit{}, "longer than"},
		{"1/0s", core.Limit{}, "must be positive"},
		{"1/s burst", core.Limit{}, "want"},
		{"99999999999999999999/s", core.Limit{}, "not a whole number"},
	} {
		got, err := parseLimit(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("parseLimit(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("parseLimit(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestBadConfigs checks that every problem is reported with its path and
// line, all at once.
func TestBadConfigs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []string // "path@line: message part", every one must be found
	}{
		{"unknown top key", "domain: x\n", []string{"domain@1: unknown key"}},
		{"unknown descriptor key", `
domains:
  - domain: d
    descriptors:
      - key: a
        limit: 1/s
`, []string{"domains[0].descriptors[0].limit@6: unknown key"}},
		{"bad limit and algorithm, both reported", `
domains:
  - domain: d
    descriptors:
      - key: a
        limits: [1/s, 5/fortnight]
      - key: b
        limits: 1/s
        algorithm: leaky
`, []string{"domains[0].descriptors[0].limits[1]@6: want a unit", "domains[0].descriptors[1].algorithm@9: want token_bucket"}},
		{"missing key and domain", `
domains:
  - descriptors:
      - value: v
        limits: 1/s
`, []string{"domains[0].domain@3: a domain needs a name", "domains[0].descriptors[0].key@4: a descriptor needs a key"}},
		{"duplicates", `
domains:
  - domain: d
    descriptors:
      - key: a
        value: x
        limits: 1/s
      - key: a
        value: x
        limits: 2/s
  - domain: d
`, []string{"domains[0].descriptors[1]@8: duplicate descriptor", "domains[1].domain@11: duplicate of domains[0]"}},
		{"unlimited with limits, shared without wildcard", `
domains:
  - domain: d
    descriptors:
      - key: a
        unlimited: true
        limits: 1/s
      - key: b
        value: exact
        shared: true
        limits: 1/s
`, []string{"domains[0].descriptors[0].unlimited@6: cannot have limits", "domains[0].descriptors[1].shared@10: only a wildcard"}},
		{"concurrency, burst on a fixed window, bad failure", `
domains:
  - domain: d
    descriptors:
      - key: a
        algorithm: concurrency
        limits: 1/s
      - key: b
        algorithm: fixed_window
        limits: 10/s burst 5
      - key: c
        failure: sometimes
        limits: 1/s
`, []string{"domains[0].descriptors[0].algorithm@6: Envoy never releases", "domains[0].descriptors[1].limits[0].burst@10: only token_bucket", "domains[0].descriptors[2].failure@12: want"}},
		{"replaces itself and without a limit", `
domains:
  - domain: d
    descriptors:
      - key: a
        name: me
        limits: 1/s
        replaces: [me, ""]
      - key: b
        replaces: [other]
`, []string{"domains[0].descriptors[0].replaces[0]@8: cannot replace itself", "domains[0].descriptors[0].replaces[1]@8: needs a name", "domains[0].descriptors[1].replaces@10: only a limit"}},
		{"wrong types", `
domains:
  - domain: [d]
    descriptors:
      key: a
`, []string{"domains[0].domain@3: want a string", "domains[0].descriptors@5: want a list"}},
		{"too many limits", `
domains:
  - domain: d
    descriptors:
      - key: a
        limits: [1/s, 2/m, 3/h, 4/d, 5/w]
`, []string{"domains[0].descriptors[0].limits@6: at most 4"}},
		{"not YAML", "domains: [\n", []string{"@0: yaml"}},
		{"an alias", `
domains:
  - domain: d
    descriptors:
      - &a
        key: a
        limits: 1/s
      - *a
`, []string{"domains[0].descriptors[1]@8: aliases are not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSluice("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			checkErrors(t, err, tc.want)
		})
	}
}

// checkErrors checks that err holds a *core.ConfigError for each want,
// written "path@line: part of the message" (line 0: no line).
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	var got []string
	for _, e := range errorList(err) {
		var ce *core.ConfigError
		if !errors.As(e, &ce) {
			t.Errorf("not a ConfigError: %v", e)
			continue
		}
		got = append(got, ce.Path+"@"+ce.Err.Error())
	}
	for _, w := range want {
		at, msg, _ := strings.Cut(w, ": ")
		path, line, _ := strings.Cut(at, "@")
		found := false
		for _, g := range got {
			gpath, gerr, _ := strings.Cut(g, "@")
			if gpath == path && strings.Contains(gerr, ":"+line+": ") && strings.Contains(gerr, msg) {
				found = true
			}
		}
		if !found && !(line == "0" && slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, path+"@") && strings.Contains(g, msg) })) {
			t.Errorf("no error %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}
