package sluiceredis

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: clients, servers
// and proxies are all stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
