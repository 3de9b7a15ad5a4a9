//go:build !unix

package sluiceconfig

import "os"

// notifyHUP does nothing where there is no SIGHUP; file watching and
// Watcher.Reload still work.
func notifyHUP(chan<- os.Signal) {}
