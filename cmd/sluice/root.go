package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/spf13/cobra"
)

// env is what the commands read and write.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	json           bool // --json
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Check Sluice configuration and operate a running limiter",
		Long: `sluice checks Sluice configuration files, explains the decision a request
would get, and reads or changes a client's live state in the backend a file
configures.

Every command reads a configuration file (TOML, YAML or JSON, with the SLUICE_
environment overrides, as the server reads it), prints readable text, or JSON
with --json, and exits 0 on success, 1 when the file is invalid or the command
fails, and 2 for a command line it cannot run. See docs/cli.md.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print JSON instead of text, for scripts")
	root.AddCommand(checkCmd(e), explainCmd(e), peekCmd(e), resetCmd(e), unblockCmd(e))
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// requestFlags describe a request, as explain, peek, reset and unblock
// take it.
type requestFlags struct {
	method, path, route, remote, token string
	headers                            []string
}

func (f *requestFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.method, "method", "GET", "the request's HTTP method")
	fl.StringVar(&f.path, "path", "/", "the request's path")
	fl.StringVar(&f.route, "route", "", "the route template the framework matched, such as /users/{id}")
	fl.StringVar(&f.remote, "remote", "", "the connection's peer address, host:port (required for a request)")
	fl.StringArrayVar(&f.headers, "header", nil, "a request header, 'Name: value' (repeatable)")
	fl.StringVar(&f.token, "token", "", "a JWT, sent as the configured token header ('Authorization: Bearer ...' by default)")
}

// given reports whether any flag of a request was set.
func (f *requestFlags) given(cmd *cobra.Command) bool {
	for _, n := range []string{"method", "path", "route", "remote", "header", "token"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// request builds the core.Request; tokenHeader is the header the file's
// JWT settings read.
func (f *requestFlags) request(tokenHeader string) (core.Request, error) {
	if f.remote == "" {
		return core.Request{}, failf(2, "--remote is required: the address of the connection's peer, such as 203.0.113.7:5000")
	}
	h := http.Header{}
	for _, kv := range f.headers {
		name, value, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return core.Request{}, failf(2, fmt.Sprintf("--header %q: want 'Name: value'", kv))
		}
		h.Add(textproto.TrimString(name), textproto.TrimString(value))
	}
	if f.token != "" {
		h.Set(tokenHeader, "Bearer "+f.token)
	}
	return core.Request{Method: strings.ToUpper(f.method), Path: f.path, Route: f.route, RemoteAddr: f.remote, Header: h}, nil
}

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// seconds formats a time in seconds for humans, rounded up to a whole
// second as Retry-After is: "0s", "20s", "9m05s", "1h00m00s".
func seconds(s float64) string {
	n := int(math.Ceil(s))
	switch {
	case n >= 3600:
		return fmt.Sprintf("%dh%02dm%02ds", n/3600, n%3600/60, n%60)
	case n >= 60:
		return fmt.Sprintf("%dm%02ds", n/60, n%60)
	}
	return fmt.Sprintf("%ds", n)
}

// dur formats a duration without zero units: "10m", "1h", "1h30m", "1.5s".
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// table is a tabwriter whose lines end without padding.
type table struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
	out io.Writer
}

func newTable(out io.Writer) *table {
	t := &table{out: out}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the table, each line without trailing spaces.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(t.buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
		if strings.HasSuffix(l, "\n") {
			lines[i] += "\n"
		}
	}
	t.buf.Reset()
	_, err := io.WriteString(t.out, strings.Join(lines, ""))
	return err
}
