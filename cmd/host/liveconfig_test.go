package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// secondTelnet is a config block for a second telnet plugin instance: two
// processes of the same binary serving two ports, standing in for two
// protocols.
func secondTelnet(port int, enabled bool) string {
	return fmt.Sprintf(`  telnet2:
    enabled: %v
    path: %s
    config:
      listen: "127.0.0.1:%d"
`, enabled, filepath.Join(binDir, "portico-telnet"), port)
}

// TestOtherPluginUnaffected: SIGKILL one plugin; the players of another
// notice nothing.
func TestOtherPluginUnaffected(t *testing.T) {
	port2 := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: secondTelnet(port2, true)})
	h.waitPlugin("telnet2", func(p pluginStatus) bool { return p.State == "running" })
	victim := dialTelnet(t, h.telnetAddr)
	victim.login("Gina", "ginapass1", true)
	a := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port2))
	a.login("Hank", "hankpass1", true)
	b := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port2))
	b.login("Iris", "irispass1", true)
	marker := a.Mark()

	doomed := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	other := h.waitPlugin("telnet2", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(doomed.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.expectClosed()
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" && p.PID != doomed.PID })

	a.send("say we are fine")
	b.expect(`Hank says, "we are fine"`)
	a.expect(`You say, "we are fine"`)
	if got := a.Since(marker); strings.Contains(got, "restart") || strings.Contains(got, "stopped") {
		t.Fatalf("a player of the other plugin saw something: %q", got)
	}
	if a.isClosed() || b.isClosed() {
		t.Fatal("a player of the other plugin was dropped")
	}
	still := h.waitPlugin("telnet2", func(p pluginStatus) bool { return true })
	if still.PID != other.PID || still.Restarts != 0 {
		t.Fatalf("the other plugin was touched: %+v -> %+v", other, still)
	}
}

// TestLiveConfig enables and disables a plugin by editing config.yaml
// while the host runs, and shows that a broken edit changes nothing.
func TestLiveConfig(t *testing.T) {
	port2 := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{extra: secondTelnet(port2, false)})
	orig, err := os.ReadFile(h.configPath)
	if err != nil {
		t.Fatal(err)
	}
	stay := dialTelnet(t, h.telnetAddr)
	stay.login("Jack", "jackpass1", true)

	edit := func(from, to string) {
		t.Helper()
		cur, err := os.ReadFile(h.configPath)
		if err != nil {
			t.Fatal(err)
		}
		next := strings.Replace(string(cur), from, to, 1)
		if next == string(cur) {
			t.Fatalf("edit %q -> %q changed nothing", from, to)
		}
		if err := os.WriteFile(h.configPath, []byte(next), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Enable telnet2: it starts and takes players.
	edit("  telnet2:\n    enabled: false", "  telnet2:\n    enabled: true")
	h.waitPlugin("telnet2", func(p pluginStatus) bool { return p.State == "running" })
	c := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port2))
	c.login("Kate", "katepass1", true)

	// A broken edit is rejected and nothing changes.
	good, err := os.ReadFile(h.configPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.configPath, append(append([]byte{}, good...), []byte("server:\n  multisession_mode: [oops\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(h.logText(), "config: rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("broken config not reported:\n%s", h.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := h.waitFor("status", func(host.Status) bool { return true })
	for _, p := range st.Plugins {
		if p.State != "running" {
			t.Fatalf("broken edit changed plugin %s: %+v", p.Name, p)
		}
	}
	c.send("say still on telnet2")
	c.expect(`You say, "still on telnet2"`)

	// Disable telnet2 again: its player is told and dropped; the telnet
	// player stays.
	if err := os.WriteFile(h.configPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	edit("  telnet2:\n    enabled: true", "  telnet2:\n    enabled: false")
	c.expect("The telnet2 service is being turned off.")
	c.expectClosed()
	h.waitPlugin("telnet2", func(p pluginStatus) bool { return p.State == "stopped" })
	stay.send("say still here")
	stay.expect(`You say, "still here"`)
	if stay.isClosed() {
		t.Fatal("telnet player dropped by another plugin's config change")
	}

	// A host setting that can change live: the server name.
	if err := os.WriteFile(h.configPath, []byte(strings.Replace(string(orig), "name: TestGame", "name: RenamedGame", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor("new name", func(st host.Status) bool { return st.ServerName == "RenamedGame" })
	d := dialTelnet(t, h.telnetAddr)
	d.expect("Welcome to RenamedGame")
}

// TestCrashLoopMarksFailed: a plugin that passes the start's check but
// dies at every start is restarted with backoff, then marked failed with
// the reason in `portico status`, while the other plugins serve on. Its
// error is logged once, not at every death, and go-plugin's misleading
// "failed to exit gracefully" about a process that ended by itself is not
// logged at all.
func TestCrashLoopMarksFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the whole backoff sequence (about 8 s)")
	}
	dir := t.TempDir()
	broken := filepath.Join(dir, "portico-broken")
	// Its first launch (the start's check of its block) is the real
	// telnet plugin, which passes; every later one dies at once.
	script := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]s 2>/dev/null || echo 0)
echo $((n+1)) > %[1]s
if [ "$n" = 0 ]; then exec %[2]s; fi
echo 'broken plugin: no config' >&2
exit 3
`, filepath.Join(dir, "launches"), filepath.Join(binDir, "portico-telnet"))
	if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := startHostWith(t, hostOptions{extra: fmt.Sprintf("  broken:\n    enabled: true\n    path: %s\n    config:\n      listen: \"127.0.0.1:0\"\n", broken)})
	c := dialTelnet(t, h.telnetAddr)
	c.login("Liam", "liampass1", true)
	var failed pluginStatus
	deadline := time.Now().Add(40 * time.Second)
	for {
		st, err := h.status()
		if err == nil {
			for _, p := range st.Plugins {
				if p.Name == "broken" && p.State == "failed" {
					failed = pluginStatus{Name: p.Name, State: p.State, Restarts: p.Restarts}
					if !strings.Contains(p.LastError, "crash loop") || !strings.Contains(p.LastError, "its stderr: broken plugin: no config") {
						t.Fatalf("failed plugin's last error does not say why: %q", p.LastError)
					}
				}
			}
		}
		if failed.State == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if failed.State != "failed" {
		t.Fatalf("broken plugin never marked failed:\n%s", h.logText())
	}
	if failed.Restarts < 5 {
		t.Fatalf("restarts = %d, want at least 5", failed.Restarts)
	}
	log := h.logText()
	if n := strings.Count(log, "broken plugin: no config"); n != 1 {
		t.Errorf("the plugin's error is in the log %d times, want once:\n%s", n, log)
	}
	if strings.Contains(log, "failed to exit gracefully") {
		t.Errorf("the log says a plugin that ended by itself failed to exit gracefully:\n%s", log)
	}
	if !strings.Contains(log, "plugin keeps dying the same way; not restarting it") {
		t.Errorf("the log does not say the plugin was given up:\n%s", log)
	}
	c.send("say the game goes on")
	c.expect(`You say, "the game goes on"`)
}
