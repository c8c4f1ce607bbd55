package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine outlives the tests: every bot
// must stop, and every connection (gateway and REST) end with it.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
