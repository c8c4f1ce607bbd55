package plugins

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/config"
)

// loadConfig writes yaml to config.yaml in dir and loads it.
func loadConfig(t *testing.T, dir, yaml string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// testBinary returns this test binary and its SHA-256: launched with
// envTestPlugin set, it serves as a plugin.
func testBinary(t *testing.T) (string, []byte) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return exe, h.Sum(nil)
}

// TestCheckBinaries: Check names each enabled plugin whose binary the host
// could not launch, at the line of its key, and passes the others, the
// disabled ones and the remote one (whose binary is on another machine). A binary that is not a plugin is named too: it is
// launched, and ends before the plugin handshake.
func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	exe, sum := testBinary(t)
	notPlugin := filepath.Join(dir, "notplugin")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho 'no config here' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, cfgPath := loadConfig(t, dir, fmt.Sprintf(`plugins:
  good:
    enabled: true
    path: %s
    sha256: "%x"
  plain:
    enabled: true
    path: plain
  folder:
    enabled: true
    path: .
  gone:
    enabled: true
    path: nothere
  off:
    enabled: false
    path: nothere
  forged:
    enabled: true
    path: %s
    sha256: "%s"
  script:
    enabled: true
    path: notplugin
  edge:
    enabled: true
    remote: true
server:
  portal_listen: "127.0.0.1:7400"
`, exe, sum, exe, strings.Repeat("0", 64)))
	// Set after Load: it is no PORTICO_PLUGINS_<NAME>_<KEY>.
	t.Setenv(envTestPlugin, "current")
	err := Check(cfg)
	want := []string{
		fmt.Sprintf("%s:8: plugins.plain.path: %s: not executable", cfgPath, filepath.Join(dir, "plain")),
		fmt.Sprintf("%s:11: plugins.folder.path: %s: is a directory", cfgPath, dir),
		fmt.Sprintf("%s:14: plugins.gone.path: %s: no such file", cfgPath, filepath.Join(dir, "nothere")),
		fmt.Sprintf("%s:21: plugins.forged.sha256: %s has SHA-256 %x, want %s: the host would refuse to launch it",
			cfgPath, exe, sum, strings.Repeat("0", 64)),
		fmt.Sprintf("%s:24: plugins.script.path: %s: exited before the plugin handshake (is it a Portico plugin, built with sdk.Serve?); its stderr: no config here",
			cfgPath, notPlugin),
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Check:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// TestCheckThroughThePlugin: Check hands each block to its plugin's
// Validate, launched for the check, and reports each problem on its key
// at its line (an unknown key at its own line, named on the block); an
// address a live process of the plugin holds (its record says so) is not
// taken; a plugin without Validate passes.
func TestCheckThroughThePlugin(t *testing.T) {
	exe, _ := testBinary(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	dir := t.TempDir()
	cfg, cfgPath := loadConfig(t, dir, fmt.Sprintf(`server:
  data_dir: data
plugins:
  typo:
    enabled: true
    path: %[1]s
    config:
      listen: "127.0.0.1:0"
      lisen: x
  busy:
    enabled: true
    path: %[1]s
    config:
      listen: %[2]q
  fine:
    enabled: true
    path: %[1]s
    config:
      listen: "127.0.0.1:0"
`, exe, taken))
	t.Setenv(envTestPlugin, "validating")
	err = Check(cfg)
	want := []string{
		fmt.Sprintf(`%s:9: plugins.typo.config: unknown key "lisen" (did you mean "listen"?)`, cfgPath),
		fmt.Sprintf(`%s:14: plugins.busy.config.listen: %s: address already in use`, cfgPath, taken),
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Check:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}

	// The busy plugin's own process holds the address: no problem. (The
	// record names this test process, which is alive and runs exe.)
	m := NewManager(cfg, nil, nil, nil, io.Discard)
	ticks, _, err := procStartTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.writeRecord(record{Name: "busy", Pid: os.Getpid(), StartTicks: ticks, Exe: exe, Listen: []string{taken}}); err != nil {
		t.Fatal(err)
	}
	err = Check(cfg)
	if err == nil || err.Error() != want[0] {
		t.Fatalf("with the address held by the plugin's record:\n%v\nwant:\n%s", err, want[0])
	}

	// A plugin without Validate is not checked here: starting it will.
	t.Setenv(envTestPlugin, "current")
	if err := Check(cfg); err != nil {
		t.Fatalf("plugins without Validate: %v", err)
	}
}
