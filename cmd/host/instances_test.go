package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// startInstancesHost starts a host whose config has two telnet blocks,
// telnet-a and telnet-b (both protocol: telnet, each on its own port), and
// the websocket plugin; it returns the host, the two telnet addresses and
// the webclient's base URL.
func startInstancesHost(t *testing.T) (h *testHost, telnetA, telnetB, web string) {
	t.Helper()
	dir := t.TempDir()
	pa, pb, pw := conntest.FreePort(t), conntest.FreePort(t), conntest.FreePort(t)
	cfg := fmt.Sprintf(`server:
  name: TestGame
  data_dir: data
  argon2_memory_kib: 256
  argon2_time: 1
limits:
%s
plugins:
  telnet-a:
    enabled: true
    protocol: telnet
    config:
      listen: "127.0.0.1:%d"
  telnet-b:
    enabled: true
    protocol: telnet
    config:
      listen: "127.0.0.1:%d"
  websocket:
    enabled: true
    config:
      listen: "127.0.0.1:%d"
`, testLimits, pa, pb, pw)
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, cfg)
	h = &testHost{t: t, dir: dir, configPath: path}
	h.start()
	t.Cleanup(func() {
		h.stopProcess()
		if t.Failed() {
			t.Logf("host log:\n%s", h.logText())
			for _, name := range []string{"telnet-a.log", "telnet-b.log", "websocket.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, "data", "logs", name)); err == nil {
					t.Logf("%s:\n%s", name, b)
				}
			}
		}
	})
	for _, name := range []string{"telnet-a", "telnet-b", "websocket"} {
		h.waitPlugin(name, func(p pluginStatus) bool { return p.State == "running" })
	}
	return h, fmt.Sprintf("127.0.0.1:%d", pa), fmt.Sprintf("127.0.0.1:%d", pb), fmt.Sprintf("http://127.0.0.1:%d", pw)
}

// TestTwoTelnetInstancesAndWebsocket: two blocks of one protocol
// (telnet-a and telnet-b, protocol: telnet) run as two plugins in one
// game beside the websocket plugin: a player on each of the three hears
// the others' say, `who` lists all three, their session ids are distinct,
// and `portico status` lists both telnet instances, each with its own
// address and log.
func TestTwoTelnetInstancesAndWebsocket(t *testing.T) {
	h, addrA, addrB, web := startInstancesHost(t)
	ann := dialTelnet(t, addrA)
	ben := dialTelnet(t, addrB)
	ann.login("Ann", "annpass123", true)
	ben.login("Ben", "benpass123", true)
	w := dialWS(t, web, "")
	w.expect("Welcome to TestGame")
	w.command("create Wes wespass123")
	w.expect("was created.")
	w.command("connect Wes wespass123")
	w.expect("You become Wes.")

	ann.send("say from telnet-a")
	ben.expect(`Ann says, "from telnet-a"`)
	w.expect("Ann says, &quot;from telnet-a&quot;")
	ben.send("say from telnet-b")
	ann.expect(`Ben says, "from telnet-b"`)
	w.expect("Ben says, &quot;from telnet-b&quot;")
	w.command("say from the web")
	ann.expect(`Wes says, "from the web"`)
	ben.expect(`Wes says, "from the web"`)

	ben.send("who")
	out := ben.expect("unique accounts logged in.")
	for _, name := range []string{"Ann", "Ben", "Wes", "3 unique accounts"} {
		if !strings.Contains(out, name) {
			t.Errorf("who does not show %q:\n%s", name, out)
		}
	}

	list, err := h.sessions()
	if err != nil {
		t.Fatal(err)
	}
	byPlugin := map[string]host.SessionInfo{}
	ids := map[uint64]bool{}
	for _, s := range list {
		byPlugin[s.Plugin] = s
		ids[s.Sessid] = true
	}
	if len(list) != 3 || len(ids) != 3 {
		t.Errorf("sessions %+v: want three, with three ids", list)
	}
	for plugin, proto := range map[string]string{"telnet-a": "telnet", "telnet-b": "telnet", "websocket": "websocket"} {
		if s, ok := byPlugin[plugin]; !ok || s.ProtocolKey != proto {
			t.Errorf("the session of %s: %+v (want protocol %s)", plugin, s, proto)
		}
	}

	stdout, stderr, code, _ := runCLI(t, nil, "status", "--config", h.configPath)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, stderr)
	}
	for _, row := range []string{
		`(?m)^telnet-a\s+telnet\s+running\s.*` + regexp.QuoteMeta(addrA),
		`(?m)^telnet-b\s+telnet\s+running\s.*` + regexp.QuoteMeta(addrB),
		`(?m)^websocket\s+websocket\s+running\s`,
	} {
		if !regexp.MustCompile(row).MatchString(stdout) {
			t.Errorf("status has no line matching %s:\n%s", row, stdout)
		}
	}
	for _, name := range []string{"telnet-a.log", "telnet-b.log"} {
		b, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", name))
		if err != nil || !bytes.Contains(b, []byte("listening")) {
			t.Errorf("%s: %v; want its own log saying where it listens:\n%s", name, err, b)
		}
	}
}
