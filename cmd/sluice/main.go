// Command sluice checks Sluice configuration files, explains the decision
// a request would get, and reads or changes a client's live state in the
// backend a file configures, for support and incident work.
//
//	sluice check FILE
//	sluice explain FILE --method POST --path /login --remote 203.0.113.7:5000
//	sluice peek|reset|unblock FILE --rule R --key K
//
// Every command prints readable text, or JSON with --json, and describes
// itself with --help; docs/cli.md is the manual. The exit code is 0 on
// success, 1 when a file is invalid or a command fails, and 2 for a
// command line it cannot run.
package main

import (
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run runs the command line args and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(&env{stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if e, ok := err.(exitError); ok {
		if e.msg != "" {
			io.WriteString(stderr, "sluice: "+e.msg+"\n")
		}
		return e.code
	}
	// cobra's own errors: an unknown command or flag, a missing argument.
	io.WriteString(stderr, "sluice: "+err.Error()+"\n")
	io.WriteString(stderr, "Run 'sluice --help' for usage.\n")
	return 2
}

// exitError ends a command with an exit code and a message for stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func failf(code int, msg string) error { return exitError{code: code, msg: msg} }
