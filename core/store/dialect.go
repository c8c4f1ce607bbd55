package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// dialect is what differs between the two databases the store runs on.
// Everything else — the queries, the transactions, the Go API — is one code
// path: the queries are written once, in SQL both understand (RETURNING,
// ON CONFLICT, CAST, and the collation nocase, which the PostgreSQL schema
// defines under SQLite's name), with SQLite's placeholders, which conn
// rewrites for PostgreSQL.
type dialect struct {
	// name is "sqlite" or "postgres".
	name string
	// dollar means placeholders are written $1, $2, …: ? and ?N are
	// rewritten.
	dollar bool
	// writeLock, when set, is the first statement of every write
	// transaction (see postgresWriteLock).
	writeLock string
	// migrations is the folder of the dialect's migrations in
	// migrationFiles.
	migrations string
	// schemaMigrations creates the table that records the applied
	// migrations, if it does not exist.
	schemaMigrations string
}

// sqliteDialect is SQLite's: the queries as written. Its write
// transactions begin IMMEDIATE (the write pool's _txlock), which takes the
// database's one write lock at once.
var sqliteDialect = &dialect{
	name:       "sqlite",
	migrations: "migrations",
	schemaMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
}

// postgresWriteLockKey names the advisory lock that every write
// transaction on PostgreSQL takes first: "portico" in ASCII. Advisory
// locks belong to one database, so two games sharing a server do not
// contend.
const postgresWriteLockKey = 0x706f727469636f

// postgresDialect is PostgreSQL's. Its write transactions take one
// transaction-scoped advisory lock before anything else, which makes them
// one at a time as SQLite's BEGIN IMMEDIATE does. The store's code reads
// and then writes inside a transaction in several places (a name checked
// against both accounts and characters before the insert, the session-id
// high-water mark read and advanced): under READ COMMITTED two of those
// could interleave and hand out one id twice, and SERIALIZABLE would make
// them fail and need retrying instead. One lock keeps every such
// transaction correct as written, with no retry loop; a game's write rate
// is far below what one lock serves. Plain reads take no lock.
var postgresDialect = &dialect{
	name:       "postgres",
	dollar:     true,
	writeLock:  "SELECT pg_advisory_xact_lock(" + strconv.Itoa(postgresWriteLockKey) + ")",
	migrations: "migrations/postgres",
	schemaMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`,
}

// rebind rewrites query, written with SQLite's placeholders (? and ?N), for
// d. Question marks inside quoted strings and identifiers are left alone.
func (d *dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote character of the literal we are in, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: still right
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(query) && '0' <= query[j] && query[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(query[i+1 : j]) // ?N is $N
				i = j - 1
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// conn is a database/sql pool seen through the store's dialect: it
// rewrites each query for the database, and a write pool's transactions
// take the dialect's write lock. Its methods are database/sql's.
type conn struct {
	db *sql.DB
	d  *dialect
	// writer marks the pool whose transactions write.
	writer bool
}

// ExecContext is sql.DB's, with the query rewritten for the dialect.
func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, c.d.rebind(query), args...)
}

// QueryContext is sql.DB's, with the query rewritten for the dialect.
func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.d.rebind(query), args...)
}

// QueryRowContext is sql.DB's, with the query rewritten for the dialect.
func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// PingContext is sql.DB's.
func (c *conn) PingContext(ctx context.Context) error { return c.db.PingContext(ctx) }

// Close is sql.DB's.
func (c *conn) Close() error { return c.db.Close() }

// BeginTx begins a transaction; on the write pool it first takes the
// dialect's write lock, so that the transaction runs alone among writers.
func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	tx, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if c.writer && c.d.writeLock != "" {
		if _, err := tx.ExecContext(ctx, c.d.writeLock); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return &txn{tx: tx, d: c.d}, nil
}

// txn is a transaction seen through the store's dialect, as conn is a
// pool.
type txn struct {
	tx *sql.Tx
	d  *dialect
}

// ExecContext is sql.Tx's, with the query rewritten for the dialect.
func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(query), args...)
}

// QueryContext is sql.Tx's, with the query rewritten for the dialect.
func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(query), args...)
}

// QueryRowContext is sql.Tx's, with the query rewritten for the dialect.
func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(query), args...)
}

// PrepareContext is sql.Tx's, with the query rewritten for the dialect.
func (t *txn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, t.d.rebind(query))
}

// Commit is sql.Tx's.
func (t *txn) Commit() error { return t.tx.Commit() }

// Rollback is sql.Tx's.
func (t *txn) Rollback() error { return t.tx.Rollback() }
