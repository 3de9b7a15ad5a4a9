// Command gen draws the pictures of docs/algorithms.md: the same bursty
// traffic from one client, decided by a real core.Limiter on a fake clock
// under each algorithm, with every request's outcome and the number
// admitted in the trailing period.
//
// Run it from this directory (make docs does):
//
//	go run .
//
// It writes docs/img/algorithms.png (every algorithm, aligned) and one
// PNG per algorithm. The output is deterministic: the same source gives the
// same bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", filepath.Join("..", "img"), "the directory to write the PNG files to")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
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
