package store

import (
	"path/filepath"
	"testing"

	"github.com/portico-mud/portico/core/store/pgtest"
)

// TestDB is one fresh, empty database of one backend, for one test. It is
// exported (from a test file, so only to this package's tests) for the
// external tests, which run the same suite.
type TestDB struct {
	// Backend is "sqlite" or "postgres".
	Backend string
	// Location is what Open takes: a file path or a postgres:// URL.
	Location string
}

// EachBackend runs fn as two subtests, sqlite and postgres, each with a
// fresh database of its own: the store's test suite runs against both.
// The postgres subtest uses the shared throwaway cluster (pgtest.Shared),
// which TestMain stops; without PostgreSQL's binaries it is skipped with
// the reason, or fails under CI.
func EachBackend(t *testing.T, fn func(t *testing.T, db TestDB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, TestDB{Backend: "sqlite", Location: filepath.Join(t.TempDir(), "data", "portico.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, TestDB{Backend: "postgres", Location: pgtest.Shared(t).Database(t)})
	})
}
