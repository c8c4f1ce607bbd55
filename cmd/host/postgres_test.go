package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/core/store/pgtest"
)

// TestHostOnPostgres: an operator moves a game from SQLite to PostgreSQL.
// The host runs on SQLite and a player creates an account; the host
// stops; `portico migrate --to URL` copies the database; the host starts
// again with server.database set (from the environment) and the player
// logs in with the same password, a new player creates an account there,
// both stay logged in through a reload, and neither the host's log nor
// migrate's output shows the password.
// Then the database server stops: the players in the game play on, a
// login is refused, and the host stays up.
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
	// A reload closes the database and opens it again in the new image,
	// which takes its players back by the login records it reads there.
	reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	bob.send("say hello after the reload")
	alice.expect("hello after the reload")

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
	if n, err := pg.CountAccounts(t.Context()); err != nil || n != 2 {
		t.Errorf("PostgreSQL holds %d accounts (%v), want Alice and Bob", n, err)
	}
	pg.Close()

	// The database is lost: the game goes on in memory for the players
	// in it; a login is refused, the host says why in its log, and it
	// stays up.
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	bob.send("say still here without a database")
	alice.expect("still here without a database")
	carol := dialTelnet(t, h.telnetAddr)
	carol.expect("Welcome to TestGame")
	carol.send("connect Alice alice-pass1")
	carol.expect("The server cannot check logins right now; please try again in a moment.")
	// `portico status` answers with what is wrong.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := control.Call(ctx, filepath.Join(h.dir, "data", "run", "control.sock"), control.Request{Cmd: "status"}, false)
	if err != nil {
		t.Fatalf("the host does not answer without its database: %v", err)
	}
	if resp.OK || !strings.Contains(resp.Error, "store: count accounts") {
		t.Errorf("status without the database: %+v, want the store's error", resp)
	}
	if log := h.logText(); !strings.Contains(log, "login: authenticate") {
		t.Errorf("the host did not log why the login failed:\n%s", log)
	}
}
