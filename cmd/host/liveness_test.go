package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// unthrottled is testLimits without the command rate: the liveness tests
// type as fast as the game answers.
const unthrottled = testLimits + "  command_rate: 0\n"

// stallBinary is testdata/stallplugin: a plugin whose link reader stalls
// once a client sends "stall".
func stallBinary(t *testing.T) string {
	return buildOnce(t, "portico-stall", ".", "./testdata/stallplugin")
}

// rssKiB reads a process's resident memory from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// pluginState returns plugin name's state and last error in st.
func pluginState(st host.Status, name string) (state, lastErr string) {
	for _, p := range st.Plugins {
		if p.Name == name {
			return p.State, p.LastError
		}
	}
	return "", ""
}

// gone reports whether process pid has ended (and been reaped) or is not
// the process started at startTicks any more.
func gone(pid int, startTicks string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return fields[0] == "Z" || fields[19] != startTicks
}

func startTicksOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[19]
}

// TestStoppedPluginRestarted: a plugin process stopped with SIGSTOP
// answers no ping. Within the ping timeout the host shows it
// `unresponsive` in `portico status`, drops its sessions, ends the process
// and starts it again, as it does a crashed one; meanwhile the game keeps
// answering the players of another plugin, the output the host holds for
// the stopped one stays bounded, and the host's memory with it.
func TestStoppedPluginRestarted(t *testing.T) {
	telnet2 := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{
		server: "  plugin_ping_interval: 200ms\n  plugin_ping_timeout: 1s\n  plugin_outbox_mib: 4\n",
		limits: unthrottled,
		extra:  pluginBlock("telnet2", filepath.Join(binDir, "portico-telnet"), telnet2, ""),
	})
	h.waitPlugin("telnet2", func(p pluginStatus) bool { return p.State == "running" })
	alice := dialTelnet(t, h.telnetAddr)
	alice.login("Alice", "wonderland1", true)
	bob := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", telnet2))
	bob.login("Bob", "builder22", true)
	h.waitFor("two accounts online", func(st host.Status) bool { return st.AccountsOnline == 2 })
	stopped := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	ticks := startTicksOf(t, stopped.PID)
	st, err := h.status()
	if err != nil {
		t.Fatal(err)
	}
	before := rssKiB(t, st.PID)

	if err := syscall.Kill(stopped.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Should the host not have ended it, the test does.
		if !gone(stopped.PID, ticks) {
			_ = syscall.Kill(stopped.PID, syscall.SIGKILL)
		}
	})
	start := time.Now()
	// Bob talks on: everything he says goes to Alice too, through the
	// stopped plugin. Each answer to Bob is waited for.
	line := strings.Repeat("x", 2000)
	var slowest time.Duration
	for i := range 100 {
		sent := time.Now()
		bob.send(fmt.Sprintf("say %d %s", i, line))
		bob.expect(fmt.Sprintf(`You say, "%d x`, i))
		slowest = max(slowest, time.Since(sent))
	}
	if slowest > 2*time.Second {
		t.Errorf("the game took %v to answer a player of another plugin while one was stopped", slowest)
	}
	h.waitFor("the stopped plugin shown unresponsive", func(st host.Status) bool {
		state, _ := pluginState(st, "telnet")
		return state == "unresponsive"
	})
	noticed := time.Since(start)
	st = h.waitFor("the stopped plugin restarted", func(st host.Status) bool {
		for _, p := range st.Plugins {
			if p.Name == "telnet" {
				return p.State == "running" && p.PID != stopped.PID && p.Restarts == 1
			}
		}
		return false
	})
	t.Logf("unresponsive after %v, running again after %v; Bob's slowest answer %v",
		noticed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if !gone(stopped.PID, ticks) {
		t.Fatalf("the stopped plugin process %d was not ended", stopped.PID)
	}
	if !strings.Contains(h.logText(), "plugin unresponsive") {
		t.Fatalf("the log does not say why the plugin was restarted:\n%s", h.logText())
	}
	alice.expectClosed()
	h.waitFor("Alice's session dropped", func(st host.Status) bool { return st.Sessions == 1 })
	bob.send("ping still here")
	bob.expect("pong still here")
	after := rssKiB(t, st.PID)
	t.Logf("host RSS %d KiB before, %d KiB after", before, after)
	if after-before > 64<<10 {
		t.Fatalf("the host grew by %d KiB while a plugin was stopped", after-before)
	}
}

// TestStalledPluginNeverBlocksGame: a plugin whose link reader stalls
// (testdata/stallplugin: its Conn.Send blocks) reads no more output while
// its clients still type. The host's inline writes never wait for it: a
// telnet player keeps getting answers at once while the host's output for
// the stalled plugin piles up, and once that passes plugin_outbox_mib the
// plugin counts as unresponsive (the ping timeout is set far off, so the
// bound is what ends it) and is restarted.
func TestStalledPluginNeverBlocksGame(t *testing.T) {
	port := conntest.FreePort(t)
	h := startHostWith(t, hostOptions{
		server: "  plugin_ping_interval: 200ms\n  plugin_ping_timeout: 60s\n  plugin_outbox_mib: 1\n",
		limits: unthrottled,
		extra:  pluginBlock("stall", stallBinary(t), port, ""),
	})
	stalled := h.waitPlugin("stall", func(p pluginStatus) bool { return p.State == "running" })
	player := dialTelnet(t, h.telnetAddr)
	player.expect("Welcome to TestGame")
	client := dialTelnet(t, fmt.Sprintf("127.0.0.1:%d", port))
	client.expect("Welcome to TestGame")
	client.send("stall")
	client.expect("stallplugin: stalled")
	// The plugin's reader blocks on the next output; every announce after
	// it (32 KiB to each session) piles up for the stalled plugin.
	text := strings.Repeat("y", 32<<10)
	var slowest time.Duration
	start := time.Now()
	for i := 0; ; i++ {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the stalled plugin was not found unresponsive in 20 s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := control.Call(ctx, filepath.Join(h.dir, "data", "run", "control.sock"),
			control.Request{Cmd: "announce", Args: map[string]string{"text": text}}, false)
		cancel()
		if err != nil {
			t.Fatalf("announce %d: %v", i, err)
		}
		sent := time.Now()
		player.send(fmt.Sprintf("ping %d", i))
		player.expect(fmt.Sprintf("pong %d", i))
		slowest = max(slowest, time.Since(sent))
		st, err := h.status()
		if err != nil {
			t.Fatal(err)
		}
		if state, lastErr := pluginState(st, "stall"); state == "unresponsive" {
			if !strings.Contains(lastErr, "output unread") {
				t.Fatalf("unresponsive for another reason: %s", lastErr)
			}
			t.Logf("unresponsive after %d announces of 32 KiB (%v): %s", i+1, time.Since(start).Round(time.Millisecond), lastErr)
			break
		}
	}
	if slowest > 2*time.Second {
		t.Errorf("a telnet player waited %v for an answer while a plugin stalled", slowest)
	}
	h.waitPlugin("stall", func(p pluginStatus) bool { return p.State == "running" && p.PID != stalled.PID })
	client.expectClosed()
	player.send("ping after")
	player.expect("pong after")
}
