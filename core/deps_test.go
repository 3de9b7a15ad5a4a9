package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRootPackageImportsOnlyStdlib keeps package core free of third-party
// dependencies: everything it imports, transitively, is the standard library
// or core's own packages.
func TestRootPackageImportsOnlyStdlib(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, "github.com/sluicehq/sluice/core") {
			t.Errorf("package core depends on %s, which is not in the standard library", pkg)
		}
	}
}
