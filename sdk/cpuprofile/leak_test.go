package cpuprofile

import (
	"testing"

	"github.com/portico-mud/portico/sdk/leakcheck"
)

// TestMain fails the run when a goroutine the tests started outlives them.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
