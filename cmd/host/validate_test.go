package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/core/plugins"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// envMark marks every process a test starts (plugins inherit the host's
// environment), so that the test can find any left behind.
const envMark = "E2E_TEST_MARK"

// markedProcesses returns the pids of running processes whose environment
// holds mark.
func markedProcesses(t *testing.T, mark string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(envMark + "=" + mark + "\x00")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, want) {
			out = append(out, pid)
		}
	}
	return out
}

// TestStartRefusesBadPluginBlock: `portico start` with a mistake in a
// plugin's block or binary — an unknown key, a bad value, a missing
// binary, an address in use — checks every plugin through the plugin
// itself before it starts anything, and exits non-zero within 5 s with
// one line naming the key at its line, leaving no process behind.
func TestStartRefusesBadPluginBlock(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	const head = "server:\n  data_dir: data\nplugins:\n  telnet:\n    enabled: true\n"
	for _, tc := range []struct{ name, block, want string }{
		{"unknown key", "    config:\n      listen: \"127.0.0.1:0\"\n      lisen: \"127.0.0.1:0\"\n",
			`%s:8: plugins.telnet.config: unknown key "lisen" (did you mean "listen"?)`},
		{"bad value", "    config:\n      listen: \"127.0.0.1:0\"\n      keepalive: often\n",
			`%s:8: plugins.telnet.config.keepalive: want a duration ("30s", "5m") or a number of seconds, got string "often"`},
		{"missing binary", "    path: /nonexistent/portico-telnet\n",
			`%s:6: plugins.telnet.path: /nonexistent/portico-telnet: no such file`},
		{"port in use", fmt.Sprintf("    config:\n      listen: %q\n", taken),
			`%s:7: plugins.telnet.config.listen: ` + taken + `: address already in use`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			writeFile(t, path, head+tc.block)
			if got, want := refusedStart(t, path), "portico: "+fmt.Sprintf(tc.want, path)+"\n"; got != want {
				t.Errorf("stderr %q\nwant %q", got, want)
			}
		})
	}
}

// refusedStart runs `portico start` on the config at path, which it must
// refuse: a non-zero exit within 5 s, nothing on stdout, no process left
// behind. It returns the stderr.
func refusedStart(t *testing.T, path string) string {
	t.Helper()
	mark := newMark(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "portico"), "start", "--config", path)
	cmd.Env = append(os.Environ(), envMark+"="+mark)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	t.Cleanup(func() { killMarked(t, mark) })
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 || took > 5*time.Second || stdout.Len() != 0 {
		t.Fatalf("portico start: %v after %s; want a non-zero exit within 5s, and no output\n%s%s", err, took, stdout.String(), stderr.String())
	}
	if left := markedProcesses(t, mark); len(left) > 0 {
		t.Errorf("processes left behind: %v", left)
	}
	t.Logf("refused in %s", took.Round(time.Millisecond))
	return stderr.String()
}

func newMark(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// killMarked ends what a failed test left running.
func killMarked(t *testing.T, mark string) {
	for _, pid := range markedProcesses(t, mark) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}

// TestConfigCheckBrokenPluginBlocks: `portico config check` hands each
// enabled plugin's block to the plugin's own Validate (a process of its
// binary launched for the check) and prints every problem, one line each,
// at its line; it exits 1 and leaves no process behind.
func TestConfigCheckBrokenPluginBlocks(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, fmt.Sprintf(`server:
  data_dir: data
plugins:
  telnet:
    enabled: true
    config:
      listen: "127.0.0.1:0"
      max_line_lenght: 80
      disable_options: [zmp]
  ssh:
    enabled: true
    config:
      listen: %q
      max_sessions: 0
  websocket:
    enabled: true
    config:
      listen: "127.0.0.1:0"
      allowed_origins: ["*"]
  irc:
    enabled: true
    config:
      network: irc.example.org
`, taken))
	mark := newMark(t)
	t.Cleanup(func() { killMarked(t, mark) })
	out, errOut, code, took := runCLI(t, []string{envMark + "=" + mark}, "config", "check", "--config", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	want := []string{
		`%s:8: plugins.telnet.config: unknown key "max_line_lenght" (did you mean "max_line_length"?)`,
		`%s:9: plugins.telnet.config.disable_options: unknown option "zmp" (known: `,
		`%s:13: plugins.ssh.config.listen: ` + taken + `: address already in use`,
		`%s:14: plugins.ssh.config.max_sessions: must be at least 1`,
		`%s:19: plugins.websocket.config.allowed_origins: "*" would let any web page drive a player's session; name the hosts`,
		`%s:23: plugins.irc.config: unknown key "network"`,
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s\nwant %d lines", errOut, len(want))
	}
	for i, w := range want {
		if w = "portico: " + fmt.Sprintf(w, path); !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q\nwant %q", i+1, lines[i], w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config check made the data directory (err %v)", err)
	}
	if left := markedProcesses(t, mark); len(left) > 0 {
		t.Errorf("processes left behind: %v", left)
	}
	t.Logf("four plugins checked in %s", took.Round(time.Millisecond))
}

// lineOf returns the number of the first line of path that holds s.
func lineOf(t *testing.T, path, s string) int {
	t.Helper()
	for i, l := range strings.Split(readFile(t, path), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", path, s)
	return 0
}

// editConfig replaces from with to in the host's config.yaml.
func editConfig(t *testing.T, h *testHost, from, to string) {
	t.Helper()
	cur := readFile(t, h.configPath)
	next := strings.Replace(cur, from, to, 1)
	if next == cur {
		t.Fatalf("edit %q -> %q changed nothing", from, to)
	}
	writeFile(t, h.configPath, next)
}

// pluginNamed returns plugin name's status.
func pluginNamed(st host.Status, name string) plugins.Status {
	for _, p := range st.Plugins {
		if p.Name == name {
			return p
		}
	}
	return plugins.Status{}
}

// TestLiveEditTypoKeepsPlayers: a live edit with a typo in the telnet
// block is checked by the running plugin and refused: the plugin and its
// players stay and keep talking, and the error, naming the key at its
// line, is in the log and in `portico status`. Undoing the typo clears it.
func TestLiveEditTypoKeepsPlayers(t *testing.T) {
	h := startHost(t)
	before := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	a := dialTelnet(t, h.telnetAddr)
	a.login("Nora", "norapass1", true)
	b := dialTelnet(t, h.telnetAddr)
	b.login("Otto", "ottopass1", true)

	listenLine := fmt.Sprintf("      listen: %q\n", h.telnetAddr)
	editConfig(t, h, listenLine, listenLine+"      lisen: \"127.0.0.1:0\"\n")
	want := fmt.Sprintf(`%s:%d: plugins.telnet.config: unknown key "lisen" (did you mean "listen"?)`, h.configPath,
		lineOf(t, h.configPath, "lisen:"))
	st := h.waitFor("the config error", func(st host.Status) bool { return pluginNamed(st, "telnet").ConfigError != "" })
	if got := pluginNamed(st, "telnet"); got.ConfigError != want || got.PID != before.PID || got.State != "running" {
		t.Fatalf("telnet after the typo: %+v\nwant config_error %q and pid %d running", got, want, before.PID)
	}
	waitLog(t, h, "problem=\""+strings.ReplaceAll(want, `"`, `\"`)+"\"")
	a.send("say still talking")
	a.expect(`You say, "still talking"`)
	b.expect(`Nora says, "still talking"`)
	if a.isClosed() || b.isClosed() {
		t.Fatal("a player was dropped by a refused edit")
	}
	out, errOut, code, _ := runCLI(t, nil, "status", "--config", h.configPath)
	if code != 0 || !strings.Contains(out, "telnet: config not applied: "+want) {
		t.Errorf("portico status (exit %d) does not show the error:\n%s%s", code, out, errOut)
	}

	editConfig(t, h, listenLine+"      lisen: \"127.0.0.1:0\"\n", listenLine)
	st = h.waitFor("the error cleared", func(st host.Status) bool { return pluginNamed(st, "telnet").ConfigError == "" })
	if got := pluginNamed(st, "telnet"); got.PID != before.PID || got.Restarts != 0 {
		t.Fatalf("telnet was restarted: %+v", got)
	}
}

// TestLiveEditLimitInPlace: a live edit of limits.max_input_length reaches
// the running telnet plugin in place: a connected player's long line is
// refused by the new limit on the same connection.
func TestLiveEditLimitInPlace(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: testLimits + "  max_input_length: 6000\n"})
	before := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	c := dialTelnet(t, h.telnetAddr)
	c.login("Pia", "piapass12", true)
	long := "say " + strings.Repeat("x", 50)
	c.send(long)
	c.expect(`You say, "` + strings.Repeat("x", 50) + `"`)

	editConfig(t, h, "  max_input_length: 6000\n", "  max_input_length: 40\n")
	// The host logs this once the plugins have been handed the edit.
	waitLog(t, h, `msg="config: applied"`)
	c.send(long)
	c.expect("You entered a string that was too long. Please break it up into multiple parts.")
	c.send("say short")
	c.expect(`You say, "short"`)
	if c.isClosed() {
		t.Fatal("the player was dropped")
	}
	if got := h.waitPlugin("telnet", func(pluginStatus) bool { return true }); got.PID != before.PID || got.Restarts != 0 {
		t.Fatalf("telnet was restarted: %+v -> %+v", before, got)
	}
}

// TestLiveEditListenInPlace: a live edit of the telnet plugin's listen
// address opens the new one and closes the old one in the running plugin:
// players connected on the old port stay and talk, new players come in on
// the new port, and the old port takes nobody. The console said where
// each protocol listens when the host came up.
func TestLiveEditListenInPlace(t *testing.T) {
	h := startHost(t)
	waitLog(t, h, `msg="host up" listening="telnet on `+h.telnetAddr+`"`)
	before := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	old := dialTelnet(t, h.telnetAddr)
	old.login("Quinn", "quinnpass1", true)

	newAddr := fmt.Sprintf("127.0.0.1:%d", conntest.FreePort(t))
	editConfig(t, h, fmt.Sprintf("listen: %q", h.telnetAddr), fmt.Sprintf("listen: %q", newAddr))
	st := h.waitFor("the new listener", func(st host.Status) bool {
		l := pluginNamed(st, "telnet").Listeners
		return len(l) == 1 && l[0] == "telnet on "+newAddr
	})
	if got := pluginNamed(st, "telnet"); got.PID != before.PID || got.Restarts != 0 || got.ConfigError != "" {
		t.Fatalf("telnet after the edit: %+v (pid before %d)", got, before.PID)
	}
	fresh := dialTelnet(t, newAddr)
	fresh.login("Rita", "ritapass1", true)
	old.send("say from the old port")
	old.expect(`You say, "from the old port"`)
	fresh.expect(`Quinn says, "from the old port"`)
	if c, err := net.DialTimeout("tcp", h.telnetAddr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("the old address %s still takes players", h.telnetAddr)
	}
	if old.isClosed() {
		t.Fatal("the player on the old port was dropped")
	}
}

// TestPluginWithoutValidate: a plugin whose SDK has no Validate is checked
// the old way. A mistake in its block does not stop the start (only
// starting it could find it): the host comes up, and the plugin's failed
// Configure names the key in `portico status`. A live edit of its block
// restarts it with the new one.
func TestPluginWithoutValidate(t *testing.T) {
	bin := buildOnce(t, "portico-novalidate", ".", "./testdata/novalidate")
	port := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: pluginBlock("old", bin, port, "") + fmt.Sprintf(`  oldbad:
    enabled: true
    path: %s
    config:
      lisen: "127.0.0.1:0"
`, bin)})
	st := h.waitFor("oldbad's failure", func(st host.Status) bool {
		return strings.Contains(pluginNamed(st, "oldbad").LastError, `config: unknown key "lisen" (did you mean "listen"?)`)
	})
	before := pluginNamed(st, "old")
	if before.State != "running" {
		st = h.waitFor("old running", func(st host.Status) bool { return pluginNamed(st, "old").State == "running" })
		before = pluginNamed(st, "old")
	}

	next := conntest.FreePort(t)
	editConfig(t, h, fmt.Sprintf("listen: \"127.0.0.1:%d\"", port), fmt.Sprintf("listen: \"127.0.0.1:%d\"", next))
	waitLog(t, h, `msg="plugin config changed; the plugin cannot check a config before it runs it (no Validate): restarting it with the new one" plugin=old`)
	h.waitFor("old restarted on the new port", func(st host.Status) bool {
		p := pluginNamed(st, "old")
		return p.State == "running" && p.PID != before.PID && len(p.Listeners) == 1 && p.Listeners[0] == fmt.Sprintf("novalidate on 127.0.0.1:%d", next)
	})
}

// TestReloadKeepsPluginOnBadBlock: a live edit the telnet plugin refused
// is still in the file when the host reloads: the reloaded host checks the
// block before it touches the plugin, keeps the plugin (and its players)
// on the block it runs with, and shows the error again.
func TestReloadKeepsPluginOnBadBlock(t *testing.T) {
	h := startHost(t)
	before := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	c := dialTelnet(t, h.telnetAddr)
	c.login("Sven", "svenpass1", true)
	listenLine := fmt.Sprintf("      listen: %q\n", h.telnetAddr)
	editConfig(t, h, listenLine, listenLine+"      keepalive: often\n")
	h.waitFor("the refusal", func(st host.Status) bool { return pluginNamed(st, "telnet").ConfigError != "" })

	if _, errOut, code, _ := runCLI(t, nil, "reload", "--config", h.configPath); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, errOut)
	}
	c.expect("Server restarted.")
	st := h.waitFor("telnet after the reload", func(st host.Status) bool {
		p := pluginNamed(st, "telnet")
		return p.State == "running" && p.ConfigError != ""
	})
	got := pluginNamed(st, "telnet")
	if got.PID != before.PID || !strings.Contains(got.ConfigError, `plugins.telnet.config.keepalive: want a duration`) {
		t.Fatalf("telnet after the reload: %+v (pid before %d)", got, before.PID)
	}
	c.send("say still on the old block")
	c.expect(`You say, "still on the old block"`)
}
