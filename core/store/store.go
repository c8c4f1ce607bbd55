// Package store holds the persistent state of the Portico host: accounts,
// characters, channels, bots, SSH keys, bans, the session-id high-water
// mark, the host's login records and a game's attributes.
//
// *Store is the one type a game sees, whatever the database behind it:
// SQLite by default (a file, through the pure-Go driver modernc.org/sqlite),
// or PostgreSQL (through github.com/jackc/pgx/v5) where one machine is
// outgrown. Open picks the backend from its location. Both run the same
// queries and the same transactions; what differs between them (the
// placeholder style, how a writer takes the write lock, the schema's DDL)
// is an unexported dialect. The store is a concrete type and not an
// interface on purpose: it has one implementation with two SQL dialects,
// the differences are in SQL and not in Go logic, and a Go interface of its
// forty-odd methods would only make every addition a breaking change for
// anyone implementing it.
//
// On SQLite the database runs in WAL mode with synchronous=FULL, so that
// nothing whose write was acknowledged is lost on a crash or power failure,
// with foreign keys enforced and a busy timeout of five seconds. Several
// processes may open the same file at once (the host, and the `portico
// account create` command beside it): every write transaction starts with
// BEGIN IMMEDIATE, so writers queue for SQLite's single write lock instead
// of failing halfway through. On PostgreSQL every write transaction first
// takes one advisory lock, to the same effect (see postgresDialect), and
// durability is the server's (synchronous_commit, replication).
//
// The schema is created and upgraded by the SQL files under migrations/
// (SQLite) and migrations/postgres/ (the same steps, with the same numbers,
// for PostgreSQL), embedded in the binary and applied in order by Open.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Sentinel errors. The store returns them wrapped with context; test for
// them with errors.Is.
var (
	// ErrNameTaken means an account or character of that name, in any
	// letter case, already exists.
	ErrNameTaken = errors.New("name taken")
	// ErrNotFound means no row has the id or name asked for.
	ErrNotFound = errors.New("not found")
	// ErrBadCredentials means the name is unknown or the password is
	// wrong; the two are deliberately not told apart.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrInvalidName means a name breaks the naming rules (see ValidateName).
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidPassword means a password breaks the password rules (see
	// ValidatePassword).
	ErrInvalidPassword = errors.New("invalid password")
)

// Options configures Open.
type Options struct {
	// Argon2 holds the argon2id parameters for new password hashes; zero
	// fields mean the defaults (OWASP: 19456 KiB, 2 passes, 1 thread,
	// 32-byte key, 16-byte salt).
	Argon2 Argon2Params
}

// Store is an open Portico database. It is safe for concurrent use by
// multiple goroutines, and other processes may have the same database open.
type Store struct {
	// w is the write pool. On SQLite it is one connection, whose
	// transactions begin IMMEDIATE: one connection per process means the
	// process's writers queue in database/sql rather than spin in SQLite's
	// busy handler. On PostgreSQL it is the one pool, whose transactions
	// take the write lock.
	w *conn
	// r is the read pool for plain lookups: on SQLite query_only
	// connections, which in WAL mode never wait for the writer; on
	// PostgreSQL the same pool as w.
	r *conn
	// where names the database for messages (never with a password).
	where string

	params Argon2Params
	// dummyHash is verified against when a name is unknown, so that an
	// unknown name costs the same argon2 work as a wrong password.
	dummyHash string
	// verify is VerifyPassword; tests replace it to observe calls.
	verify func(encoded, password string) (bool, error)
	// hashes counts the argon2 computations made (PasswordHashes).
	hashes atomic.Int64
}

// Open opens the database at location and brings its schema up to date.
// location is either a postgres:// (or postgresql://) URL, which opens
// that PostgreSQL database (see OpenPostgres), or the path of an SQLite
// file, created if need be (see OpenSQLite). Open refuses a database whose
// schema is newer than this build knows. Re-opening an up-to-date database
// changes nothing.
func Open(location string, opts Options) (*Store, error) {
	if IsPostgres(location) {
		return OpenPostgres(location, opts)
	}
	return OpenSQLite(location, opts)
}

// IsPostgres reports whether location names a PostgreSQL database: a URL
// whose scheme is postgres or postgresql.
func IsPostgres(location string) bool {
	scheme, _, ok := strings.Cut(location, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// newStore finishes opening: it brings the schema up to date through w
// and returns the Store.
func newStore(ctx context.Context, w, r *conn, where string, params Argon2Params) (*Store, error) {
	migs, err := loadMigrations(migrationFiles, w.d.migrations)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, w, migs); err != nil {
		return nil, err
	}
	return &Store{
		w:         w,
		r:         r,
		where:     where,
		params:    params,
		dummyHash: encodeHash(params, make([]byte, saltLen), make([]byte, keyLen)),
		verify:    VerifyPassword,
	}, nil
}

// String names the database: its backend and where it is, never a
// password. The host logs it at start.
func (s *Store) String() string { return s.w.d.name + " " + s.where }

// PasswordHashes returns how many argon2 computations (password hashes
// and verifications) this Store has made since it was opened: the cost
// that throttles and name checks exist to keep down.
func (s *Store) PasswordHashes() int64 { return s.hashes.Load() }

// hashPassword is HashPassword with the Store's parameters, counted.
func (s *Store) hashPassword(password string) (string, error) {
	s.hashes.Add(1)
	return HashPassword(password, s.params)
}

// verifyPassword is s.verify, counted.
func (s *Store) verifyPassword(encoded, password string) (bool, error) {
	s.hashes.Add(1)
	return s.verify(encoded, password)
}

// Close closes the database. Calls in flight may fail; calls after Close
// return an error.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r.db != s.w.db {
		err = errors.Join(s.r.Close(), err)
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// migrationFiles holds both dialects' migrations: SQLite's in
// migrations/, PostgreSQL's in migrations/postgres/, with the same
// versions and names (a test keeps them in step).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one schema step, read from NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads the migrations in folder dir of fsys, sorted by
// version. Every .sql file must be named NNNN_name.sql and versions must be
// unique.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var migs []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: %s: name must be NNNN_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if version == 0 {
			return nil, fmt.Errorf("migrations: %s: versions start at 0001", e.Name())
		}
		body, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		migs = append(migs, migration{version: version, name: m[2], sql: string(body)})
	}
	slices.SortFunc(migs, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(migs); i++ {
		if migs[i].version == migs[i-1].version {
			return nil, fmt.Errorf("migrations: version %04d appears twice", migs[i].version)
		}
	}
	return migs, nil
}

// migrate applies, in order, each migration that schema_migrations does not
// list, each in its own write transaction together with its
// schema_migrations row. The check is repeated inside the transaction, so
// two processes opening a new database at once apply each step once.
//
// On SQLite a migration runs with foreign keys enforced, since PRAGMA
// foreign_keys cannot change inside a transaction: one that rebuilds a
// table must keep the references valid at every statement.
func migrate(ctx context.Context, db *conn, migs []migration) error {
	// Created in a write transaction: PostgreSQL's CREATE TABLE IF NOT
	// EXISTS is not safe against another process doing the same at once,
	// and the write lock makes the two take turns.
	if err := inWriteTx(ctx, db, func(tx *txn) error {
		_, err := tx.tx.ExecContext(ctx, db.d.schemaMigrations)
		return err
	}); err != nil {
		return fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	known := 0
	if len(migs) > 0 {
		known = migs[len(migs)-1].version
	}
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if newest.Valid && newest.Int64 > int64(known) {
		return fmt.Errorf("migrations: database schema version %d is newer than this build knows (%d)",
			newest.Int64, known)
	}
	for _, m := range migs {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("migrations: %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// inWriteTx runs fn in a write transaction of db and commits it if fn
// returns nil.
func inWriteTx(ctx context.Context, db *conn, fn func(tx *txn) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// applyMigration applies m unless it has been applied already.
func applyMigration(ctx context.Context, db *conn, m migration) error {
	return inWriteTx(ctx, db, func(tx *txn) error {
		var one int
		switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?", m.version).Scan(&one); {
		case err == nil:
			return nil // already applied
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// The migration's text goes to the database as written: it is in
		// the dialect's own SQL, and has no parameters to rewrite.
		if _, err := tx.tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UnixMilli())
		return err
	})
}
