package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

type hostStatus = host.Status

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the host's log says want (bounded polling: the log
// is another process's output).
func waitLog(t *testing.T, h *testHost, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(h.logText(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the host never logged %q:\n%s", want, h.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createAccount makes an account with the CLI, as an operator would.
func createAccount(t *testing.T, h *testHost, name, password string, admin bool) {
	t.Helper()
	args := []string{"account", "create", name, "--config", h.configPath}
	if admin {
		args = append(args, "--admin")
	}
	cmd := exec.Command(filepath.Join(binDir, "portico"), args...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("account create %s: %v\n%s", name, err, out)
	}
}

// io_Discard reads a connection until it ends (a flooding client must
// read, or the server's writes to it back up).
func io_Discard(conn net.Conn) (int64, error) { return io.Copy(io.Discard, conn) }
