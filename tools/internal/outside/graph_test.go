package outside

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/tools/internal/modset"
)

func repo(t *testing.T) (*modset.Repo, *modset.Versions) {
	t.Helper()
	root, err := modset.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := modset.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := modset.ReadVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	return r, v
}

// The graph of go get github.com/sluicehq/sluice/adapters/chi, and the
// same with the require of testkit the adapters had before their
// conformance tests moved to adapters/conformance.
const (
	chiGraph = `example.com/sluiceuser github.com/sluicehq/sluice/adapters/chi@v0.9.0
example.com/sluiceuser go@1.26.8
github.com/sluicehq/sluice/adapters/chi@v0.9.0 github.com/go-chi/chi/v5@v5.5.0
github.com/sluicehq/sluice/adapters/chi@v0.9.0 github.com/sluicehq/sluice/core@v0.9.0
github.com/sluicehq/sluice/core@v0.9.0 github.com/dunglas/httpsfv@v1.1.2
github.com/sluicehq/sluice/core@v0.9.0 go.uber.org/goleak@v1.3.0
`
	chiWithTestkit = chiGraph + `github.com/sluicehq/sluice/adapters/chi@v0.9.0 github.com/sluicehq/sluice/testkit@v0.9.0
github.com/sluicehq/sluice/testkit@v0.9.0 github.com/sluicehq/sluice/core@v0.9.0
`
	chiWithRedis = chiGraph + `github.com/sluicehq/sluice/adapters/chi@v0.9.0 github.com/redis/go-redis/v9@v9.22.0
github.com/redis/go-redis/v9@v9.22.0 github.com/cespare/xxhash/v2@v2.3.0
`
	// A framework whose own go.mod requires a module another Sluice module
	// requires too, as grpc requires OpenTelemetry: every user of the
	// framework has it, Sluice or not.
	chiFrameworkRedis = chiGraph + `github.com/go-chi/chi/v5@v5.5.0 github.com/redis/go-redis/v9@v9.22.0
github.com/redis/go-redis/v9@v9.22.0 github.com/cespare/xxhash/v2@v2.3.0
`
)

func TestCheckGraph(t *testing.T) {
	r, v := repo(t)
	forbidden := Forbidden(r, v, "github.com/sluicehq/sluice/adapters/chi")
	tests := []struct {
		name, graph string
		want        []string
	}{
		{"adapter alone", chiGraph, nil},
		{"adapter requiring testkit", chiWithTestkit, []string{"github.com/sluicehq/sluice/testkit@v0.9.0"}},
		{"adapter bringing go-redis", chiWithRedis, []string{"github.com/redis/go-redis/v9@v9.22.0"}},
		{"the framework's own requirements", chiFrameworkRedis, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckGraph(tt.graph, forbidden); !slices.Equal(got, tt.want) {
				t.Errorf("CheckGraph = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestForbidden(t *testing.T) {
	r, v := repo(t)
	for _, a := range Adapters(v) {
		f := Forbidden(r, v, a)
		for _, want := range []string{
			"github.com/sluicehq/sluice/testkit",
			"github.com/sluicehq/sluice/backends/redis",
			"github.com/sluicehq/sluice/config",
			"github.com/sluicehq/sluice/jwt",
			"github.com/sluicehq/sluice/metrics",
			"github.com/sluicehq/sluice/adapters/conformance",
			"github.com/redis/go-redis/",
			"github.com/prometheus/",
			"github.com/spf13/viper",
			"github.com/golang-jwt/jwt/",
		} {
			if !slices.Contains(f, want) {
				t.Errorf("Forbidden(%s) lacks %s", a, want)
			}
		}
		for _, allowed := range []string{a, "github.com/sluicehq/sluice/core", "github.com/dunglas/httpsfv"} {
			if slices.Contains(f, allowed) {
				t.Errorf("Forbidden(%s) has %s, which the adapter needs", a, allowed)
			}
		}
	}
	if got := len(Adapters(v)); got != 6 {
		t.Errorf("%d published adapters, want 6 (net/http, chi, gin, echo v4 and v5, gRPC)", got)
	}
}
