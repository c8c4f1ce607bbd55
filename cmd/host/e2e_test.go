package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

// TestTwoPlayersTalk is the walking skeleton end to end: two telnet
// clients create accounts, log in, see each other, talk and quit.
func TestTwoPlayersTalk(t *testing.T) {
	h := startHost(t)
	alice := dialTelnet(t, h.telnetAddr)
	bob := dialTelnet(t, h.telnetAddr)
	alice.login("Alice", "wonderland1", true)
	bob.login("Bob", "builder22", true)

	alice.send("who")
	out := alice.expect("unique accounts logged in.")
	if !strings.Contains(out, "Alice") || !strings.Contains(out, "Bob") || !strings.Contains(out, "2 unique accounts") {
		t.Fatalf("who does not list both players:\n%s", out)
	}

	alice.send("ping hi")
	alice.expect("pong hi")
	alice.send("say Hello, Bob!")
	alice.expect(`You say, "Hello, Bob!"`)
	bob.expect(`Alice says, "Hello, Bob!"`)
	bob.send(`"Hi Alice.`)
	alice.expect(`Bob says, "Hi Alice."`)

	st := h.waitFor("two accounts online", func(st host.Status) bool { return st.AccountsOnline == 2 })
	if st.Sessions != 2 || st.Accounts != 2 {
		t.Fatalf("status: %+v", st)
	}

	bob.send("quit")
	bob.expect("Quitting. Hope to see you again, soon.")
	bob.expectClosed()
	alice.send("who")
	if out := alice.expect("logged in."); strings.Contains(out, "Bob") {
		t.Fatalf("Bob still listed after quitting:\n%s", out)
	}
	h.waitFor("one session", func(st host.Status) bool { return st.Sessions == 1 })
}

// TestPluginKilledComesBack kills the telnet plugin: its sessions leave
// the host, the host stays up, and the plugin is back within seconds.
func TestPluginKilledComesBack(t *testing.T) {
	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.login("Carol", "secret123", true)
	h.waitFor("one session", func(st host.Status) bool { return st.Sessions == 1 })
	before := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })

	start := time.Now()
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	after := h.waitPlugin("telnet", func(p pluginStatus) bool {
		return p.State == "running" && p.PID != before.PID
	})
	t.Logf("plugin back after %v (pid %d -> %d)", time.Since(start).Round(time.Millisecond), before.PID, after.PID)
	if after.Restarts != 1 {
		t.Fatalf("restarts = %d, want 1", after.Restarts)
	}
	st := h.waitFor("no sessions", func(st host.Status) bool { return st.Sessions == 0 })
	if st.AccountsOnline != 0 {
		t.Fatalf("accounts online after crash: %+v", st)
	}
	if !strings.Contains(h.logText(), "plugin died") {
		t.Fatalf("the log does not say why the plugin restarted:\n%s", h.logText())
	}

	c2 := dialTelnet(t, h.telnetAddr)
	c2.login("Carol", "secret123", false)
	select {
	case <-h.exited:
		t.Fatal("host exited")
	default:
	}
}

// TestBadInput: hostile and mistaken input gets a clear answer, and
// another player notices nothing.
func TestBadInput(t *testing.T) {
	h := startHost(t)
	watcher := dialTelnet(t, h.telnetAddr)
	watcher.login("Watcher", "watching1", true)
	c := dialTelnet(t, h.telnetAddr)
	c.expect("Welcome to TestGame")

	c.send("xyzzy")
	c.expect(`Command 'xyzzy' is not available. Type "help" for help.`)
	c.send("connect Watcher wrongpass")
	c.expect("Username and/or password is incorrect.")
	c.send("connect Nobody whatever")
	c.expect("Username and/or password is incorrect.")
	c.send("create watcher other123")
	c.expect("Sorry, there is already an account with the name 'watcher'.")

	c.send(strings.Repeat("a", 100*1024))
	c.expect("You entered a string that was too long. Please break it up into multiple parts.")
	c.sendRaw([]byte{0xff, 0xfe, 0xfd, 0x80, 0x81, 0xc3, 0x28, '\r', '\n'})
	c.expect("Your client sent an incorrect UTF-8 sequence.")
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + 13)
	}
	c.sendRaw(garbage)
	c.sendRaw([]byte("\r\n"))
	// A lone IAC at the end of a packet, then the rest of the command.
	c.sendRaw([]byte("lo\xff"))
	time.Sleep(50 * time.Millisecond) // let the two writes arrive as two packets
	c.sendRaw([]byte("\xf1ok\r\n"))
	c.expect("Welcome to TestGame") // "look" with an IAC NOP inside shows the screen

	c.send("create Mallory evil1234")
	c.expect("A new account 'Mallory' was created.")
	c.send("connect Mallory evil1234")
	c.expect("You become Mallory.")

	watcher.send("say still here")
	watcher.expect(`You say, "still here"`)
	c.expect(`Watcher says, "still here"`)
	st := h.waitFor("two sessions", func(st host.Status) bool { return st.Sessions == 2 })
	if st.AccountsOnline != 2 {
		t.Fatalf("status after bad input: %+v", st)
	}
}

// TestPasswordPromptHidesPassword: `connect name` alone asks for the
// password with the client's echo off (IAC WILL ECHO), then turns it back
// on (IAC WONT ECHO).
func TestPasswordPromptHidesPassword(t *testing.T) {
	h := startHost(t)
	c := dialTelnet(t, h.telnetAddr)
	c.expect("Welcome to TestGame")
	c.send("create Dave")
	c.expect("\xff\xfb\x01Password: ")
	c.send("daves-secret")
	c.expect("\xff\xfc\x01")
	c.expect("A new account 'Dave' was created.")
	c.send("connect Dave")
	c.expect("\xff\xfb\x01Password: ")
	c.send("daves-secret")
	c.expect("You become Dave.")
}

// TestStopAndAccountCLI: `portico account create` makes an admin from the
// command line, `portico status` prints plugins, `portico stop` ends the
// host and its plugin.
func TestStopAndAccountCLI(t *testing.T) {
	h := startHost(t)
	create := exec.Command(filepath.Join(binDir, "portico"), "account", "create", "Root", "--admin", "--config", h.configPath)
	create.Stdin = strings.NewReader("rootpass1\n")
	out, err := create.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "created admin account Root") {
		t.Fatalf("account create: %v\n%s", err, out)
	}
	c := dialTelnet(t, h.telnetAddr)
	c.login("Root", "rootpass1", false)

	status := exec.Command(filepath.Join(binDir, "portico"), "status", "--config", h.configPath)
	out, err = status.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "telnet") || !strings.Contains(string(out), "running") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	pid := h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" }).PID

	stop := exec.Command(filepath.Join(binDir, "portico"), "stop", "--config", h.configPath)
	var stopOut bytes.Buffer
	stop.Stdout, stop.Stderr = &stopOut, &stopOut
	if err := stop.Run(); err != nil {
		t.Fatalf("stop: %v\n%s", err, stopOut.String())
	}
	c.expect("Server is shutting down.")
	c.expectClosed()
	select {
	case <-h.exited:
		if err := h.exitError(); err != nil {
			t.Fatalf("host exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("host still running after stop")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		// The plugin may be a zombie for an instant; give it a moment.
		time.Sleep(500 * time.Millisecond)
		if _, err := os.FindProcess(pid); err == nil && syscall.Kill(pid, 0) == nil {
			t.Fatalf("plugin %d still running after stop", pid)
		}
	}
}
