package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// ircPlugin enables the IRC bridge plugin in a test host's config.
const ircPlugin = `  irc:
    enabled: true
`

// startIRCHost starts a host with the IRC plugin too, waits until it runs,
// and shows its log if the test fails.
func startIRCHost(t *testing.T) *testHost {
	t.Helper()
	h := startHostWith(t, hostOptions{extra: ircPlugin})
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(h.dir, "data", "logs", "irc.log")); err == nil {
				t.Logf("irc.log:\n%s", b)
			}
		}
	})
	h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" })
	return h
}

// TestIRCBridge bridges the game's public channel to #test on a real
// ngIRCd: a bot made in the game joins, a game message reaches an IRC
// user and an IRC message reaches a telnet player. Then each way the bot
// can be disturbed, after which it must relay again: a host reload (the
// IRC connection survives), the plugin killed (the host starts it and the
// bot again), ngIRCd killed and started again (the bot reconnects), the
// host stopped and started (the bot comes back from the database).
// Removed, the bot quits IRC.
func TestIRCBridge(t *testing.T) {
	irc := startNgircd(t)
	h := startIRCHost(t)
	runPortico(t, h, "adminpass1\n", "account", "create", "Admin", "--admin")

	watcher := dialIRC(t, irc.addr(), "watcher", "#test")
	admin := dialTelnet(t, h.telnetAddr)
	admin.login("Admin", "adminpass1", false)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Admin's telnet output:\n%s", admin.Since(0))
		}
	})

	// Every account is on the default channel, also one created by the
	// CLI while the host runs.
	admin.send("channel")
	if out := admin.expect("Talk on a channel with its name"); !onChannel(out, "public") {
		t.Errorf("an account created while the host runs is not on public:\n%s", out)
		admin.send("channel join public") // so that the bridge is still tested
		admin.expect("You join public")
	}
	admin.send(fmt.Sprintf("@irc2chan public = 127.0.0.1 %d #test portibot", irc.port))
	admin.expect("Bot portibot created")
	watcher.expect(":portibot!")
	relayBothWays(t, watcher, admin, "first")

	admin.send("@bots")
	if out := admin.expect("connected since"); !strings.Contains(out, "portibot") {
		t.Fatalf("@bots:\n%s", out)
	}
	if out := runPortico(t, h, "", "bot", "list"); !strings.Contains(out, "portibot") || !strings.Contains(out, "connected since") {
		t.Fatalf("portico bot list:\n%s", out)
	}

	// A host reload keeps the bot's IRC connection (the plugin holds it):
	// no QUIT, and it relays at once.
	mark := watcher.mark()
	runPortico(t, h, "", "reload")
	admin.expect("Server restarted.")
	relayBothWays(t, watcher, admin, "after a reload")
	for _, line := range watcher.since(mark) {
		if strings.HasPrefix(line, ":portibot!") && !strings.Contains(line, " PRIVMSG ") {
			t.Fatalf("the bot's IRC connection did not survive the reload: %q", line)
		}
	}

	// The plugin dies: the host starts it again, and it starts the bot.
	dead := h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(dead.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if line := watcher.expect(" QUIT :"); !strings.HasPrefix(line, ":portibot!") {
		t.Fatalf("QUIT from someone else: %q", line)
	}
	h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" && p.PID != dead.PID })
	watcher.waitMember("#test", "portibot")
	relayBothWays(t, watcher, admin, "after the plugin restarted")

	// ngIRCd dies and comes back on the same port: the bot reconnects.
	irc.kill()
	irc.start()
	watcher = dialIRC(t, irc.addr(), "watcher", "#test")
	watcher.waitMember("#test", "portibot")
	relayBothWays(t, watcher, admin, "after the IRC server came back")

	// The host stops (its plugins with it) and starts again: the bot is
	// started again from the database.
	h.stopProcess()
	if line := watcher.expect(" QUIT :"); !strings.HasPrefix(line, ":portibot!") {
		t.Fatalf("QUIT from someone else: %q", line)
	}
	h.start()
	h.waitPlugin("irc", func(p pluginStatus) bool { return p.State == "running" })
	watcher.waitMember("#test", "portibot")
	player := dialTelnet(t, h.telnetAddr)
	player.login("Admin", "adminpass1", false)
	relayBothWays(t, watcher, player, "after the host restarted")
	if out := runPortico(t, h, "", "bot", "list"); !strings.Contains(out, "connected since") {
		t.Fatalf("portico bot list after the restart:\n%s", out)
	}

	// Removed, the bot quits IRC with the reason.
	runPortico(t, h, "", "bot", "remove", "portibot")
	if line := watcher.expect(" QUIT :"); !strings.HasPrefix(line, ":portibot!") || !strings.Contains(line, "bot removed") {
		t.Fatalf("QUIT line %q", line)
	}
	if out := runPortico(t, h, "", "bot", "list"); strings.Contains(out, "portibot") {
		t.Fatalf("portico bot list after remove:\n%s", out)
	}
}

// relayBothWays: a player's channel message reaches IRC as
// "[public] Admin: ...", and an IRC user's message reaches the player as
// "[public] watcher@#test: ...".
func relayBothWays(t *testing.T, watcher *ircClient, player *telnetClient, tag string) {
	t.Helper()
	player.send("public Hello from the game " + tag)
	watcher.expect("PRIVMSG #test :[public] Admin: Hello from the game " + tag)
	watcher.send("PRIVMSG #test :hi " + tag)
	player.expect("watcher@#test: hi " + tag)
}

// onChannel reads the `channel` command's table: is the row of name
// marked joined?
func onChannel(table, name string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(strings.ReplaceAll(line, "|", " "))
		if len(f) >= 2 && f[0] == name && f[1] == "yes" {
			return true
		}
	}
	return false
}
