package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func openInternal(t *testing.T, path string, p Argon2Params) *Store {
	t.Helper()
	s, err := Open(path, Options{Argon2: p})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestPragmas checks the durability and safety settings on both pools.
func TestPragmas(t *testing.T) {
	ctx := ctxFor(t)
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"), testParams)
	for _, tt := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"w", "journal_mode", "wal"},
		{"w", "synchronous", "2"}, // FULL
		{"w", "foreign_keys", "1"},
		{"w", "busy_timeout", "5000"},
		{"w", "query_only", "0"},
		{"r", "journal_mode", "wal"},
		{"r", "foreign_keys", "1"},
		{"r", "busy_timeout", "5000"},
		{"r", "query_only", "1"},
	} {
		db := s.w
		if tt.pool == "r" {
			db = s.r
		}
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", tt.pool, tt.pragma, err)
		}
		if !strings.EqualFold(got, tt.want) {
			t.Errorf("%s: PRAGMA %s = %q, want %q", tt.pool, tt.pragma, got, tt.want)
		}
	}
	// Readers really cannot write.
	if _, err := s.r.ExecContext(ctx, "UPDATE counters SET value = 0"); err == nil {
		t.Error("write through the read pool succeeded")
	}
}

// TestUnknownUserSpendsHash checks that an unknown name is verified against
// a dummy hash with the store's own parameters.
func TestUnknownUserSpendsHash(t *testing.T) { EachBackend(t, testUnknownUserSpendsHash) }

func testUnknownUserSpendsHash(t *testing.T, db TestDB) {
	ctx := ctxFor(t)
	s := openInternal(t, db.Location, testParams)
	if _, err := s.CreateAccount(ctx, "Known", "password", false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	s.verify = func(encoded, password string) (bool, error) {
		mu.Lock()
		calls = append(calls, encoded)
		mu.Unlock()
		return VerifyPassword(encoded, password)
	}
	for _, name := range []string{"Unknown", "Known", "x", strings.Repeat("n", 300)} {
		calls = nil
		if _, err := s.Authenticate(ctx, name, "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("Authenticate(%.20q) error = %v, want ErrBadCredentials", name, err)
		}
		if len(calls) != 1 {
			t.Fatalf("Authenticate(%.20q): %d hash verifications, want 1", name, len(calls))
		}
		p, _, _, err := decodeHash(calls[0])
		if err != nil || p != testParams {
			t.Errorf("Authenticate(%.20q) verified against %q (%+v, %v), want params %+v",
				name, calls[0], p, err, testParams)
		}
	}
}

// TestRehashOnLogin checks that a hash made with old parameters still works
// and is replaced by one with the current parameters.
func TestRehashOnLogin(t *testing.T) { EachBackend(t, testRehashOnLogin) }

func testRehashOnLogin(t *testing.T, db TestDB) {
	ctx := ctxFor(t)
	path := db.Location
	old := openInternal(t, path, Argon2Params{MemoryKiB: 32, Time: 1, Threads: 1})
	acc, err := old.CreateAccount(ctx, "Mia", "password", false)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	s := openInternal(t, path, testParams)
	storedHash := func() string {
		var h string
		if err := s.r.QueryRowContext(ctx, "SELECT password FROM accounts WHERE id = ?", acc.ID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := storedHash(); !strings.HasPrefix(h, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Fatalf("stored hash %q, want m=32", h)
	}
	if _, err := s.Authenticate(ctx, "mia", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Authenticate(wrong) = %v", err)
	}
	if h := storedHash(); !strings.HasPrefix(h, "$argon2id$v=19$m=32,t=1,p=1$") {
		t.Fatalf("failed login rehashed: %q", h)
	}
	if _, err := s.Authenticate(ctx, "mia", "password"); err != nil {
		t.Fatalf("Authenticate with old-parameter hash: %v", err)
	}
	if h := storedHash(); !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("after login stored hash %q, want m=64", h)
	}
	if _, err := s.Authenticate(ctx, "mia", "password"); err != nil {
		t.Fatalf("Authenticate after rehash: %v", err)
	}
}

func TestStoredHashCorrupt(t *testing.T) { EachBackend(t, testStoredHashCorrupt) }

func testStoredHashCorrupt(t *testing.T, db TestDB) {
	ctx := ctxFor(t)
	s := openInternal(t, db.Location, testParams)
	acc, err := s.CreateAccount(ctx, "Nia", "password", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, "UPDATE accounts SET password = 'garbage' WHERE id = ?", acc.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, "Nia", "password")
	if err == nil || errors.Is(err, ErrBadCredentials) || !strings.HasPrefix(err.Error(), "store: authenticate ") {
		t.Errorf("Authenticate with corrupt stored hash: error = %v, want a store error other than ErrBadCredentials", err)
	}
}

func TestMigrationsRecorded(t *testing.T) { EachBackend(t, testMigrationsRecorded) }

func testMigrationsRecorded(t *testing.T, db TestDB) {
	ctx := ctxFor(t)
	path := db.Location
	dir := sqliteDialect.migrations
	if db.Backend == "postgres" {
		dir = postgresDialect.migrations
	}
	migs, err := loadMigrations(migrationFiles, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 || migs[0].version != 1 {
		t.Fatalf("embedded migrations = %+v", migs)
	}
	for range 2 {
		s := openInternal(t, path, testParams)
		var n, maxV int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		if n != len(migs) || maxV != migs[len(migs)-1].version {
			t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", n, maxV, len(migs), migs[len(migs)-1].version)
		}
		var sessid int64
		if err := s.r.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'sessid'").Scan(&sessid); err != nil || sessid != 0 {
			t.Errorf("sessid counter = %d, %v; want one row at 0", sessid, err)
		}
		s.Close()
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) { EachBackend(t, testMigrateRefusesNewerSchema) }

func testMigrateRefusesNewerSchema(t *testing.T, db TestDB) {
	ctx := ctxFor(t)
	path := db.Location
	s := openInternal(t, path, testParams)
	if _, err := s.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(path, Options{Argon2: testParams})
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("Open of a newer schema: error = %v, want a refusal", err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := ctxFor(t)
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"), testParams)
	fsys := fstest.MapFS{
		"migrations/0001_initial.sql": {Data: []byte("SELECT 1;")}, // already applied: skipped
		"migrations/0090_good.sql":    {Data: []byte("CREATE TABLE good (x INTEGER) STRICT;")},
		"migrations/0091_bad.sql": {Data: []byte(
			"CREATE TABLE half (x INTEGER) STRICT; INSERT INTO half VALUES (1); THIS IS NOT SQL;")},
		"migrations/README.txt": {Data: []byte("ignored")},
	}
	migs, err := loadMigrations(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 3 {
		t.Fatalf("loaded %d migrations, want 3", len(migs))
	}
	err = migrate(ctx, s.w, migs)
	if err == nil || !strings.Contains(err.Error(), "0091_bad") {
		t.Fatalf("migrate error = %v, want a failure naming 0091_bad", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n); err != nil || n != 0 {
		t.Errorf("table of the failed migration exists (%d, %v): not rolled back", n, err)
	}
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'good'").Scan(&n); err != nil || n != 1 {
		t.Errorf("table of the good migration missing (%d, %v)", n, err)
	}
	var versions []int
	rows, err := s.r.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	rows.Close()
	// The store's own migrations were applied at Open; of the test's, only
	// the good one is.
	if len(versions) == 0 || versions[len(versions)-1] != 90 || slices.Contains(versions, 91) {
		t.Errorf("applied versions = %v, want the store's and 90, not 91", versions)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number":  {"migrations/initial.sql": {}},
		"short":      {"migrations/001_x.sql": {}},
		"upper":      {"migrations/0001_Initial.sql": {}},
		"zero":       {"migrations/0000_x.sql": {}},
		"duplicate":  {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"no dir":     {},
		"dash in it": {"migrations/0001_a-b.sql": {}},
	} {
		if _, err := loadMigrations(fsys, "migrations"); err == nil {
			t.Errorf("%s: loadMigrations succeeded", name)
		}
	}
}

func TestFileURI(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/portico.db":       "file:/tmp/portico.db",
		"/a b/c?d#e%f.db":       "file:/a%20b/c%3Fd%23e%25f.db",
		"/x/é.db":               "file:/x/%C3%A9.db",
		"/data/Portico-1_2~.db": "file:/data/Portico-1_2~.db",
	} {
		if got := fileURI(in); got != want {
			t.Errorf("fileURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReaderCacheBounded checks that every read connection, however many
// the pool opens, has its page cache bounded (readerCacheKiB), and that
// the writer keeps SQLite's default.
func TestReaderCacheBounded(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "p.db"), Argon2Params{MemoryKiB: 8, Time: 1, Threads: 1})
	ctx := ctxFor(t)
	// Hold maxReaders connections at once, so that the pool opens them all.
	var held []interface{ Close() error }
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range maxReaders {
		c, err := s.r.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		var size int
		if err := c.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != -readerCacheKiB {
			t.Errorf("reader %d: cache_size %d, want %d (KiB)", i+1, size, -readerCacheKiB)
		}
	}
	if n := s.r.db.Stats().OpenConnections; n != maxReaders {
		t.Fatalf("%d read connections open, want %d", n, maxReaders)
	}
	var size int
	if err := s.w.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != -2000 {
		t.Errorf("writer: cache_size %d, want SQLite's default -2000", size)
	}
}
