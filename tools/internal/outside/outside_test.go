package outside

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/tools/internal/modset"
	"github.com/sluicehq/sluice/tools/internal/proxy"
)

// gate is the variable that turns on the tests that use the go command
// and the network.
const gate = "SLUICE_OUTSIDE"

// userModule is the module path of every fresh module the tests create.
const userModule = "example.com/sluiceuser"

// world is what the gated tests share: the repository, a file proxy with
// every published module, and the environment of a user's go command.
type world struct {
	repo     *modset.Repo
	versions *modset.Versions
	tmp      string   // removed by TestMain
	proxy    string   // the file proxy's directory
	env      []string // for the go command in a fresh module
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		os.RemoveAll(theWorld.tmp)
	}
	os.Exit(code)
}

// setup skips the test unless SLUICE_OUTSIDE=1, and packs the proxy once.
func setup(t *testing.T) *world {
	t.Helper()
	if os.Getenv(gate) != "1" {
		t.Skipf("set %s=1 (make outside) to run the tests that go get Sluice from a module proxy", gate)
	}
	worldOnce.Do(func() { theWorld, worldErr = newWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func newWorld() (*world, error) {
	start := time.Now()
	root, err := modset.FindRoot(".")
	if err != nil {
		return nil, err
	}
	r, err := modset.Load(root)
	if err != nil {
		return nil, err
	}
	v, err := modset.ReadVersions(root)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "sluice-outside-")
	if err != nil {
		return nil, err
	}
	w := &world{repo: r, versions: v, tmp: tmp, proxy: filepath.Join(tmp, "proxy")}
	var mods []proxy.Module
	for _, p := range v.Published() {
		m := r.Module(p)
		mods = append(mods, proxy.Module{Path: p, Version: v.SetOf(p).Version, Dir: filepath.Join(root, filepath.FromSlash(m.Dir))})
	}
	if err := proxy.Write(w.proxy, mods); err != nil {
		return nil, err
	}
	// Third-party modules come from this machine's module cache when it
	// has them (its download directory is laid out as a proxy), else from
	// the real proxy. The user's module cache is new, so no Sluice module
	// from an earlier run (the same version, other contents) is reused;
	// -trimpath keeps the build cache's entries for the third-party
	// packages valid across those new module caches.
	goproxy := []string{proxy.URL(w.proxy)}
	modcache := filepath.Join(tmp, "modcache")
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if dl := filepath.Join(strings.TrimSpace(string(out)), "cache", "download"); isDir(dl) {
			goproxy = append(goproxy, proxy.URL(dl))
		}
	}
	goproxy = append(goproxy, "https://proxy.golang.org")
	w.env = append(os.Environ(),
		"GOWORK=off", // the temporary directory is outside the repository, but be sure
		"GOPROXY="+strings.Join(goproxy, ","),
		"GONOSUMDB=github.com/sluicehq", // not in sum.golang.org; third-party modules are still checked
		"GOPRIVATE=", "GONOPROXY=", "GONOSUMCHECK=",
		"GOFLAGS=-mod=mod -modcacherw -trimpath -buildvcs=false",
		"GOMODCACHE="+modcache,
		"GOTOOLCHAIN=local",
	)
	fmt.Fprintf(os.Stderr, "outside: packed %d modules into %s in %v\n", len(mods), w.proxy, time.Since(start).Round(time.Millisecond))
	return w, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// newUserModule creates an empty module, as go mod init does for a user.
func (w *world) newUserModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w.goCmd(t, dir, "mod", "init", userModule)
	return dir
}

// goCmd runs the go command in dir with the user's environment, and
// returns its standard output; it fails the test on an error.
func (w *world) goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	cmd.Env = w.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out)
}

func (w *world) version(modPath string) string {
	return w.versions.SetOf(modPath).Version
}

// TestAdapterGraphs go-gets each adapter into a fresh module and checks
// that its module graph holds no other Sluice module than core, and none
// of the other modules' heavy dependencies.
func TestAdapterGraphs(t *testing.T) {
	w := setup(t)
	adapters := Adapters(w.versions)
	if len(adapters) < 6 {
		t.Fatalf("published adapters %v; want net/http, chi, gin, echo v4 and v5, and gRPC", adapters)
	}
	for _, a := range adapters {
		t.Run(filepath.Base(a), func(t *testing.T) {
			dir := w.newUserModule(t)
			w.goCmd(t, dir, "get", a+"@"+w.version(a))
			graph := w.goCmd(t, dir, "mod", "graph")
			if !strings.Contains(graph, "github.com/sluicehq/sluice/core@"+w.version("github.com/sluicehq/sluice/core")) {
				t.Fatalf("go mod graph has no core at %s:\n%s", w.version("github.com/sluicehq/sluice/core"), graph)
			}
			if bad := CheckGraph(graph, Forbidden(w.repo, w.versions, a)); len(bad) > 0 {
				t.Error(Explain(a, bad))
			}
		})
	}
}

// TestAdapterRequiringTestkitFails packs the net/http adapter with a
// require of testkit added to its go.mod, as the adapters had before
// their conformance tests moved out, and checks that TestAdapterGraphs'
// check catches it in a real go mod graph.
func TestAdapterRequiringTestkitFails(t *testing.T) {
	w := setup(t)
	const (
		adapter = "github.com/sluicehq/sluice/adapters/nethttp"
		testkit = "github.com/sluicehq/sluice/testkit"
		broken  = "v0.0.0-broken.requires.testkit" // a version of its own: the module cache is shared
	)
	src := w.repo.Module(adapter)
	dir := filepath.Join(t.TempDir(), "nethttp")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(w.repo.Root, filepath.FromSlash(src.Dir)))); err != nil {
		t.Fatal(err)
	}
	gomod := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	data = fmt.Appendf(data, "\nrequire %s %s\n", testkit, w.version(testkit))
	if err := os.WriteFile(gomod, data, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Write(w.proxy, []proxy.Module{{Path: adapter, Version: broken, Dir: dir}}); err != nil {
		t.Fatal(err)
	}
	user := w.newUserModule(t)
	w.goCmd(t, user, "get", adapter+"@"+broken)
	bad := CheckGraph(w.goCmd(t, user, "mod", "graph"), Forbidden(w.repo, w.versions, adapter))
	if !slices.Contains(bad, testkit+"@"+w.version(testkit)) {
		t.Fatalf("the graph check passed an adapter that requires testkit (found %v)", bad)
	}
}

// TestOutside is the README's promise, checked from a fresh module: go get
// of each adapter at the release version, one line of registration limits
// a real server of each framework (200, then 429), and testkit's backend
// suite runs against the user's own backend.
func TestOutside(t *testing.T) {
	w := setup(t)
	user := w.newUserModule(t)
	if err := os.CopyFS(user, os.DirFS("testdata/consumer")); err != nil {
		t.Fatal(err)
	}
	get := []string{"get"}
	for _, a := range Adapters(w.versions) {
		get = append(get, a+"@"+w.version(a))
	}
	const testkit = "github.com/sluicehq/sluice/testkit"
	get = append(get, testkit+"@"+w.version(testkit))
	w.goCmd(t, user, get...)
	w.goCmd(t, user, "mod", "tidy")

	// Every Sluice module comes from the proxy at its release version,
	// not from a replace or a local directory.
	for _, line := range strings.Split(strings.TrimSpace(w.goCmd(t, user, "list", "-m", "-f", "{{.Path}} {{.Version}} {{if .Replace}}replaced{{end}}", "all")), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "github.com/sluicehq/") {
			continue
		}
		if want := w.version(f[0]); f[1] != want || len(f) > 2 {
			t.Errorf("go list -m: %s; want %s at %s from the proxy", line, f[0], want)
		}
	}

	bin := filepath.Join(t.TempDir(), "server")
	w.goCmd(t, user, "build", "-o", bin, ".")
	for _, fw := range []string{"nethttp", "chi", "gin", "echo", "echov5"} {
		t.Run(fw, func(t *testing.T) {
			addr := startServer(t, bin, fw)
			for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
				if got := get1(t, "http://"+addr+"/hello"); got != want {
					t.Fatalf("request %d to the %s server: status %d, want %d", i+1, fw, got, want)
				}
			}
		})
	}

	out := w.goCmd(t, user, "test", "-count=1", "-v", "-run", "^TestBackend$", ".")
	if !strings.Contains(out, "--- PASS: TestBackend") {
		t.Errorf("the backend suite did not pass:\n%s", out)
	}
	t.Logf("backend suite: %d subtests passed", strings.Count(out, "--- PASS:")-1)
}

// startServer runs the user's server for one framework and returns its
// address once it listens.
func startServer(t *testing.T, bin, framework string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, framework)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, "listening on ")
		if !ok || !found {
			cancel()
			cmd.Wait()
			t.Fatalf("the %s server did not start: %q\n%s", framework, line, stderr.String())
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatalf("the %s server did not print its address in 30s\n%s", framework, stderr.String())
		return ""
	}
}

func get1(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
