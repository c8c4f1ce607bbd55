package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// portico runs the CLI on h's config with stdin (not a terminal), and
// returns its output and whether it succeeded.
func portico(t *testing.T, h *testHost, stdin string, args ...string) (string, bool) {
	t.Helper()
	stdout, stderr, code, _ := runCLIWith(t, nil, stdin, append(args, "--config", h.configPath)...)
	return stdout + stderr, code == 0
}

// regexpLine reports whether a line of out matches pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile("(?m)" + pattern).MatchString(out)
}

// terminal is a command run on a pseudo-terminal: what it shows, and a
// way to type into it.
type terminal struct {
	t *testing.T
	f *os.File
	*plugintest.Output
}

// answer types a line (and Enter) into the terminal.
func (o *terminal) answer(s string) {
	o.t.Helper()
	if _, err := o.f.Write([]byte(s + "\r")); err != nil {
		o.t.Errorf("write to the terminal: %v", err)
	}
}

// mustPortico is portico that fails the test unless the command succeeds
// and prints want.
func mustPortico(t *testing.T, h *testHost, stdin, want string, args ...string) string {
	t.Helper()
	out, ok := portico(t, h, stdin, args...)
	if !ok || !strings.Contains(out, want) {
		t.Fatalf("portico %s: ok %v, want %q in:\n%s", strings.Join(args, " "), ok, want, out)
	}
	return out
}

// TestAccountCLIWithHostRunning: with a host up, `portico account` goes
// through the control socket and the sessions follow: list shows an
// account's sessions, admin gives a logged-in player the admin commands at
// once (and --revoke takes them away), passwd changes the password the
// next login needs, and delete ends the account's sessions with a reason
// and frees its name. A bot's account cannot be deleted.
func TestAccountCLIWithHostRunning(t *testing.T) {
	h := startHost(t)
	createAccount(t, h, "Bob", "bobpass11", false)
	c := dialTelnet(t, h.telnetAddr)
	c.login("Bob", "bobpass11", false)

	out := mustPortico(t, h, "", "Bob", "account", "list")
	if !strings.Contains(out, "SESSIONS") || !regexpLine(out, `^\d+\s+Bob\s+no\s+1\s`) {
		t.Fatalf("account list:\n%s", out)
	}
	c.send("@bots")
	c.expect("Command '@bots' is not available.")
	mustPortico(t, h, "", "Bob is now an admin", "account", "admin", "Bob")
	c.send("@bots")
	c.expect("There are no bots.")
	mustPortico(t, h, "", "admin:      yes", "account", "show", "Bob")
	mustPortico(t, h, "", "Bob is no longer an admin", "account", "admin", "Bob", "--revoke")
	c.send("@bots")
	c.expect("Command '@bots' is not available.")

	mustPortico(t, h, "bobpass22\n", "password of Bob changed", "account", "passwd", "Bob")
	d := dialTelnet(t, h.telnetAddr)
	d.expect("Welcome to TestGame")
	d.send("connect Bob bobpass11")
	d.expect("Username and/or password is incorrect.")
	if out, ok := portico(t, h, "ab\n", "account", "passwd", "Bob"); ok || !strings.Contains(out, "password must be at least") {
		t.Errorf("a too-short password: ok %v\n%s", ok, out)
	}

	mustPortico(t, h, "", "deleted account Bob", "account", "delete", "Bob")
	c.expect(ReasonAccountDeletedText)
	c.expectClosed()
	if out, ok := portico(t, h, "", "account", "show", "Bob"); ok || !strings.Contains(out, `no account named "Bob"`) {
		t.Errorf("show of a deleted account: ok %v\n%s", ok, out)
	}
	createAccount(t, h, "Bob", "bobpass33", false)
}

// ReasonAccountDeletedText is host.ReasonAccountDeleted, as players read it.
const ReasonAccountDeletedText = "Your account has been deleted."

// TestAccountCLIWithoutHost: with no host running the same commands work
// on the database directly.
func TestAccountCLIWithoutHost(t *testing.T) {
	h := startHost(t)
	h.stopProcess()
	createAccount(t, h, "Dora", "dorapass1", false)
	mustPortico(t, h, "", "Dora", "account", "list")
	mustPortico(t, h, "", "Dora is now an admin", "account", "admin", "Dora")
	out := mustPortico(t, h, "", "characters: Dora", "account", "show", "Dora")
	if !strings.Contains(out, "admin:      yes") || !strings.Contains(out, "sessions:   0") {
		t.Errorf("account show:\n%s", out)
	}
	mustPortico(t, h, "dorapass2\n", "password of Dora changed", "account", "passwd", "Dora")
	mustPortico(t, h, "", "deleted account Dora", "account", "delete", "Dora")
	if out, ok := portico(t, h, "", "account", "delete", "Dora"); ok || !strings.Contains(out, `no account named "Dora"`) {
		t.Errorf("second delete: ok %v\n%s", ok, out)
	}
	// The new password is the one the host takes once it runs again.
	createAccount(t, h, "Erin", "erinpass1", false)
	mustPortico(t, h, "erinpass2\n", "password of Erin changed", "account", "passwd", "Erin")
	h.start()
	h.waitPlugin("telnet", func(p pluginStatus) bool { return p.State == "running" })
	c := dialTelnet(t, h.telnetAddr)
	c.login("Erin", "erinpass2", false)
}

// TestAccountPasswordPromptAtTerminal: at a terminal, `account create` and
// `account passwd` ask for the password twice without echoing it (the
// terminal shows the prompts, never the password), and refuse two that
// differ; the password so given logs in.
func TestAccountPasswordPromptAtTerminal(t *testing.T) {
	h := startHost(t)
	term := func(args ...string) *terminal {
		t.Helper()
		cmd := exec.Command(filepath.Join(binDir, "portico"), append(args, "--config", h.configPath)...)
		f, err := pty.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		o := &terminal{t: t, f: f, Output: plugintest.NewOutput()}
		go o.Collect(f)
		t.Cleanup(func() {
			f.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			<-o.Closed()
		})
		return o
	}
	step := func(o *terminal, want string) {
		t.Helper()
		if _, err := o.Await(want, 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	o := term("account", "create", "Carol")
	step(o, "Password: ")
	o.answer("carolpass1")
	step(o, "Retype password: ")
	o.answer("carolpass1")
	step(o, "created account Carol")
	if strings.Contains(o.All(), "carolpass1") {
		t.Fatalf("the terminal echoed the password:\n%q", o.All())
	}

	o = term("account", "passwd", "Carol")
	step(o, "Password: ")
	o.answer("carolpass2")
	step(o, "Retype password: ")
	o.answer("carolpass3")
	step(o, "the passwords do not match")

	o = term("account", "passwd", "Carol")
	step(o, "Password: ")
	o.answer("carolpass4")
	step(o, "Retype password: ")
	o.answer("carolpass4")
	step(o, "password of Carol changed")
	if all := o.All(); strings.Contains(all, "carolpass4") {
		t.Fatalf("the terminal echoed the password:\n%q", all)
	}
	c := dialTelnet(t, h.telnetAddr)
	c.login("Carol", "carolpass4", false)
}
