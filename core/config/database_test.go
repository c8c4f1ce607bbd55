package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

// TestDatabase: server.database defaults to SQLite in the data directory,
// takes a PostgreSQL URL (from the file or the environment), refuses
// anything else without quoting it, and `config check` shows the URL with
// its password masked.
func TestDatabase(t *testing.T) {
	c, err := config.Load(writeConfig(t, "server:\n  data_dir: /var/lib/game\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StoreLocation(); got != "/var/lib/game/portico.db" {
		t.Errorf("default store location %q, want the SQLite file in data_dir", got)
	}

	const url = "postgres://game:pa55word@db.example:5432/game?sslmode=verify-full&password=pa55word"
	c, err = config.Load(writeConfig(t, "server:\n  database: "+url+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StoreLocation(); got != url {
		t.Errorf("store location %q, want %q", got, url)
	}
	var out bytes.Buffer
	if err := c.WriteEffective(&out); err != nil {
		t.Fatal(err)
	}
	want := "database: postgres://game:" + config.Masked + "@db.example:5432/game?sslmode=verify-full&password=" + config.Masked
	if !strings.Contains(out.String(), want) || strings.Contains(out.String(), "pa55word") {
		t.Errorf("config check shows:\n%s\nwant %q and no password", out.String(), want)
	}

	t.Setenv("PORTICO_SERVER_DATABASE", "postgresql://game@/game?host=/run/postgresql")
	if c, err = config.Load(writeConfig(t, "")); err != nil || c.StoreLocation() != "postgresql://game@/game?host=/run/postgresql" {
		t.Errorf("from the environment: %v, %v", c, err)
	}

	for _, bad := range []string{"mysql://root:hunter2@db/game", "/var/lib/game/portico.db", "hunter2"} {
		t.Setenv("PORTICO_SERVER_DATABASE", bad)
		_, err := config.Load(writeConfig(t, ""))
		if err == nil || !strings.Contains(err.Error(), "server.database: must be empty (SQLite in data_dir) or a PostgreSQL URL") {
			t.Errorf("server.database %q: %v", bad, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the value: %v", err)
		}
	}
}
