package host_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/core/store/pgtest"
	"golang.org/x/crypto/ssh"
)

// fastArgon2 keeps the tests' password hashing cheap.
var fastArgon2 = store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}}

// TestMigrateToPostgres: `portico migrate --to URL` copies a populated
// SQLite database into a new PostgreSQL database, where every account
// logs in with its password and the rest is there too; it never prints
// the password, refuses a database that holds accounts, and refuses to run
// beside a host.
func TestMigrateToPostgres(t *testing.T) {
	cluster := pgtest.Require(t)
	target := cluster.Database(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("server:\n  data_dir: data\n  argon2_memory_kib: 64\n  argon2_time: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := store.Open(filepath.Join(dir, "data", "portico.db"), fastArgon2)
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{"Alice": "alice's secret", "Bob": "hunter2!", "carol": "c0rrect h0rse", "Dave-2": "ünïcödé pw"}
	var ids []int64
	for name, pw := range passwords {
		acc, err := src.CreateAccount(ctx, name, pw, name == "Alice")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.ID)
	}
	alice, _ := src.AccountByName(ctx, "alice")
	if _, err := src.CreateCharacter(ctx, alice.ID, "Alicia"); err != nil {
		t.Fatal(err)
	}
	ch, err := src.CreateChannel(ctx, "Guild", "the guild's channel")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddBot(ctx, "Relay", "irc", ch.ID, map[string]any{"server": "127.0.0.1:6667", "nick": "relay"}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	if _, err := src.AddSSHKey(ctx, alice.ID, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddBan(ctx, store.BanAddress, "192.0.2.0/24", "flood", "Alice"); err != nil {
		t.Fatal(err)
	}
	if err := src.ApplyAttributes(ctx, []store.AttributeChange{{Kind: "character", ID: alice.CharacterID, Key: "room", Value: "7"}}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	migrate := func(args ...string) (string, error) {
		var out bytes.Buffer
		cli := host.NewCommand()
		cli.SetArgs(append([]string{"migrate", "--config", cfgPath}, args...))
		cli.SetOut(&out)
		cli.SetErr(&out)
		err := cli.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := migrate("--to", target)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Logf("migrate printed:\n%s", out)
	if strings.Contains(out, cluster.Password()) {
		t.Errorf("migrate printed the database password:\n%s", out)
	}
	for _, want := range []string{"copied sqlite ", " into postgres database ", "accounts", "5 rows", "ssh_keys", "set server.database"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate printed:\n%s\nwant %q in it", out, want)
		}
	}

	dst, err := store.Open(target, fastArgon2)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for name, pw := range passwords {
		acc, err := dst.Authenticate(ctx, name, pw)
		if err != nil {
			t.Errorf("%s cannot log in after the migration: %v", name, err)
			continue
		}
		if !slices.Contains(ids, acc.ID) || acc.IsAdmin != (name == "Alice") {
			t.Errorf("%s logged in as %+v", name, acc)
		}
	}
	if _, err := dst.Authenticate(ctx, "Bob", "wrong"); err == nil {
		t.Error("a wrong password logs in after the migration")
	}
	if chars, err := dst.CharactersOf(ctx, alice.ID); err != nil || len(chars) != 2 {
		t.Errorf("Alice's characters: %v, %v", chars, err)
	}
	if bots, err := dst.Bots(ctx); err != nil || len(bots) != 1 || bots[0].Config["nick"] != "relay" {
		t.Errorf("bots: %+v, %v", bots, err)
	}
	if _, err := dst.AuthenticateKey(ctx, "Alice", key.Marshal()); err != nil {
		t.Errorf("Alice's SSH key: %v", err)
	}
	if bans, err := dst.Bans(ctx); err != nil || len(bans) != 1 || bans[0].Value != "192.0.2.0/24" {
		t.Errorf("bans: %+v, %v", bans, err)
	}
	if attrs, err := dst.Attributes(ctx, "character", alice.CharacterID); err != nil || attrs["room"] != "7" {
		t.Errorf("attributes: %v, %v", attrs, err)
	}

	// Again: the target holds accounts now.
	if out, err := migrate("--to", target); err == nil || !strings.Contains(err.Error(), "already holds 5 accounts") {
		t.Errorf("a second migrate: %v\n%s", err, out)
	}
	// A host running on the data directory holds its pid file locked.
	pid, err := os.OpenFile(filepath.Join(dir, "data", "run", "portico.pid"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer pid.Close()
	if err := syscall.Flock(int(pid.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if out, err := migrate("--to", target); err == nil || !strings.Contains(err.Error(), "another host is running") {
		t.Errorf("migrate beside a running host: %v\n%s", err, out)
	}
	if out, err := migrate("--to", "/var/lib/other.db"); err == nil || !strings.Contains(err.Error(), "--to postgres://") {
		t.Errorf("migrate to a file: %v\n%s", err, out)
	}
}
