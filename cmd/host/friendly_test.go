package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

// TestOperatorCommandsAreFriendly: a taken or reserved name is told so
// before the creation limit (and, in prompt mode, before the password is
// asked for); @ban of a name nobody has warns; `portico announce` says how
// many sessions heard it (--json for JSON); `portico status` keeps a
// crashed plugin's last error, with its time, once it runs again, and
// through `portico plugin restart`, which tells the plugin's players and
// brings it back; `portico stop --reason X` tells players "The server is
// shutting down: X".
func TestOperatorCommandsAreFriendly(t *testing.T) {
	h := startHostWith(t, hostOptions{limits: `  connection_rate: 0
  connections_per_ip: 0
  account_creations: 1
  create_attempts: 0
`})
	createAccount(t, h, "Root", "rootpass1", true)
	c := dialTelnet(t, h.telnetAddr)
	c.expect("Welcome to TestGame")
	c.send("create Ann annpass11")
	c.expect("A new account 'Ann' was created.")
	c.send("create Ann otherpass1")
	c.expect("Sorry, there is already an account with the name 'Ann'.")
	c.send("create admin otherpass1")
	c.expect("The name 'admin' is reserved.")
	c.send("create Ann")
	if out := c.expect("Sorry, there is already an account with the name 'Ann'."); strings.Contains(out, "Password:") {
		t.Fatalf("the password was asked for a taken name: %q", out)
	}
	c.send("create Ben benpass11")
	c.expect("You are creating too many accounts.")

	root := dialTelnet(t, h.telnetAddr)
	root.login("Root", "rootpass1", false)
	root.send("@ban Nobbody")
	root.expect("Banned account Nobbody.")
	root.expect("Warning: no account is named 'Nobbody'.")
	root.send("@ban Ann = spam")
	out := root.expect("Banned account Ann.")
	root.send("ping after-ban")
	out += root.expect("pong after-ban")
	if strings.Contains(out, "Warning") {
		t.Errorf("@ban of an account that exists warned: %q", out)
	}

	if out := mustPortico(t, h, "", "announced to 2 session(s)", "announce", "hello", "all"); strings.Contains(out, "{") {
		t.Errorf("announce printed JSON: %q", out)
	}
	root.expect("hello all")
	var ann map[string]int
	if err := json.Unmarshal([]byte(mustPortico(t, h, "", "sessions", "announce", "--json", "again")), &ann); err != nil || ann["sessions"] != 2 {
		t.Errorf("announce --json: %v %v", ann, err)
	}

	// A crash: the error stays once the plugin runs again.
	telnet := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(telnet.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor("telnet back", func(st host.Status) bool {
		return len(st.Plugins) == 1 && st.Plugins[0].State == "running" && st.Plugins[0].PID != telnet.PID
	})
	p := st.Plugins[0]
	if p.LastError == "" || time.Since(p.LastErrorAt) > time.Minute {
		t.Fatalf("status after the plugin came back: last error %q at %v", p.LastError, p.LastErrorAt)
	}
	mustPortico(t, h, "", p.LastError+" (at "+p.LastErrorAt.Local().Format("15:04:05"), "status")

	// plugin restart: players told, the plugin back, the error kept.
	d := dialTelnet(t, h.telnetAddr)
	d.expect("Welcome to TestGame")
	mustPortico(t, h, "", "restarting plugin telnet", "plugin", "restart", "telnet")
	d.expect("The telnet service is restarting. Please reconnect.")
	d.expectClosed()
	st = h.waitFor("telnet restarted", func(st host.Status) bool {
		return st.Plugins[0].State == "running" && st.Plugins[0].PID != p.PID
	})
	if st.Plugins[0].LastError != p.LastError || !st.Plugins[0].LastErrorAt.Equal(p.LastErrorAt) || st.Plugins[0].Restarts != p.Restarts+1 {
		t.Errorf("after plugin restart: %+v, before %+v", st.Plugins[0], p)
	}
	if out, ok := portico(t, h, "", "plugin", "restart", "nosuch"); ok || !strings.Contains(out, `no plugin named "nosuch"`) {
		t.Errorf("restart of an unknown plugin: ok %v\n%s", ok, out)
	}

	e := dialTelnet(t, h.telnetAddr)
	e.expect("Welcome to TestGame")
	mustPortico(t, h, "", "stopped", "stop", "--reason", "maintenance at noon")
	e.expect("The server is shutting down: maintenance at noon")
	e.expectClosed()
}

// TestBotRestart: `portico bot restart NAME` ends the bot's session (its
// IRC connection quits) and starts it again: it joins its IRC channel
// anew.
func TestBotRestart(t *testing.T) {
	irc := startNgircd(t)
	h := startIRCHost(t)
	watcher := dialIRC(t, irc.addr(), "watcher", "#test")
	mustPortico(t, h, "", "", "bot", "add", "restbot", "--protocol", "irc", "--channel", "public",
		"network=127.0.0.1", fmt.Sprintf("port=%d", irc.port), "channel=#test", "nick=restbot")
	watcher.waitMember("#test", "restbot")
	mark := watcher.mark()
	mustPortico(t, h, "", "restarting bot restbot", "bot", "restart", "restbot")
	watcher.expect(":restbot!")
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines := strings.Join(watcher.since(mark), "\n")
		if strings.Contains(lines, " QUIT ") && strings.Contains(lines[strings.Index(lines, " QUIT "):], " JOIN ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not quit and join again; IRC saw:\n%s", lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, ok := portico(t, h, "", "bot", "restart", "nosuch"); ok || !strings.Contains(out, `no bot named "nosuch"`) {
		t.Errorf("restart of an unknown bot: ok %v\n%s", ok, out)
	}
}
