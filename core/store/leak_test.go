package store

import (
	"testing"

	"github.com/portico-mud/portico/core/store/pgtest"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine the tests started outlives them,
// and stops the PostgreSQL cluster the tests shared (before the check: it
// has a goroutine of its own).
func TestMain(m *testing.M) {
	leakcheck.Main(pgtest.MainWithShared(m))
}
