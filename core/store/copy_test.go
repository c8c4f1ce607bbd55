package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store/pgtest"
	"golang.org/x/crypto/ssh"
)

// populate fills s with a little of everything the store keeps, and
// returns the accounts' passwords by name.
func populate(t *testing.T, s *Store) map[string]string {
	t.Helper()
	ctx := ctxFor(t)
	passwords := map[string]string{}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"Alice", "bob", "Carol-9", "dave_x"} {
		pw := fmt.Sprintf("password %d of %s", i, name)
		_, err := s.CreateAccount(ctx, name, pw, i == 0)
		must(err)
		passwords[name] = pw
	}
	alice, err := s.AccountByName(ctx, "alice")
	must(err)
	bob, err := s.AccountByName(ctx, "bob")
	must(err)
	_, err = s.CreateCharacter(ctx, alice.ID, "Alicia")
	must(err)
	if _, err := s.Authenticate(ctx, "Bob", passwords["bob"]); err != nil { // a last_login
		t.Fatal(err)
	}
	ch, err := s.CreateChannel(ctx, "Traders", "buy and sell")
	must(err)
	must(s.JoinChannel(ctx, ch.ID, bob.ID))
	_, err = s.AddBot(ctx, "ircbot", "irc", ch.ID, map[string]any{"server": "127.0.0.1:6667", "nick": "pb"})
	must(err)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	key, err := ssh.NewPublicKey(pub)
	must(err)
	_, err = s.AddSSHKey(ctx, alice.ID, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))+" alice@home")
	must(err)
	_, err = s.AddBan(ctx, BanAccount, "Mallory", "spam", "Alice")
	must(err)
	_, err = s.AddBan(ctx, BanAddress, "203.0.113.0/24", "", "Alice")
	must(err)
	must(s.ApplyAttributes(ctx, []AttributeChange{
		{Kind: "character", ID: alice.CharacterID, Key: "room", Value: "3"},
		{Kind: "room", ID: 3, Key: "name", Value: `"Hall \"of\" Fame"`},
	}))
	_, err = s.GrantSessids(ctx, "telnet", 100, true)
	must(err)
	must(s.ApplySessionLogins(ctx, SaveSessionLogin(SessionLogin{Sessid: 7, Plugin: "telnet", UID: alice.ID, PUID: alice.CharacterID})))
	now := time.Now()
	must(s.SaveThrottles(ctx, []ThrottleEntry{{Key: "login|ip|198.51.100.1", Hits: []time.Time{now}, Expires: now.Add(time.Hour)}}, now))
	// The newest account, deleted: its ids must not be handed out again
	// after the copy, although no row has them any more.
	gone, err := s.CreateAccount(ctx, "Gone", "password", false)
	must(err)
	_, err = s.w.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", gone.ID)
	must(err)
	return passwords
}

// dumpTables returns every row of every table of s (but schema_migrations),
// each as one line of text, sorted, by table: what two databases holding
// the same data have in common whatever their types.
func dumpTables(t *testing.T, s *Store, tables []string) map[string][]string {
	t.Helper()
	ctx := ctxFor(t)
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := s.r.QueryContext(ctx, "SELECT * FROM "+quoteIdent(table))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		lines := []string{}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, col := range cols {
				v := vals[i]
				switch x := v.(type) {
				case []byte:
					v = string(x)
				case bool: // PostgreSQL's flags are SQLite's 0 and 1
					v = map[bool]int64{false: 0, true: 1}[x]
				}
				fmt.Fprintf(&b, "%s=%v ", col, v)
			}
			lines = append(lines, b.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		out[table] = lines
	}
	return out
}

// TestCopyToPostgres: every table of a populated SQLite database arrives
// in PostgreSQL row for row; every account logs in with its password
// there; ids and session ids go on past the source's, deleted rows'
// included.
func TestCopyToPostgres(t *testing.T) {
	ctx := ctxFor(t)
	target := pgtest.Shared(t).Database(t)
	src := openInternal(t, filepath.Join(t.TempDir(), "portico.db"), testParams)
	passwords := populate(t, src)
	dst := openInternal(t, target, testParams)

	report, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	copied := map[string]int{}
	for _, r := range report {
		tables = append(tables, r.Table)
		copied[r.Table] = r.Rows
	}
	want := []string{"accounts", "attributes", "bans", "bots", "channel_members", "channels", "characters",
		"counters", "sessid_grants", "session_logins", "ssh_keys", "throttles"}
	if !slices.Equal(slices.Sorted(slices.Values(tables)), want) {
		t.Fatalf("copied tables %v, want %v", tables, want)
	}
	if copied["accounts"] != 5 || copied["characters"] != 6 { // 4 players and the bot; Alice has two
		t.Errorf("copied %v", report)
	}
	srcRows, dstRows := dumpTables(t, src, tables), dumpTables(t, dst, tables)
	for _, table := range tables {
		if !slices.Equal(srcRows[table], dstRows[table]) {
			t.Errorf("%s differs:\nsqlite:   %q\npostgres: %q", table, srcRows[table], dstRows[table])
		}
	}

	for name, pw := range passwords {
		acc, err := dst.Authenticate(ctx, strings.ToUpper(name), pw)
		if err != nil {
			t.Errorf("%s does not log in after the copy: %v", name, err)
			continue
		}
		if want, _ := src.AccountByName(ctx, name); acc.ID != want.ID || acc.CharacterID != want.CharacterID || acc.IsAdmin != want.IsAdmin {
			t.Errorf("%s: %+v after the copy, want %+v", name, acc, want)
		}
	}
	// The deleted account's ids are not handed out again.
	var gone int64
	if err := src.r.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'accounts'").Scan(&gone); err != nil {
		t.Fatal(err)
	}
	fresh, err := dst.CreateAccount(ctx, "Newcomer", "password", false)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.ID <= gone {
		t.Errorf("a new account got id %d, not past %d, the highest the source handed out", fresh.ID, gone)
	}
	if start, err := dst.ReserveSessids(ctx, 1); err != nil || start != 101 {
		t.Errorf("next session id %d (%v), want 101: the high-water mark was not copied", start, err)
	}
	keys, err := dst.SSHKeys(ctx, 1)
	if err != nil || len(keys) != 1 {
		t.Errorf("Alice's keys after the copy: %v, %v", keys, err)
	}
}

// TestCopyToRefuses: a target that holds accounts is left alone, and a
// copy between the wrong backends is refused.
func TestCopyToRefuses(t *testing.T) {
	ctx := ctxFor(t)
	target := pgtest.Shared(t).Database(t)
	src := openInternal(t, filepath.Join(t.TempDir(), "portico.db"), testParams)
	populate(t, src)
	dst := openInternal(t, target, testParams)
	if _, err := dst.CreateAccount(ctx, "Zoe", "password", false); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CopyTo(ctx, dst); err == nil || !strings.Contains(err.Error(), "already holds 1 accounts") {
		t.Errorf("copy into a database with an account: %v", err)
	}
	if n, err := dst.CountAccounts(ctx); err != nil || n != 1 {
		t.Errorf("the refused copy changed the target: %d accounts (%v)", n, err)
	}
	if _, err := dst.CopyTo(ctx, src); err == nil || !strings.Contains(err.Error(), "only SQLite into PostgreSQL") {
		t.Errorf("copy from PostgreSQL into SQLite: %v", err)
	}
	other := openInternal(t, filepath.Join(t.TempDir(), "other.db"), testParams)
	if _, err := src.CopyTo(context.Background(), other); err == nil {
		t.Error("copy from SQLite into SQLite succeeded")
	}
}
