// Command report turns the output of the comparison benchmarks (package
// bench) into docs/performance.md and a chart, docs/performance.png.
//
//	go test -run '^$' -bench . -count 6 . > out/compare.txt
//	go run ./cmd/report -in out/compare.txt -md ../docs/performance.md -png ../docs/performance.png
//
// Every number in the page comes from the results or from the machine:
// medians and their confidence intervals as benchstat computes them, Go's
// version from `go version`, the CPU from /proc/cpuinfo, and each
// library's version from this program's build information, which is the
// module graph the benchmarks were built with. `make bench-compare` at the
// workspace root runs the whole pipeline.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench"
)

func main() {
	in := flag.String("in", "out/compare.txt", "benchmark output to read")
	md := flag.String("md", "../docs/performance.md", "markdown page to write")
	png := flag.String("png", "../docs/performance.png", "chart to write")
	started := flag.Int64("started", 0, "Unix time the benchmarks started, to state how long they took (0: not stated)")
	benchtime := flag.String("benchtime", "", "the -benchtime of the throughput workloads, to state it (empty: not stated)")
	var sections []string
	flag.Func("append", "a Markdown file another comparison wrote, appended to the page as it is (repeatable; a missing file is an error)", func(s string) error {
		sections = append(sections, s)
		return nil
	})
	flag.Parse()
	if err := run(*in, *md, *png, *started, *benchtime, sections); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, md, png string, started int64, benchtime string, sections []string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	res, err := Parse(f, in)
	f.Close()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	meta := Meta{
		Date:      now,
		GoVersion: goVersion(),
		GOOS:      orDefault(res.Config["goos"], runtime.GOOS),
		GOARCH:    orDefault(res.Config["goarch"], runtime.GOARCH),
		CPU:       cpuModel(res.Config["cpu"]),
		Cores:     runtime.NumCPU(),
		Libraries: libraries(moduleVersions()),
		Chart:     filepath.Base(png),
		Benchtime: benchtime,
	}
	if started > 0 {
		meta.Elapsed = now.Sub(time.Unix(started, 0)).Round(time.Second)
	}
	chart, err := Chart(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(png, chart, 0o644); err != nil {
		return err
	}
	page := Markdown(res, meta)
	for _, s := range sections {
		b, err := os.ReadFile(s)
		if err != nil {
			return err
		}
		page = append(append(page, '\n'), b...)
	}
	return os.WriteFile(md, page, 0o644)
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return def
}

// goVersion returns what `go version` prints, or this program's Go
// version when the go command cannot be run.
func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

// cpuModel returns the CPU model from /proc/cpuinfo, with the name the
// benchmark output gave (Go's cpu line, reported) when it differs.
func cpuModel(reported string) string {
	reported = strings.TrimSpace(reported)
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	switch {
	case model == "" && reported == "":
		return "unknown"
	case model == "":
		return reported
	case reported == "" || reported == model:
		return model
	}
	return fmt.Sprintf("%s (/proc/cpuinfo); Go reports %q", model, reported)
}

// moduleVersions returns the version of every module this program was
// built with. A module of the workspace, or replaced by a directory, as
// Sluice's own modules are, is described by the workspace's git commit.
func moduleVersions() map[string]string {
	out := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	local := workspaceVersion()
	for _, d := range bi.Deps {
		switch {
		case d.Version == "(devel)" || d.Replace != nil && d.Replace.Version == "":
			out[d.Path] = local
		case d.Replace != nil:
			out[d.Path] = d.Replace.Version
		default:
			out[d.Path] = d.Version
		}
	}
	return out
}

// workspaceVersion describes the checked-out workspace: its commit, and
// whether files differ from it.
func workspaceVersion() string {
	rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "this workspace"
	}
	v := "this workspace at " + strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// libraries describes each library of the comparison, with its version
// from versions.
func libraries(versions map[string]string) []Library {
	var out []Library
	find := func(name string) *Library {
		for i := range out {
			if out[i].Name == name {
				return &out[i]
			}
		}
		out = append(out, Library{Name: name})
		return &out[len(out)-1]
	}
	for _, c := range bench.Memory {
		l := find(c.Name)
		l.Module, l.Memory = c.Module, c.Algorithm
	}
	for _, c := range bench.Redis {
		l := find(c.Name)
		l.Redis = c.Algorithm
		if l.Module == "" {
			l.Module = c.Module
		}
		if c.Module != l.Module {
			l.RedisModule = c.Module
		}
	}
	for i := range out {
		out[i].Version = orDefault(versions[out[i].Module], "unknown")
		if m := out[i].RedisModule; m != "" {
			out[i].RedisVersion = orDefault(versions[m], "unknown")
		}
	}
	return out
}

// itoa formats n with thousands separators.
func itoa(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
