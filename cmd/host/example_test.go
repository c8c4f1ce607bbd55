package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// Plugins built on demand for the tests in this file: the out-of-tree
// example (its own module, built inside its directory as its author would)
// and a plugin that speaks only contract version 99.
var (
	extraBuilds   sync.Map // binary name -> *extraBuild
	exampleDir, _ = filepath.Abs(filepath.Join("..", "..", "examples", "echo-protocol"))
)

type extraBuild struct {
	once sync.Once
	path string
	err  error
}

// buildOnce runs `go build -o <binDir>/<name> <pkg>` in dir once per test
// binary and returns the binary's path.
func buildOnce(t *testing.T, name, dir, pkg string) string {
	t.Helper()
	v, _ := extraBuilds.LoadOrStore(name, &extraBuild{})
	b := v.(*extraBuild)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func echoBinary(t *testing.T) string { return buildOnce(t, "portico-echo", exampleDir, ".") }

func version99Binary(t *testing.T) string {
	return buildOnce(t, "portico-version99", ".", "./testdata/version99")
}

// pluginBlock is a plugins.<name> block listening on port.
func pluginBlock(name, path string, port int, extra string) string {
	return fmt.Sprintf(`  %s:
    enabled: true
    path: %s
%s    config:
      listen: "127.0.0.1:%d"
`, name, path, extra, port)
}

// dumpPluginLog shows a plugin's log file when the test fails.
func dumpPluginLog(t *testing.T, h *testHost, name string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if b, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", name+".log")); err == nil {
			t.Logf("%s.log:\n%s", name, b)
		}
	})
}

// TestExamplePluginFromConfig: the out-of-tree example plugin, enabled only
// through config.yaml, carries a player into the game; telnet and echo
// players see each other.
func TestExamplePluginFromConfig(t *testing.T) {
	port := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("echo", echoBinary(t), port, "")})
	dumpPluginLog(t, h, "echo")
	h.waitPlugin("echo", func(p pluginStatus) bool { return p.State == "running" })

	// The echo protocol is plain lines over TCP, which the raw test client
	// speaks as it is.
	e := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port))
	e.login("Echo", "echopass1", true)
	tn := dialTelnet(t, h.telnetAddr)
	tn.login("Tel", "telpass11", true)

	e.send("who")
	out := e.expect("unique accounts logged in.")
	if !strings.Contains(out, "Echo") || !strings.Contains(out, "Tel") {
		t.Fatalf("who over the echo protocol does not list both players:\n%s", out)
	}
	e.send("say hello from a plain line protocol")
	e.expect(`You say, "hello from a plain line protocol"`)
	tn.expect(`Echo says, "hello from a plain line protocol"`)
	tn.send("say hello back")
	e.expect(`Tel says, "hello back"`)
	if all := e.Since(0); strings.ContainsRune(all, '\x1b') {
		t.Fatalf("the echo plugin sent colour codes; it renders plain text:\n%q", all)
	}

	sessions, err := h.sessions()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sessions {
		if s.Plugin == "echo" {
			found = true
			if s.ProtocolKey != "echo" || s.Account != "Echo" || !s.LoggedIn {
				t.Fatalf("echo session as the host sees it: %+v", s)
			}
		}
	}
	if !found {
		t.Fatalf("no echo session in `portico sessions`: %+v", sessions)
	}
	e.send("quit")
	e.expect("Quitting.")
	e.expectClosed()
	h.waitFor("one session", func(st host.Status) bool { return st.Sessions == 1 })
}

// TestPluginVersionMismatch: a plugin built against an SDK that shares no
// contract version with the host is refused before anything starts, in
// words an operator can act on; enabled by a live edit, it is refused the
// same way, shown in `portico status`, and the other plugins carry on.
func TestPluginVersionMismatch(t *testing.T) {
	bin := version99Binary(t)
	mismatch := fmt.Sprintf("protocol version mismatch: host speaks %d, plugin speaks 99 — the plugin was built against a newer SDK: "+
		"upgrade the host, or rebuild the plugin against the host's SDK (github.com/portico-mud/portico/sdk)", sdk.ProtocolVersion)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, "server:\n  data_dir: data\nplugins:\n"+pluginBlock("future", bin, conntest.FreePort(t), ""))
	if got, want := refusedStart(t, path), fmt.Sprintf("portico: %s:6: plugins.future.path: %s: %s\n", path, bin, mismatch); got != want {
		t.Errorf("portico start said %q\nwant %q", got, want)
	}

	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.login("Vera", "verapass1", true)
	writeFile(t, h.configPath, readFile(t, h.configPath)+pluginBlock("future", bin, conntest.FreePort(t), ""))
	st := h.waitFor("the refusal", func(st host.Status) bool { return pluginNamed(st, "future").ConfigError != "" })
	if got := pluginNamed(st, "future"); !strings.Contains(got.ConfigError, "plugins.future.path: "+bin+": "+mismatch) || got.State != "stopped" {
		t.Fatalf("future plugin: %+v", got)
	}
	c.send("say still here")
	c.expect(`You say, "still here"`)
}

// TestPluginChecksum: plugins.<name>.sha256 lets the right binary run and
// refuses another before anything starts, with both digests.
func TestPluginChecksum(t *testing.T) {
	bin := echoBinary(t)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("0", 64)
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, path, "server:\n  data_dir: data\nplugins:\n"+pluginBlock("tampered", bin, conntest.FreePort(t), "    sha256: \""+bad+"\"\n"))
	want := fmt.Sprintf("portico: %s:7: plugins.tampered.sha256: %s has SHA-256 %s, want %s: the host would refuse to launch it\n", path, bin, good, bad)
	if got := refusedStart(t, path); got != want {
		t.Errorf("portico start said %q\nwant %q", got, want)
	}

	goodPort := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("echo", bin, goodPort, "    sha256: "+good+"\n")})
	h.waitPlugin("echo", func(p pluginStatus) bool { return p.State == "running" })
	e := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", goodPort))
	e.login("Sumi", "sumipass1", true)
}

// TestPluginMTLSSurvivesReloadAndCrash: with server.plugin_mtls the
// host–plugin link is mutually authenticated, and the host keeps the key
// pair so that a reload, and a host started after a crash, reattach to the
// same plugin process with everyone still logged in.
func TestPluginMTLSSurvivesReloadAndCrash(t *testing.T) {
	t.Setenv("PORTICO_SERVER_PLUGIN_MTLS", "true")
	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.login("Mira", "mirapass1", true)
	plugin := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	rec, err := os.ReadFile(filepath.Join(h.dir, "data", "run", "records", "telnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec), `"client_key"`) || !strings.Contains(string(rec), `"server_cert"`) {
		t.Fatalf("the plugin record keeps no mTLS key pair:\n%s", rec)
	}

	reload := exec.Command(filepath.Join(binDir, "portico"), "reload", "--config", h.configPath)
	if out, err := reload.CombinedOutput(); err != nil {
		t.Fatalf("portico reload: %v\n%s", err, out)
	}
	c.expect("Server restarted.")
	c.send("say still here after the reload")
	c.expect(`You say, "still here after the reload"`)

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-h.exited
	c.expect("The server is restarting; please wait a moment.")
	h.start()
	c.expect("Server restarted.")
	c.send("say still here after the crash")
	c.expect(`You say, "still here after the crash"`)

	after := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if after.PID != plugin.PID || after.Restarts != 0 {
		t.Fatalf("plugin %+v -> %+v: it must be reattached over mTLS, not restarted", plugin, after)
	}
	if strings.Contains(h.logText(), "cannot reattach") {
		t.Fatalf("the host could not reattach:\n%s", h.logText())
	}
	// The traffic went over the data socket, in TLS (under mTLS the host
	// refuses a plain one and falls back to the Link stream instead).
	if !strings.Contains(h.logText(), `reattached=true link="data socket"`) {
		t.Fatalf("the reattached plugin is not linked over its data socket:\n%s", h.logText())
	}
}
