// Package outside checks Sluice the way a user meets it: from outside the
// repository, through the go command and a module proxy. Its tests pack
// every published module at its versions.yaml version into a file-based
// module proxy and, in fresh modules in a temporary directory, go get the
// adapters: each must bring only its framework, core and what they import
// (TestAdapterGraphs), and a one-line registration must limit a real
// server of each framework, and testkit's backend suite must run against a
// backend of the user's own (TestOutside).
//
// They download third-party modules, so they run only with
// SLUICE_OUTSIDE=1 (make outside); the rest of the package's tests always
// run.
package outside

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/tools/internal/modset"
)

// Heavy lists module path prefixes that must never reach a user who only
// go-gets an adapter: the dependencies of the other Sluice modules that
// make them worth a module of their own. Forbidden adds the direct
// requirements of those modules to them, so a new dependency is caught
// even before it is listed here.
var Heavy = []string{
	"github.com/redis/go-redis/",
	"github.com/prometheus/",
	"github.com/spf13/viper",
	"github.com/golang-jwt/jwt/",
	"github.com/MicahParks/jwkset",
}

// Forbidden returns the module paths (a trailing slash marks a prefix) that
// must not appear in the module graph of a user who go-gets the adapter
// module adapter: every other module of the repository except core, the
// Heavy prefixes, and the direct requirements of the other published
// modules, unless the adapter's or core's go.mod requires them too.
func Forbidden(r *modset.Repo, v *modset.Versions, adapter string) []string {
	const core = "github.com/sluicehq/sluice/core"
	allowed := map[string]bool{}
	for _, p := range []string{adapter, core} {
		if m := r.Module(p); m != nil {
			for _, req := range m.File.Require {
				allowed[req.Mod.Path] = true
			}
		}
	}
	var out []string
	for _, m := range r.Modules {
		if m.Path == adapter || m.Path == core {
			continue
		}
		out = append(out, m.Path)
		if v.SetOf(m.Path) == nil {
			continue
		}
		for _, req := range m.File.Require {
			if !req.Indirect && !allowed[req.Mod.Path] && r.Module(req.Mod.Path) == nil {
				out = append(out, req.Mod.Path)
			}
		}
	}
	out = append(out, Heavy...)
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckGraph reads the output of go mod graph and returns, sorted, every
// module in it that forbidden names (exactly, or by a prefix ending in a
// slash) and that the user's module or a Sluice module brings. What a
// third-party module requires (gRPC's OpenTelemetry, for one) is not
// checked: the adapter's framework brings it to every one of its users,
// with Sluice or without.
func CheckGraph(graph string, forbidden []string) []string {
	var bad []string
	for _, line := range strings.Split(graph, "\n") {
		nodes := strings.Fields(line)
		if len(nodes) == 0 || !bySluiceOrUser(nodes[0]) {
			continue
		}
		for _, node := range nodes {
			path, _, _ := strings.Cut(node, "@")
			if matches(path, forbidden) {
				bad = append(bad, node)
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

// bySluiceOrUser reports whether a node of go mod graph is the main module
// (the user's, which has no version) or a Sluice module.
func bySluiceOrUser(node string) bool {
	path, _, versioned := strings.Cut(node, "@")
	return !versioned || strings.HasPrefix(path, "github.com/sluicehq/")
}

func matches(path string, forbidden []string) bool {
	for _, f := range forbidden {
		if path == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(path, f)) || path == strings.TrimSuffix(f, "/") {
			return true
		}
	}
	return false
}

// Adapters returns the published adapter modules.
func Adapters(v *modset.Versions) []string {
	var out []string
	for _, p := range v.Published() {
		if strings.HasPrefix(p, "github.com/sluicehq/sluice/adapters/") {
			out = append(out, p)
		}
	}
	return out
}

// Explain formats CheckGraph's findings for a test failure.
func Explain(adapter string, bad []string) string {
	return fmt.Sprintf("go get %s brings modules no adapter user should get:\n\t%s", adapter, strings.Join(bad, "\n\t"))
}
