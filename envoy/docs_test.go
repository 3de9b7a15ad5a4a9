package sluiceenvoy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// docYAML returns the YAML blocks of docs/envoy.md's section with the
// given heading, decoded.
func docYAML(t *testing.T, heading string) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "envoy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## "+heading+"\n")
	if start < 0 {
		t.Fatalf("docs/envoy.md has no section %q", heading)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var out []any
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		var v any
		if err := yaml.Unmarshal([]byte(m[1]), &v); err != nil {
			t.Fatalf("%s: YAML: %v", heading, err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("section %q has no YAML block", heading)
	}
	return out
}

// at follows a path of map keys and list indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

// asProto decodes v into m as Envoy reads its YAML (proto JSON), and
// validates it with the generated rules unless partial.
func asProto(t *testing.T, name string, v any, m proto.Message, partial bool) {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		t.Fatalf("%s is not a valid %T: %v", name, m, err)
	}
	if partial {
		return
	}
	if err := m.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
		t.Fatalf("%s does not validate: %v", name, err)
	}
}

// TestDocsEnvoyConfig checks the Envoy configuration docs/envoy.md shows
// against Envoy's own types and validation rules (go-control-plane): the
// bootstrap, the filter Istio inserts, and the cluster, filter and rate
// limits Envoy Gateway's patch adds.
func TestDocsEnvoyConfig(t *testing.T) {
	t.Parallel()
	envoy := docYAML(t, "Envoy")
	asProto(t, "the bootstrap", envoy[0], &bootstrapv3.Bootstrap{}, false)

	istio := docYAML(t, "Istio")[0]
	asProto(t, "Istio's inserted filter", at(t, istio, "spec", "configPatches", 0, "patch", "value"), &hcmv3.HttpFilter{}, false)
	asProto(t, "Istio's virtual host patch", at(t, istio, "spec", "configPatches", 1, "patch", "value"), &routev3.VirtualHost{}, true)

	eg := docYAML(t, "Envoy Gateway")[0]
	patches := at(t, eg, "spec", "jsonPatches")
	asProto(t, "Envoy Gateway's cluster", at(t, patches, 0, "operation", "value"), &clusterv3.Cluster{}, false)
	asProto(t, "Envoy Gateway's filter", at(t, patches, 1, "operation", "value"), &hcmv3.HttpFilter{}, false)
	for i, rl := range at(t, patches, 2, "operation", "value").([]any) {
		asProto(t, "Envoy Gateway's rate_limits", rl, &routev3.RateLimit{}, false)
		_ = i
	}
}

// TestDocsSluiceConfig loads the configuration docs/envoy.md shows.
func TestDocsSluiceConfig(t *testing.T) {
	t.Parallel()
	v := docYAML(t, "Configure it")[0]
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseSluice("docs/envoy.md", b)
	if err != nil {
		t.Fatalf("the documented configuration does not load: %v", err)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}
