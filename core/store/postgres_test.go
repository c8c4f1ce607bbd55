package store

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store/pgtest"
)

// TestMigrationSetsInStep: PostgreSQL has a migration for every SQLite
// migration, with the same number and name, and no other: a schema step
// added for one database only fails here.
func TestMigrationSetsInStep(t *testing.T) {
	files := func(dir string) []string {
		migs, err := loadMigrations(migrationFiles, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range migs {
			out = append(out, fmt.Sprintf("%04d_%s.sql", m.version, m.name))
		}
		return out
	}
	lite, pg := files(sqliteDialect.migrations), files(postgresDialect.migrations)
	if len(lite) == 0 {
		t.Fatal("no migrations")
	}
	for _, f := range lite {
		if !slices.Contains(pg, f) {
			t.Errorf("migrations/%s has no PostgreSQL twin in migrations/postgres/", f)
		}
	}
	for _, f := range pg {
		if !slices.Contains(lite, f) {
			t.Errorf("migrations/postgres/%s has no SQLite twin in migrations/", f)
		}
	}
}

// TestRebind: SQLite's placeholders become PostgreSQL's, in order or by
// number, and question marks in literals stay.
func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                                    "SELECT 1",
		"a = ? AND b = ?":                             "a = $1 AND b = $2",
		"x = ?1 OR y = ?1 AND z = ?2":                 "x = $1 OR y = $1 AND z = $2",
		"name = '?' AND v = ?":                        "name = '?' AND v = $1",
		`"odd?col" = ? AND 'it''s ?' = ?`:             `"odd?col" = $1 AND 'it''s ?' = $2`,
		"INSERT INTO t VALUES (?, ?, ?) RETURNING id": "INSERT INTO t VALUES ($1, $2, $3) RETURNING id",
	} {
		if got := postgresDialect.rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
		if got := sqliteDialect.rebind(in); got != in {
			t.Errorf("SQLite's rebind(%q) = %q, want it unchanged", in, got)
		}
	}
}

// TestOpenPostgresErrors: a bad URL, a wrong password and a database that
// does not exist are errors that say what failed, and never show the
// password.
func TestOpenPostgresErrors(t *testing.T) {
	c := pgtest.Shared(t)
	good, err := url.Parse(c.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-Passw0rd"
	with := func(edit func(u *url.URL)) string {
		u := *good
		edit(&u)
		return u.String()
	}
	for name, tc := range map[string]struct {
		location, want string
	}{
		"wrong password": {with(func(u *url.URL) { u.User = url.UserPassword(pgtest.User, secret) }), "password authentication failed"},
		"no database":    {with(func(u *url.URL) { u.Path = "/nosuchdb" }), `database "nosuchdb" does not exist`},
		"bad port":       {"postgres://portico:" + secret + "@127.0.0.1:notaport/db", "cannot parse"},
		"password in the query": {with(func(u *url.URL) {
			u.User = url.User(pgtest.User)
			q := u.Query()
			q.Set("password", secret)
			u.RawQuery = q.Encode()
		}), "password authentication failed"},
	} {
		s, err := Open(tc.location, Options{Argon2: testParams})
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: open ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want store: context and %q", name, err, tc.want)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), c.Password()) {
			t.Errorf("%s: error %q shows the password", name, err)
		}
	}
	s := openInternal(t, good.String(), testParams)
	if str := s.String(); strings.Contains(str, c.Password()) || !strings.HasPrefix(str, "postgres database ") {
		t.Errorf("String() = %q, want the database named without its password", str)
	}
}

// TestWritersTakeTurns: while one write transaction is open, another
// store's writer waits for it, on both databases, and then sees what it
// wrote. Here the first has inserted an account and the second creates a
// character of the same name: a check that spans two tables, which no
// unique index can keep, so only the write lock keeps the name unique
// (PostgreSQL's READ COMMITTED alone would let the character in).
func TestWritersTakeTurns(t *testing.T) {
	EachBackend(t, func(t *testing.T, db TestDB) {
		ctx := ctxFor(t)
		a := openInternal(t, db.Location, testParams)
		b := openInternal(t, db.Location, testParams)
		owner, err := b.CreateAccount(ctx, "Owner", "password", false)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := a.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (name, password, is_admin, created_at) VALUES (?, 'x', ?, 0)", "Twin", false); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := b.CreateCharacter(ctx, owner.ID, "TWIN")
			done <- err
		}()
		// Nothing signals that a writer is waiting: a bounded wait is the
		// only way to see that it does not go ahead.
		select {
		case err := <-done:
			t.Fatalf("a writer went ahead while another held the write lock (error %v)", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrNameTaken) {
			t.Fatalf("CreateCharacter after the account's commit: %v, want ErrNameTaken", err)
		}
	})
}
