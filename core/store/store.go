// Package store holds the persistent state of the Portico host: accounts,
// characters and counters. It is backed by SQLite by default, through the
// pure-Go driver modernc.org/sqlite.
//
// The database runs in WAL mode with synchronous=FULL, so that nothing whose
// write was acknowledged is lost on a crash or power failure, with foreign
// keys enforced and a busy timeout of five seconds. Several processes may
// open the same file at once (the host, and the `portico account create`
// command beside it): every write transaction starts with BEGIN IMMEDIATE,
// so writers queue for SQLite's single write lock instead of failing halfway
// through.
//
// The schema is created and upgraded by the SQL files under migrations/,
// embedded in the binary and applied in order by Open.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
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

// busyTimeoutMS is how long a connection waits for a lock another connection
// or process holds before it gives up with SQLITE_BUSY.
const busyTimeoutMS = 5000

// maxReaders bounds the read connection pool. WAL lets readers run beside the
// one writer; a few connections are plenty for a game host.
const maxReaders = 4

// Options configures Open.
type Options struct {
	// Argon2 holds the argon2id parameters for new password hashes; zero
	// fields mean the defaults (OWASP: 19456 KiB, 2 passes, 1 thread,
	// 32-byte key, 16-byte salt).
	Argon2 Argon2Params
}

// Store is an open Portico database. It is safe for concurrent use by
// multiple goroutines, and other processes may have the same file open.
type Store struct {
	// w is the write pool: one connection, whose transactions begin
	// IMMEDIATE. One connection per process means the process's writers
	// queue in database/sql rather than spin in SQLite's busy handler.
	w *sql.DB
	// r is the read pool: query_only connections for plain lookups, which
	// in WAL mode never wait for the writer.
	r *sql.DB

	params Argon2Params
	// dummyHash is verified against when a name is unknown, so that an
	// unknown name costs the same argon2 work as a wrong password.
	dummyHash string
	// verify is VerifyPassword; tests replace it to observe calls.
	verify func(encoded, password string) (bool, error)
	// hashes counts the argon2 computations made (PasswordHashes).
	hashes atomic.Int64
}

// Open opens, creating it if need be, the SQLite database at path and brings
// its schema up to date. A missing parent directory is created with mode
// 0700 and a missing database file with mode 0600 (it holds password
// hashes). Open refuses a database whose schema is newer than this build
// knows. Re-opening an up-to-date database changes nothing.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: empty database path")
	}
	params := opts.Argon2.withDefaults()
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Create the file ourselves so that it, and the -wal and -shm files
	// SQLite gives the same mode, are not world-readable. An empty file is
	// a valid empty database.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	uri := fileURI(abs)
	pragmas := "_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)"

	// The writer sets WAL (a persistent property of the file) before any
	// reader connects.
	w, err := sql.Open("sqlite", uri+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	migs, err := loadMigrations(migrationFiles)
	if err == nil {
		err = migrate(ctx, w, migs)
	}
	if err == nil {
		err = checkJournalMode(ctx, w)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", uri+"?"+pragmas+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	return &Store{
		w:         w,
		r:         r,
		params:    params,
		dummyHash: encodeHash(params, make([]byte, saltLen), make([]byte, keyLen)),
		verify:    VerifyPassword,
	}, nil
}

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
	if err := errors.Join(s.r.Close(), s.w.Close()); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// fileURI turns an absolute file path into a SQLite "file:" URI. Bytes that
// mean something in a URI (%, ?, #) or could confuse it are percent-encoded,
// which SQLite decodes; the driver reads its own parameters from the query
// that follows.
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:/C:/...
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '/', c == '-', c == '_', c == '.', c == '~', c == ':':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

// checkJournalMode confirms that the database really is in WAL mode: SQLite
// silently keeps another mode where WAL is impossible.
func checkJournalMode(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step, read from migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations reads the migrations under migrations/ in fsys, sorted by
// version. Every .sql file must be named NNNN_name.sql and versions must be
// unique.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
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
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
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
// list, each in its own IMMEDIATE transaction together with its
// schema_migrations row. The check is repeated inside the transaction, so
// two processes opening a new database at once apply each step once.
//
// A migration runs with foreign keys enforced, since PRAGMA foreign_keys
// cannot change inside a transaction: one that rebuilds a table must keep
// the references valid at every statement.
func migrate(ctx context.Context, db *sql.DB, migs []migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
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

// applyMigration applies m unless it has been applied already.
func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?", m.version).Scan(&one); {
	case err == nil:
		return nil // already applied
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
