package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMS is how long a connection waits for a lock another connection
// or process holds before it gives up with SQLITE_BUSY.
const busyTimeoutMS = 5000

// maxReaders bounds the read connection pool. WAL lets readers run beside the
// one writer; a few connections are plenty for a game host.
const maxReaders = 4

// readerCacheKiB bounds each read connection's page cache (SQLite's
// default is 2 MiB a connection). Every reader caches the pages it reads,
// so with maxReaders of them the same account and character pages were
// held up to four times over, and a host whose players log in from
// thousands of distinct accounts grew by megabytes that it never gave
// back (issue 16: 5,000 distinct logins grew a store by 4.5–4.8 MB with
// the default, 0.7–1.8 MB with this bound). A read that misses costs a
// pread of a page the OS caches anyway, microseconds beside a login's
// password hash; the B-tree's inner pages, read by every lookup, stay in
// the cache. The writer keeps SQLite's default: its transactions reread
// what they change.
const readerCacheKiB = 256

// OpenSQLite opens, creating it if need be, the SQLite database at path and
// brings its schema up to date. A missing parent directory is created with
// mode 0700 and a missing database file with mode 0600 (it holds password
// hashes).
func OpenSQLite(path string, opts Options) (*Store, error) {
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
	wdb, err := sql.Open("sqlite", uri+"?"+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	w := &conn{db: wdb, d: sqliteDialect, writer: true}

	ctx := context.Background()
	if err := checkJournalMode(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	rdb, err := sql.Open("sqlite", uri+"?"+pragmas+"&_query_only=1"+
		"&_pragma=cache_size(-"+strconv.Itoa(readerCacheKiB)+")")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(maxReaders)
	rdb.SetMaxIdleConns(maxReaders)
	r := &conn{db: rdb, d: sqliteDialect}

	s, err := newStore(ctx, w, r, abs, params)
	if err == nil {
		err = r.PingContext(ctx)
	}
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
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
func checkJournalMode(ctx context.Context, db *conn) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return nil
}
