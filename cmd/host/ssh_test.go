//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
)

// End-to-end tests of the SSH plugin with the real OpenSSH client (and
// sshpass for passwords) against the real binaries.

const connectionScreenLine = "If you have an existing account, connect to it by typing:"

// TestSSHPasswordLogin: the right password lands logged in, with no
// connection screen.
func TestSSHPasswordLogin(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Alice", "wonderland1")
	res := h.runSSH("wonderland1", "Alice", "", append(passwordOptions(), "-T"), "")
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout: %q\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "You become Alice.") {
		t.Fatalf("not logged in:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, connectionScreenLine) || strings.Contains(res.stdout, "incorrect") {
		t.Fatalf("a password login showed the login screen:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "\x1b[") {
		t.Fatalf("colour codes without a terminal:\n%q", res.stdout)
	}
}

// TestSSHWrongPassword: a wrong password gets Evennia's message and the
// login screen; so does an unknown name.
func TestSSHWrongPassword(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Bob", "builder22")
	for _, user := range []string{"Bob", "Nobody"} {
		res := h.runSSH("not-the-password", user, "", append(passwordOptions(), "-T"), "")
		if res.code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %q\nstderr: %s", user, res.code, res.stdout, res.stderr)
		}
		if !strings.Contains(res.stdout, "Username and/or password is incorrect.") ||
			!strings.Contains(res.stdout, connectionScreenLine) {
			t.Fatalf("%s: no login screen after a wrong password:\n%s", user, res.stdout)
		}
		if strings.Contains(res.stdout, "You become") {
			t.Fatalf("%s: logged in with a wrong password:\n%s", user, res.stdout)
		}
	}
	// On the login screen the player can still log in by hand.
	res := h.runSSH("not-the-password", "Bob", "connect Bob builder22\n", append(passwordOptions(), "-T"), "")
	if !strings.Contains(res.stdout, "You become Bob.") {
		t.Fatalf("connect on the login screen failed:\n%s", res.stdout)
	}
}

// TestSSHKeyLogin: a registered key logs straight in; an unregistered one
// is declined in the handshake (a client that may use nothing else is
// refused, as by any SSH server); someone else's public key alone (offered
// without its private half, then a password) logs nobody in.
func TestSSHKeyLogin(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Carol", "carolpass1")
	key := h.newKey("carol_key")
	h.addKey("Carol", key)

	res := h.runSSH("", "Carol", "", append(keyOptions(key), "-T"), "")
	if res.code != 0 || !strings.Contains(res.stdout, "You become Carol.") || strings.Contains(res.stdout, connectionScreenLine) {
		t.Fatalf("key login: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	other := h.newKey("other_key")
	res = h.runSSH("", "Carol", "", append(keyOptions(other), "-T"), "")
	if res.code != 255 || !strings.Contains(res.stderr, "Permission denied") || res.stdout != "" {
		t.Fatalf("an unregistered key, and nothing else allowed: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	// CVE-2024-45337: Carol's public key without its private half (the
	// private key file is junk), then a wrong password. OpenSSH offers
	// the key ("Server accepts key"), cannot load the private key to sign
	// and falls back to the password: the offered key must not count.
	pubOnly := filepath.Join(h.clientDir, "carol_pub_only")
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubOnly+".pub", pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubOnly, []byte("not a private key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = h.runSSH("wrong-password", "Carol", "", []string{"-T", "-i", pubOnly,
		"-o", "PreferredAuthentications=publickey,password", "-o", "NumberOfPasswordPrompts=1"}, "")
	if strings.Contains(res.stdout, "You become Carol.") {
		t.Fatalf("an offered, unproven key logged in:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "Username and/or password is incorrect.") || !strings.Contains(res.stdout, connectionScreenLine) {
		t.Fatalf("no password message and login screen:\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
	}
}

// TestSSHUnregisteredKeyAsksForPassword: OpenSSH as a player runs it, with
// its default authentication order, holding a key that is registered to
// nobody: the key is declined in the handshake, OpenSSH goes on to ask for
// the password, and the right password logs the player in, with no login
// screen. Someone without an account answers the password question with
// Enter, lands on the login screen and creates one there, as the plugin's
// README says.
func TestSSHUnregisteredKeyAsksForPassword(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Ivy", "ivypass1")
	stray := h.newKey("stray_key")
	// What a player's client does by default: every auth method, the key
	// first; sshpass answers the password prompt if one comes.
	defaults := []string{"-T", "-i", stray, "-o", "NumberOfPasswordPrompts=1"}
	res := h.runSSH("ivypass1", "Ivy", "", defaults, "")
	if res.code != 0 || !strings.Contains(res.stdout, "You become Ivy.") || strings.Contains(res.stdout, connectionScreenLine) {
		t.Fatalf("an unregistered key then the password: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}

	// No account: an empty answer to the password question gives the
	// login screen, where `create` makes one.
	res = h.runSSHAnswering(true, "", "Newcomer", "create Newcomer newpass1\n", defaults, "")
	if !strings.Contains(res.stdout, connectionScreenLine) || !strings.Contains(res.stdout, "A new account 'Newcomer' was created.") {
		t.Fatalf("no login screen for a newcomer: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
}

// TestSSHExecWho: `ssh host who` prints the who list and exits 0; with a
// wrong password it prints the login screen and exits 1.
func TestSSHExecWho(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Dave", "davepass1")
	watcher := dialTelnet(t, h.telnetAddr)
	watcher.login("Erin", "erinpass1", true)

	res := h.runSSH("davepass1", "Dave", "", passwordOptions(), "who")
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout: %q\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "Accounts:") || !strings.Contains(res.stdout, "Dave") ||
		!strings.Contains(res.stdout, "Erin") || !strings.Contains(res.stdout, "2 unique accounts logged in.") {
		t.Fatalf("who output:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "You become") || strings.Contains(res.stdout, connectionScreenLine) {
		t.Fatalf("the login's output is not the command's:\n%s", res.stdout)
	}

	res = h.runSSH("wrong", "Dave", "", passwordOptions(), "who")
	if res.code != 1 || !strings.Contains(res.stdout, "Username and/or password is incorrect.") ||
		!strings.Contains(res.stdout, connectionScreenLine) || strings.Contains(res.stdout, "Accounts:") {
		t.Fatalf("wrong password: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	// The command ran as a command: the session is gone.
	h.waitFor("only the telnet session", func(st host.Status) bool { return st.Sessions == 1 })
}

// TestSSHOneShotIsNoSecondLogin: in multisession mode 0 (the default) a
// login disconnects the account's other sessions, but a one-shot command
// (`ssh alice@host who`) is not a second login: the player's open SSH
// terminal stays connected and logged in, and the command prints both.
func TestSSHOneShotIsNoSecondLogin(t *testing.T) {
	h := startSSHHost(t)
	p := h.keyTerminal("Alice", "alicepass1")

	res := h.runSSH("alicepass1", "Alice", "", passwordOptions(), "who")
	if res.code != 0 || !strings.Contains(res.stdout, "Alice") || !strings.Contains(res.stdout, "1 unique account logged in.") {
		t.Fatalf("one-shot who: exit %d\nstdout: %q\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	h.waitFor("the one-shot session gone", func(st host.Status) bool { return st.Sessions == 1 })
	p.typeKeys("say still here\r")
	out := p.expect(`You say, "still here"`)
	if strings.Contains(out, "Logged in from elsewhere") {
		t.Fatalf("the one-shot command logged the terminal out:\n%q", out)
	}
	s := h.sshSession("the terminal, still logged in", func(s host.SessionInfo) bool { return s.LoggedIn })
	if s.Account != "Alice" {
		t.Fatalf("the terminal's session is %+v", s)
	}
}

// TestSSHTerminalAndResize: `ssh -tt` on a terminal gets a pty: the line
// is edited and echoed by the server, and resizing the terminal changes
// SCREENWIDTH on the host.
func TestSSHTerminalAndResize(t *testing.T) {
	h := startSSHHost(t)
	p := h.keyTerminal("Frank", "frankpass1")

	s := h.sshSession("a terminal 80 wide", func(s host.SessionInfo) bool {
		return s.LoggedIn && fmt.Sprint(s.ProtocolFlags["SCREENWIDTH"]) == "80"
	})
	if fmt.Sprint(s.ProtocolFlags["SCREENHEIGHT"]) != "24" || s.ProtocolFlags["ANSI"] != true ||
		s.ProtocolFlags["TERM"] == "" {
		t.Fatalf("terminal flags %v", s.ProtocolFlags)
	}

	p.resize(40, 132)
	p.signal(syscall.SIGWINCH)
	h.sshSession("SCREENWIDTH 132 after the resize", func(s host.SessionInfo) bool {
		return fmt.Sprint(s.ProtocolFlags["SCREENWIDTH"]) == "132" && fmt.Sprint(s.ProtocolFlags["SCREENHEIGHT"]) == "40"
	})

	// The server edits the line: a typo rubbed out, a word killed, the
	// history recalled.
	p.typeKeys("say hellp\x7fo there")
	p.expect("say hellp\b \bo there")
	p.typeKeys("\x17\r")
	p.expect(`You say, "hello`)
	p.typeKeys("\x1b[A")
	p.expect("say hello ")
	p.typeKeys("\x15say again\r")
	p.expect(`You say, "again"`)
	// Ctrl-D on an empty line leaves.
	p.typeKeys("\x04")
	p.expect("Goodbye.")
	if code := p.waitExit(); code != 0 {
		t.Fatalf("ssh exited %d", code)
	}
}

// TestSSHHostKeySameAfterRestart: the plugin killed and restarted by the
// host serves the same host key: ssh-keyscan sees the same key, and a
// client that insists on its known_hosts entry still connects.
func TestSSHHostKeySameAfterRestart(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Gina", "ginapass1")
	scan := func() string {
		out, err := h.runTool("", "ssh-keyscan", "-t", "ed25519", "-p", fmt.Sprint(h.port), "127.0.0.1")
		if err != nil {
			t.Fatalf("ssh-keyscan: %v\n%s", err, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "ssh-ed25519") && !strings.HasPrefix(l, "#") {
				return strings.TrimSpace(l)
			}
		}
		t.Fatalf("ssh-keyscan found no ed25519 key:\n%s", out)
		return ""
	}
	before := scan()
	res := h.runSSH("ginapass1", "Gina", "", append(passwordOptions(), "-T"), "")
	if !strings.Contains(res.stdout, "You become Gina.") {
		t.Fatalf("first login:\n%s\n%s", res.stdout, res.stderr)
	}

	old := h.waitPlugin("ssh", func(p pluginStatus) bool { return p.State == "running" })
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitPlugin("ssh", func(p pluginStatus) bool { return p.State == "running" && p.PID != old.PID })
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", h.port))

	if after := scan(); after != before {
		t.Fatalf("host key changed across a restart:\nbefore %s\nafter  %s", before, after)
	}
	res = h.runSSH("ginapass1", "Gina", "", append(passwordOptions(), "-T", "-o", "StrictHostKeyChecking=yes"), "")
	if res.code != 0 || !strings.Contains(res.stdout, "You become Gina.") {
		t.Fatalf("known_hosts no longer matches: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
}

// TestSSHBadInput: garbage, an abandoned handshake and an enormous paste
// do not stop the plugin, and the player who pasted is told.
func TestSSHBadInput(t *testing.T) {
	h := startSSHHost(t)
	h.createAccount("Hank", "hankpass1")
	key := h.newKey("hank_key")
	h.addKey("Hank", key)
	before := h.waitPlugin("ssh", func(p pluginStatus) bool { return p.State == "running" })
	addr := fmt.Sprintf("127.0.0.1:%d", h.port)
	for _, junk := range [][]byte{nil, []byte("SSH-2.0-x\r\n"), []byte("GET / HTTP/1.0\r\n\r\n"),
		append([]byte("SSH-2.0-x\r\n"), make([]byte, 70000)...)} {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = nc.Write(junk)
		nc.Close()
	}

	argv := append(append(h.sshOptions(), keyOptions(key)...), "-tt", "Hank@127.0.0.1")
	p := startOnPty(t, 24, 80, "ssh", argv...)
	p.expect("You become Hank.")
	// A paste far over the line limit (6000), then control bytes.
	p.typeKeys("\x1b[200~" + strings.Repeat("x", 20000) + "\x1b[201~\r")
	p.expect("You entered a string that was too long.")
	p.typeKeys("say ok\x00\x07\x1b[99~\x0f\r")
	p.expect(`You say, "ok"`)

	after := h.waitPlugin("ssh", func(p pluginStatus) bool { return p.State == "running" })
	if after.PID != before.PID || after.Restarts != before.Restarts {
		t.Fatalf("the plugin restarted: %+v -> %+v", before, after)
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted connections: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // another process's state: polled
	}
}
