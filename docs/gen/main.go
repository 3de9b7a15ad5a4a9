// Command gen generates what the docs show and could otherwise go stale.
//
// It rewrites every Go code block of docs/*.md and README.md from the
// compiled file region its snippet marker names (see snippets.go), so that
// the docs show exactly what go test compiles and runs.
//
// It draws the pictures of docs/algorithms.md: the same bursty traffic from
// one client, decided by a real core.Limiter on a fake clock under each
// algorithm, with every request's outcome and the number admitted in the
// trailing period. It writes docs/img/algorithms.png (every algorithm,
// aligned) and one PNG per algorithm.
//
// Run it from this directory (make docs does):
//
//	go run .
//
// The output is deterministic: the same source gives the same bytes. Its
// tests fail when the docs or the pictures are stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", filepath.Join("..", "img"), "the directory to write the PNG files to")
	root := flag.String("root", filepath.Join("..", ".."), "the repository whose Markdown files to rewrite from their snippets")
	flag.Parse()
	problems, err := syncDocs(*root, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "gen:", p)
	}
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// generate simulates the traffic under every algorithm and writes the
// pictures into dir.
func generate(dir string) error {
	at := arrivals(traffic)
	runs := make([]run, 0, len(algorithms))
	for _, alg := range algorithms {
		r, err := simulate(alg, limit, at)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range runs {
		b, err := renderPanel(r)
		if err != nil {
			return fmt.Errorf("%v: %w", r.Algorithm, err)
		}
		if err := writeFile(filepath.Join(dir, r.Algorithm.String()+".png"), b); err != nil {
			return err
		}
	}
	b, err := renderAll(runs)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "algorithms.png"), b)
}
