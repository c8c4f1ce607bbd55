package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to path (SQLite's
// VACUUM INTO: a snapshot taken in one read transaction, while the host
// goes on writing), checks it (PRAGMA integrity_check) and returns how
// many accounts it holds. The copy is written beside path and renamed into
// place once complete, mode 0600 (it holds password hashes); an existing
// path is refused, never overwritten.
//
// It is SQLite's alone: a PostgreSQL database is backed up with its own
// tools (pg_dump), which is said instead of copying anything.
func (s *Store) Backup(ctx context.Context, path string) (accounts int, err error) {
	if s.r.d != sqliteDialect {
		return 0, fmt.Errorf("store: backup: the database is PostgreSQL (%s): back it up with pg_dump", s.where)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return 0, fmt.Errorf("store: backup: %s exists already; give a new file", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	tmp := abs + ".partial"
	// VACUUM INTO writes into an empty file: made here, so that its mode
	// is 0600 from the start.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	defer os.Remove(tmp) // gone once renamed; a failed copy leaves nothing
	if err := s.vacuumInto(ctx, tmp); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	n, err := checkCopy(ctx, tmp)
	if err != nil {
		return 0, fmt.Errorf("store: backup: the copy: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return 0, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// vacuumInto copies the database into the empty file path on a
// connection of its own, opened read-only: the readers refuse VACUUM
// INTO (query_only), and on the writer it would hold up the game's writes
// for the whole copy.
func (s *Store) vacuumInto(ctx context.Context, path string) error {
	var file string
	if err := s.r.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", fileURI(file)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", path)
	return err
}

// checkCopy opens the database file at path read-only, runs SQLite's
// integrity check on it and counts its accounts.
func checkCopy(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", fileURI(path)+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return 0, err
	}
	if result != "ok" {
		return 0, fmt.Errorf("integrity check: %s", result)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}
