package plugins

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

func socketTestManager(t *testing.T, dataDir string) *Manager {
	t.Helper()
	cfg := &config.Config{Server: config.Server{DataDir: dataDir}}
	return NewManager(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
}

// TestSocketDirTooLong: a data directory so deep that a plugin socket in
// it could not be bound is refused at start, naming the setting, instead
// of every plugin failing with "bind: invalid argument".
func TestSocketDirTooLong(t *testing.T) {
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", maxSocketPath))
	err := socketTestManager(t, deep).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "choose a shorter server.data_dir") {
		t.Fatalf("Start with a %d-byte data dir: %v; want a refusal naming server.data_dir", len(deep), err)
	}
	// The longest data dir that fits: a socket's path is then exactly
	// the limit.
	fits := "/" + strings.Repeat("d", maxSocketPath-len("/run/plugins/")-socketNameLen-1)
	if err := checkSocketDir(filepath.Join(fits, "run", "plugins")); err != nil {
		t.Fatalf("a data dir of %d bytes refused: %v", len(fits), err)
	}
	if err := checkSocketDir(filepath.Join(fits+"d", "run", "plugins")); err == nil {
		t.Fatalf("a data dir of %d bytes accepted", len(fits)+1)
	}
}

// TestSocketCleanup: the sweep keeps exactly the sockets named and
// removes the rest of the socket directory; a record's socket is removed
// with its process, but never a file outside the socket directory (a
// record is a file on disk, not trusted with what the host deletes).
func TestSocketCleanup(t *testing.T) {
	m := socketTestManager(t, t.TempDir())
	dir := m.socketDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	touch := func(path string) string {
		t.Helper()
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	exists := func(path string) bool {
		_, err := os.Lstat(path)
		return err == nil
	}
	kept := touch(filepath.Join(dir, "plugin1"))
	stale := []string{touch(filepath.Join(dir, "plugin2")), touch(filepath.Join(dir, "plugin3"))}
	m.sweepSockets(map[string]bool{kept: true})
	if !exists(kept) {
		t.Fatal("the sweep removed a socket it was told to keep")
	}
	for _, p := range stale {
		if exists(p) {
			t.Fatalf("the sweep left %s", p)
		}
	}

	outside := touch(filepath.Join(t.TempDir(), "plugin9"))
	// Pid 0 is no process: endRecorded kills nothing, only cleans up.
	m.endRecorded(&record{Name: "x", Network: "unix", Addr: outside})
	if !exists(outside) {
		t.Fatal("a record's address outside the socket directory was deleted")
	}
	sneaky := filepath.Join(dir, "..", "records", "telnet.json")
	if err := os.MkdirAll(filepath.Dir(sneaky), 0o700); err != nil {
		t.Fatal(err)
	}
	touch(sneaky)
	m.endRecorded(&record{Name: "x", Network: "unix", Addr: sneaky})
	if !exists(sneaky) {
		t.Fatal("a record's address leading out of the socket directory was deleted")
	}
	m.endRecorded(&record{Name: "x", Network: "tcp", Addr: kept})
	if !exists(kept) {
		t.Fatal("a tcp address was taken for a socket file")
	}
	m.endRecorded(&record{Name: "x", Network: "unix", Addr: kept})
	if exists(kept) {
		t.Fatal("a dead plugin's socket was left")
	}
}
