package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/host"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// ttPath is Debian's TinTin++ binary, installed by .ci/run.
const ttPath = "/usr/games/tt++"

// requireTool skips a test when a real client is not installed here, but
// fails it under CI (CI=true), where .ci/run installs it: a missing peer
// there is a broken setup, not a reason to pass.
func requireTool(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing; .ci/run installs the Debian package %s", path, pkg)
	}
	t.Skipf("%s not installed (Debian package %s; .ci/run installs it); skipping", path, pkg)
}

// waitFile polls a file another process writes until it contains want.
// Polling is the only way to watch another process's file; each poll is
// cheap and the wait is bounded.
func waitFile(t *testing.T, path, want string, within time.Duration, exited <-chan struct{}) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		select {
		case <-exited:
			b, _ = os.ReadFile(path)
			if strings.Contains(string(b), want) {
				return string(b)
			}
			t.Fatalf("the client exited before %s showed %q; it shows:\n%s", path, want, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in %s; it shows:\n%s", want, path, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSession polls the host until account's session satisfies cond: the
// flags of a session reach the host when its negotiation ends, at most 2 s
// after it connected, or the client's own messages (GMCP) change them.
func (h *testHost) waitSession(t *testing.T, account string, cond func(s host.SessionInfo) bool) host.SessionInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := h.sessionOf(t, account)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session of %s never got there; its flags: %v", account, s.ProtocolFlags)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionOf returns the host's session of account, or fails.
func (h *testHost) sessionOf(t *testing.T, account string) host.SessionInfo {
	t.Helper()
	list, err := h.sessions()
	if err != nil {
		t.Fatalf("sessions: %v", err)
	}
	for _, s := range list {
		if s.Account == account {
			return s
		}
	}
	t.Fatalf("no session of %s on the host: %+v", account, list)
	return host.SessionInfo{}
}

// tinTinGame starts a host for a TinTin++ test (skipped without TinTin++)
// and returns it with its telnet port, a directory for TinTin++ (its home
// and script) and the path of the log the script writes.
func tinTinGame(t *testing.T) (h *testHost, port, dir, logPath string) {
	t.Helper()
	requireTool(t, ttPath, "tintin++")
	h = startHost(t)
	_, port, err := net.SplitHostPort(h.telnetAddr)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	return h, port, dir, filepath.Join(dir, "session.log")
}

// tinTinPrelude starts every test script: the session's text logged,
// plain, to logPath from the connection on, and tt++ ended with the
// session.
func tinTinPrelude(logPath string) string {
	return fmt.Sprintf("#config {LOG} {PLAIN}\n#event {SESSION CONNECTED} {#log overwrite {%s}}\n#event {SESSION DISCONNECTED} {#end}\n", logPath)
}

// tinTin is TinTin++ running a script.
type tinTin struct {
	// ctx bounds the run (90 s); exited is closed when tt++ has ended,
	// with err its exit.
	ctx    context.Context
	exited chan struct{}
	err    error
}

// startTinTin writes tin to script and runs tt++ on it, with dir as its
// home (no user config) and a known terminal type. It is stopped when the
// test ends; its output is logged if the test failed.
func startTinTin(t *testing.T, dir, script, tin string) *tinTin {
	t.Helper()
	if err := os.WriteFile(script, []byte(tin), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, ttPath, "-H", "-G", "-r", script)
	cmd.Env = append(os.Environ(), "HOME="+dir, "TERM=xterm-256color")
	cmd.Stdin = nil // /dev/null: the script drives it
	out := &plugintest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	tt := &tinTin{ctx: ctx, exited: make(chan struct{})}
	go func() { tt.err = cmd.Wait(); close(tt.exited) }()
	t.Cleanup(func() {
		cancel()
		<-tt.exited
		if t.Failed() {
			t.Logf("tt++ output:\n%s", out.String())
		}
	})
	return tt
}

// TestTinTinClient plays the game with TinTin++, a real MUD client, through
// the real host and telnet plugin: it negotiates (NAWS, TTYPE/MTTS, EOR,
// CHARSET, MCCP2), creates an account, logs in with the password asked
// for at a prompt (echo off, EOR after it), sends GMCP, talks, hears
// another player and quits. The host's flags must show what was
// negotiated, and TinTin++'s log the game's text, which reached it
// compressed.
func TestTinTinClient(t *testing.T) {
	h, port, dir, logPath := tinTinGame(t)
	script := filepath.Join(dir, "play.tin")
	// Each step waits for the game's answer (actions), never for time;
	// the 60 s delay only bounds a run that goes wrong. TinTin++ needs
	// braces in the GMCP JSON written as \x7B and \x7D, and a trailing
	// backslash to send raw bytes without a line end.
	tin := tinTinPrelude(logPath) + fmt.Sprintf(`#event {IAC EOR} {#showme {<<EOR>>}}
#action {Welcome to TestGame!} {#send {create Tester tinpass12}}
#action {A new account 'Tester' was created.} {#send {connect Tester}}
#action {Password:} {#send {tinpass12}}
#action {You become Tester.} {#send {\xFF\xFA\xC9Core.Hello \x7B"client":"TinTin++","version":"2.02"\x7D\xFF\xF0\};#send {say tintin-ready}}
#action {Other says, "tintin-quit"} {#send {quit}}
#delay 60 {#end}
#session game 127.0.0.1 %s
`, port)
	tt := startTinTin(t, dir, script, tin)
	exited := tt.exited

	text := waitFile(t, logPath, `You say, "tintin-ready"`, 30*time.Second, exited)
	for _, want := range []string{
		"Welcome to TestGame!",
		"A new account 'Tester' was created.",
		"<<EOR>>", // the password prompt ended with IAC EOR
		"Password:",
		"You become Tester.",
		"Players here: Tester",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("TinTin++ did not show %q; its log:\n%s", want, text)
		}
	}
	if strings.Contains(text, "tinpass12") {
		t.Errorf("the password was echoed:\n%s", text)
	}

	// The host's view: TTYPE's cycle is done by now, and the say was
	// answered, so the GMCP hello before it was handled too (inputs run in
	// order). The flags reach the host when negotiation ends; the wait
	// only covers a slow machine.
	s := h.waitSession(t, "Tester", func(s host.SessionInfo) bool { return s.ProtocolFlags["TTYPE"] == true })
	f := s.ProtocolFlags
	t.Logf("host-side flags: %v", f)
	if s.ProtocolKey != "telnet" || !s.LoggedIn {
		t.Errorf("session %+v, want a logged-in telnet session", s)
	}
	// TTYPE named the client TINTIN++; GMCP's Core.Hello (client_options)
	// then set name and version.
	if name, _ := f["CLIENTNAME"].(string); name != "TinTin++ 2.02" || !strings.Contains(strings.ToUpper(name), "TINTIN") {
		t.Errorf("CLIENTNAME = %q, want TinTin++ 2.02 (from GMCP Core.Hello)", f["CLIENTNAME"])
	}
	if w, ok := f["SCREENWIDTH"].(float64); !ok || w <= 0 || f["AUTORESIZE"] != true {
		t.Errorf("SCREENWIDTH = %v, AUTORESIZE = %v: NAWS not negotiated", f["SCREENWIDTH"], f["AUTORESIZE"])
	}
	for _, flag := range []string{"MCCP", "TTYPE", "XTERM256", "TRUECOLOR", "UTF-8", "ANSI"} {
		if f[flag] != true {
			t.Errorf("flag %s = %v, want true", flag, f[flag])
		}
	}
	if f["TERM"] != "xterm-256color" {
		t.Errorf("TERM = %v, want xterm-256color", f["TERM"])
	}

	// Another player's say reaches TinTin++ (compressed, like all its
	// output), which quits on it: the server says goodbye at the end of
	// the compressed stream and closes, and TinTin++ exits.
	other := dialTelnet(t, h.telnetAddr)
	other.login("Other", "otherpass1", true)
	other.send(`say tintin-quit`)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("TinTin++ did not exit after quitting")
	}
	if tt.err != nil && tt.ctx.Err() == nil {
		t.Errorf("tt++: %v", tt.err)
	}
	b, _ := os.ReadFile(logPath)
	for _, want := range []string{`Other says, "tintin-quit"`, "Quitting. Hope to see you again, soon."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("TinTin++ did not show %q; its log:\n%s", want, b)
		}
	}
}

// TestPlainTelnetClient: Debian's telnet, fed through a pipe as a script
// would, negotiates what it knows, and plays.
func TestPlainTelnetClient(t *testing.T) {
	requireTool(t, "/usr/bin/telnet", "telnet")
	h := startHost(t)
	hostName, port, err := net.SplitHostPort(h.telnetAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/telnet", hostName, port)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &pipeClient{t: t, Output: plugintest.NewOutput()}
	go c.Collect(stdout)
	defer func() {
		stdin.Close()
		cancel()
		_ = cmd.Wait()
	}()

	c.expect("Welcome to TestGame!")
	c.send(stdin, "create Plain plainpass1")
	c.expect("A new account 'Plain' was created.")
	c.send(stdin, "connect Plain plainpass1")
	c.expect("You become Plain.")
	c.send(stdin, "say hello from telnet")
	c.expect(`You say, "hello from telnet"`)
	// Within 2 s of connecting, whatever telnet left unanswered.
	f := h.waitSession(t, "Plain", func(s host.SessionInfo) bool { return s.ProtocolFlags["TTYPE"] == true }).ProtocolFlags
	t.Logf("host-side flags: %v", f)
	// telnet answers TTYPE with $TERM (and repeats it: the cycle ends).
	if f["TTYPE"] != true || f["CLIENTNAME"] != "XTERM" || f["XTERM256"] != true {
		t.Errorf("TTYPE not negotiated: %v", f)
	}
	c.send(stdin, "quit")
	c.expect("Quitting. Hope to see you again, soon.")
	select {
	case <-c.Closed():
	case <-time.After(15 * time.Second):
		t.Fatal("telnet did not end after quit")
	}
}

// pipeClient talks to a child process through its pipes.
type pipeClient struct {
	t *testing.T
	*plugintest.Output
}

func (c *pipeClient) send(w io.Writer, line string) {
	c.t.Helper()
	if _, err := io.WriteString(w, line+"\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// expect waits until want appears in output not yet consumed.
func (c *pipeClient) expect(want string) {
	c.t.Helper()
	if _, err := c.Await(want, 20*time.Second); err != nil {
		c.t.Fatal(err)
	}
}
