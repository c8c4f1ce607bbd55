package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// TableCopy is how many rows CopyTo copied from one table.
type TableCopy struct {
	Table string
	Rows  int
}

// CopyTo copies every table of s, an SQLite database, into dst, a
// PostgreSQL database that holds no account yet (one just created and
// opened): accounts with their password hashes, characters, channels and
// members, bots, SSH keys, bans, session logins, session-id grants and
// high-water mark, throttles and attributes, with their ids. Both must be
// at the same schema version, which opening them with this build ensures.
//
// It reads s in one read transaction (a consistent snapshot, though
// writes made to s after it began are not copied: stop the host first)
// and writes dst in one transaction, so dst ends up with all of it or, on
// an error, none. The rows dst's migrations seeded (the public channel,
// the counters) are replaced by s's. Each id sequence of dst is set past
// the highest id s ever handed out, deleted rows' included, so that no id
// is ever reused.
func (s *Store) CopyTo(ctx context.Context, dst *Store) ([]TableCopy, error) {
	if s.w.d != sqliteDialect || dst.w.d != postgresDialect {
		return nil, fmt.Errorf("store: copy: from %s to %s: only SQLite into PostgreSQL is supported", s.w.d.name, dst.w.d.name)
	}
	src, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer src.Rollback()
	tx, err := dst.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer tx.Rollback()

	c := copier{ctx: ctx, src: src, dst: tx}
	report, err := c.run()
	if err != nil {
		return nil, fmt.Errorf("store: copy to %s: %w", dst.where, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: copy to %s: commit: %w", dst.where, err)
	}
	return report, nil
}

// copier is one CopyTo: its two transactions.
type copier struct {
	ctx context.Context
	src *txn // SQLite, read
	dst *txn // PostgreSQL, write
}

// run checks that the two databases can be copied, then copies every
// table and sets dst's id sequences.
func (c copier) run() ([]TableCopy, error) {
	var sv, dv int
	if err := c.src.QueryRowContext(c.ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&sv); err != nil {
		return nil, fmt.Errorf("source schema version: %w", err)
	}
	if err := c.dst.QueryRowContext(c.ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&dv); err != nil {
		return nil, fmt.Errorf("target schema version: %w", err)
	}
	if sv != dv {
		return nil, fmt.Errorf("the source is at schema version %d and the target at %d", sv, dv)
	}
	var accounts int
	if err := c.dst.QueryRowContext(c.ctx, "SELECT count(*) FROM accounts").Scan(&accounts); err != nil {
		return nil, err
	}
	if accounts > 0 {
		return nil, fmt.Errorf("the target already holds %d accounts: copy into a new, empty database", accounts)
	}
	// accounts and characters refer to each other: the checks wait for
	// the commit (every foreign key of the PostgreSQL schema is
	// DEFERRABLE for this).
	if _, err := c.dst.ExecContext(c.ctx, "SET CONSTRAINTS ALL DEFERRED"); err != nil {
		return nil, err
	}

	tables, err := c.tables()
	if err != nil {
		return nil, err
	}
	// Seeded rows go first, all of them, before anything is copied: a
	// deletion cascades.
	for _, t := range tables {
		if _, err := c.dst.ExecContext(c.ctx, "DELETE FROM "+quoteIdent(t)); err != nil {
			return nil, fmt.Errorf("%s: clear: %w", t, err)
		}
	}
	var report []TableCopy
	for _, t := range tables {
		n, err := c.table(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		report = append(report, TableCopy{Table: t, Rows: n})
	}
	if err := c.sequences(tables); err != nil {
		return nil, err
	}
	return report, nil
}

// tables lists the source's tables, but for SQLite's own and the
// migrations record (both sides have their own, checked above).
func (c copier) tables() ([]string, error) {
	rows, err := c.src.QueryContext(c.ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// columnTypes returns the target table's columns and their PostgreSQL
// types (information_schema's data_type).
func (c copier) columnTypes(table string) (map[string]string, error) {
	rows, err := c.dst.QueryContext(c.ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

// table copies one table and returns how many rows it copied. The two
// sides must have the same columns.
func (c copier) table(table string) (int, error) {
	types, err := c.columnTypes(table)
	if err != nil {
		return 0, err
	}
	if len(types) == 0 {
		return 0, errors.New("the target has no such table")
	}
	rows, err := c.src.QueryContext(c.ctx, "SELECT * FROM "+quoteIdent(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if !slices.Equal(slices.Sorted(slices.Values(cols)), slices.Sorted(maps.Keys(types))) {
		return 0, fmt.Errorf("the source's columns %v are not the target's %v", cols, slices.Sorted(maps.Keys(types)))
	}
	quoted := make([]string, len(cols))
	marks := make([]string, len(cols))
	for i, col := range cols {
		quoted[i], marks[i] = quoteIdent(col), "?"
	}
	ins, err := c.dst.PrepareContext(c.ctx, "INSERT INTO "+quoteIdent(table)+
		" ("+strings.Join(quoted, ", ")+") VALUES ("+strings.Join(marks, ", ")+")")
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, col := range cols {
			vals[i] = postgresValue(vals[i], types[col])
		}
		if _, err := ins.ExecContext(c.ctx, vals...); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
	}
	return n, rows.Err()
}

// postgresValue converts a value SQLite gave for a column of PostgreSQL
// type typ: SQLite keeps flags as 0 and 1, and may hand text back as
// bytes.
func postgresValue(v any, typ string) any {
	if b, ok := v.([]byte); ok && typ == "text" {
		return string(b)
	}
	if i, ok := v.(int64); ok && typ == "boolean" {
		return i != 0
	}
	return v
}

// sequences sets the id sequence of every copied table that has one past
// the highest id the source handed out: its highest row's, or, when rows
// were deleted, the high-water mark SQLite keeps for AUTOINCREMENT.
func (c copier) sequences(tables []string) error {
	handedOut := map[string]int64{}
	rows, err := c.src.QueryContext(c.ctx, "SELECT name, seq FROM sqlite_sequence")
	if err != nil {
		return fmt.Errorf("sqlite_sequence: %w", err)
	}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite_sequence: %w", err)
		}
		handedOut[name] = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite_sequence: %w", err)
	}
	for _, t := range tables {
		types, err := c.columnTypes(t)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if _, ok := types["id"]; !ok {
			continue
		}
		var seq sql.NullString
		if err := c.dst.QueryRowContext(c.ctx, "SELECT pg_get_serial_sequence(?, 'id')", quoteIdent(t)).Scan(&seq); err != nil {
			return fmt.Errorf("%s: id sequence: %w", t, err)
		}
		if !seq.Valid {
			continue // an id that is not an identity column
		}
		var highest int64
		if err := c.dst.QueryRowContext(c.ctx, "SELECT coalesce(max(id), 0) FROM "+quoteIdent(t)).Scan(&highest); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		highest = max(highest, handedOut[t])
		if highest == 0 {
			continue // nothing handed out: the sequence starts at 1
		}
		if _, err := c.dst.ExecContext(c.ctx, "SELECT setval(pg_get_serial_sequence(?, 'id'), ?)", quoteIdent(t), highest); err != nil {
			return fmt.Errorf("%s: set id sequence: %w", t, err)
		}
	}
	return nil
}

// quoteIdent quotes an SQL identifier, for both databases.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
