package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/core/store/pgtest"
)

// TestHostOnPostgres: an operator moves a game from SQLite to PostgreSQL.
// The host runs on SQLite and a player creates an account; the host
// stops; `portico migrate --to URL` copies the database; the host starts
// again with server.database set (from the environment) and the player
// logs in with the same password, a new player creates an account there,
// and neither the host's log nor migrate's output shows the password.
func TestHostOnPostgres(t *testing.T) {
	cluster := pgtest.Require(t)
	url := cluster.Database(t)
	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.login("Alice", "alice-pass1", true)
	c.send("quit")
	c.expectClosed()
	h.stopProcess()
	if err := h.exitError(); err != nil {
		t.Fatalf("host exit: %v\n%s", err, h.logText())
	}

	migrate := exec.Command(filepath.Join(binDir, "portico"), "migrate", "--config", h.configPath, "--to", url)
	out, err := migrate.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "into postgres database ") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if strings.Contains(string(out), cluster.Password()) {
		t.Errorf("migrate printed the password:\n%s", out)
	}

	h.env = []string{"PORTICO_SERVER_DATABASE=" + url}
	h.start()
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	alice := dialTelnet(t, h.telnetAddr)
	alice.login("Alice", "alice-pass1", false)
	bob := dialTelnet(t, h.telnetAddr)
	bob.login("Bob", "bob-pass12", true)
	bob.send("say hello from PostgreSQL")
	alice.expect("hello from PostgreSQL")

	log := h.logText()
	if !strings.Contains(log, `database="postgres database `) {
		t.Errorf("the host did not log that it runs on PostgreSQL:\n%s", log)
	}
	if strings.Contains(log, cluster.Password()) {
		t.Errorf("the host's log shows the database password:\n%s", log)
	}
	// Bob is in PostgreSQL only: the SQLite database was copied, not
	// moved, and is no longer written.
	lite, err := store.Open(filepath.Join(h.dir, "data", "portico.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.AccountByName(t.Context(), "Bob"); err == nil {
		t.Error("an account created on PostgreSQL is in the SQLite database")
	}
	pg, err := store.Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if n, err := pg.CountAccounts(t.Context()); err != nil || n != 2 {
		t.Errorf("PostgreSQL holds %d accounts (%v), want Alice and Bob", n, err)
	}
}
