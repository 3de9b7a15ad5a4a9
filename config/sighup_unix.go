//go:build unix

package sluiceconfig

import (
	"os"
	"os/signal"
	"syscall"
)

func notifyHUP(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }
