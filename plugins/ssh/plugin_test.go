package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
	"github.com/portico-mud/portico/sdk/wire"
	gossh "golang.org/x/crypto/ssh"
)

var xterm = &clientPty{term: "xterm-256color", width: 100, height: 40}

func TestPasswordLoginCarriesCredentials(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("alice", gossh.Password("wonderland1")), xterm, "")
	ev, id := h.awaitConnect()
	if got := ev.GetCredentials(); got.GetName() != "alice" || got.GetPassword() != "wonderland1" || len(got.GetPublicKey()) != 0 {
		t.Fatalf("credentials %v", got)
	}
	d, err := wire.SessionFromPB(ev.GetSession())
	if err != nil {
		t.Fatal(err)
	}
	if d.ProtocolKey != "ssh" || d.LoggedIn || !strings.HasPrefix(d.Address, "127.0.0.1:") {
		t.Fatalf("session %+v", d)
	}
	f := d.ProtocolFlags.Map()
	if f[flagTerm] != "xterm-256color" || fmt.Sprint(f[contract.FlagScreenWidth]) != "100" ||
		fmt.Sprint(f[contract.FlagScreenHeight]) != "40" || f[contract.FlagANSI] != true || f[contract.FlagXterm256] != true {
		t.Fatalf("flags %v", f)
	}
	if !strings.HasPrefix(fmt.Sprint(f[contract.FlagClientName]), "Go") {
		t.Fatalf("client name %v", f[contract.FlagClientName])
	}
	// The session talks both ways.
	h.send(id, sdk.Text("|rWelcome|n to TestGame"))
	c.expect(t, markup.Render("|rWelcome|n to TestGame", markup.Xterm256)+"\r\n")
	c.Send("look")
	c.expect(t, "look\r\n")
	h.awaitText(id, "look")
}

func TestKeyLoginCarriesTheVerifiedKey(t *testing.T) {
	h := startPlugin(t, nil)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	mustDial(t, h.addr, clientConfig("bob", gossh.PublicKeys(signer)), xterm, "")
	ev, _ := h.awaitConnect()
	got := ev.GetCredentials()
	if got.GetName() != "bob" || got.GetPassword() != "" || string(got.GetPublicKey()) != string(signer.PublicKey().Marshal()) {
		t.Fatalf("credentials %v", got)
	}
}

// TestKeysThatLogNobodyInAreDeclined: the plugin asks the host about each
// key a client offers and declines those that log nobody in, before the
// client signs, so that the client goes on to its next method (here the
// password); a key the host accepts logs in with the key. The question
// names the SSH user and carries the key.
func TestKeysThatLogNobodyInAreDeclined(t *testing.T) {
	h := startPlugin(t, nil)
	good, stray := newSigner(t), newSigner(t)
	type question struct{ name, key string }
	asked := make(chan question, 10)
	h.portal.AnswerKeyChecks(func(name string, key []byte) bool {
		asked <- question{name, string(key)}
		return name == "dora" && string(key) == string(good.PublicKey().Marshal())
	})
	mustDial(t, h.addr, clientConfig("dora", gossh.PublicKeys(stray), gossh.Password("dorapass1")), xterm, "")
	ev, _ := h.awaitConnect()
	if got := ev.GetCredentials(); got.GetName() != "dora" || got.GetPassword() != "dorapass1" || len(got.GetPublicKey()) != 0 {
		t.Fatalf("a declined key then a password: credentials %v", got)
	}
	if q := <-asked; q.name != "dora" || q.key != string(stray.PublicKey().Marshal()) {
		t.Fatalf("the host was asked about %q, %x", q.name, q.key)
	}

	// Only declined keys to offer: refused, as by any SSH server.
	if c, err := dialClient(h.addr, clientConfig("dora", gossh.PublicKeys(stray)), xterm, ""); err == nil {
		c.Close()
		t.Fatal("a declined key alone logged in")
	}
	c2, err := dialClient(h.addr, clientConfig("dora", gossh.PublicKeys(good)), xterm, "")
	if err != nil {
		t.Fatalf("an accepted key: %v", err)
	}
	defer c2.Close()
	for {
		ev, _ := h.awaitConnect()
		if got := ev.GetCredentials(); string(got.GetPublicKey()) == string(good.PublicKey().Marshal()) {
			break
		}
	}
}

// TestExecSessionIsOneShot: a command session tells the host it is one
// shot (server_data one_shot), so that its login keeps the account's other
// sessions; a shell does not.
func TestExecSessionIsOneShot(t *testing.T) {
	h := startPlugin(t, nil)
	shell, err := dialClient(h.addr, clientConfig("erin", gossh.Password("erinpass1")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()
	ev, _ := h.awaitConnect()
	d, err := wire.SessionFromPB(ev.GetSession())
	if err != nil {
		t.Fatal(err)
	}
	if _, set := d.ServerData[contract.ServerDataOneShot]; set {
		t.Fatalf("a shell's session data %v, want no one_shot", d.ServerData)
	}
	mustDial(t, h.addr, clientConfig("erin", gossh.Password("erinpass1")), nil, "who")
	ev, _ = h.awaitConnect()
	if d, err = wire.SessionFromPB(ev.GetSession()); err != nil {
		t.Fatal(err)
	}
	if d.ServerData[contract.ServerDataOneShot] != true {
		t.Fatalf("a command's session data %v, want one_shot", d.ServerData)
	}
}

// newSigner makes an ed25519 key for a client.
func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func TestKeyboardInteractiveAsksForThePassword(t *testing.T) {
	h := startPlugin(t, nil)
	var asked []string
	answer := func(answer string) gossh.AuthMethod {
		return gossh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
			asked = append(asked, questions...)
			if len(echos) != 1 || echos[0] {
				return nil, fmt.Errorf("echo %v for a password", echos)
			}
			return []string{answer}, nil
		})
	}
	mustDial(t, h.addr, clientConfig("carol", answer("secret3")), xterm, "")
	ev, _ := h.awaitConnect()
	if got := ev.GetCredentials(); got.GetName() != "carol" || got.GetPassword() != "secret3" {
		t.Fatalf("credentials %v", got)
	}
	if len(asked) != 1 || asked[0] != passwordQuestion {
		t.Fatalf("asked %q", asked)
	}
	// An empty answer: no credentials, the login screen.
	c2, err := dialClient(h.addr, clientConfig("carol", answer("")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ev, _ := h.awaitConnect(); ev.GetCredentials() != nil {
		t.Fatalf("an empty answer gave credentials %v", ev.GetCredentials())
	}
}

func TestWindowChangeSyncsScreenWidth(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("dave", gossh.Password("x")), xterm, "")
	h.awaitConnect()
	if err := c.sess.WindowChange(50, 132); err != nil {
		t.Fatal(err)
	}
	f := h.awaitSync()
	if fmt.Sprint(f[contract.FlagScreenWidth]) != "132" || fmt.Sprint(f[contract.FlagScreenHeight]) != "50" {
		t.Fatalf("sync flags %v", f)
	}
	// A burst of changes ends at the last size.
	for w := 60; w <= 90; w++ {
		if err := c.sess.WindowChange(30, w); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f := h.awaitSync()
		if fmt.Sprint(f[contract.FlagScreenWidth]) == "90" {
			break
		}
	}
}

// A window change between the pty request and the shell must not hang
// the session (gliderlabs waits for the handler to take each size).
func TestWindowChangeBeforeShell(t *testing.T) {
	h := startPlugin(t, nil)
	client, err := gossh.Dial("tcp", h.addr, clientConfig("erin", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	// Input stays open (a nil Stdin would send EOF at once).
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	for w := 81; w <= 85; w++ {
		if err := sess.WindowChange(24, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	ev, _ := h.awaitConnect()
	d, _ := wire.SessionFromPB(ev.GetSession())
	if fmt.Sprint(d.ProtocolFlags.Value(contract.FlagScreenWidth)) != "85" {
		// The last size may also come in a sync just after Connect.
		if f := h.awaitSync(); fmt.Sprint(f[contract.FlagScreenWidth]) != "85" {
			t.Fatalf("width %v, then %v; want 85", d.ProtocolFlags.Value(contract.FlagScreenWidth), f[contract.FlagScreenWidth])
		}
	}
}

func TestPasswordPromptHidesInput(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("frank", gossh.Password("")), xterm, "")
	ev, id := h.awaitConnect()
	if ev.GetCredentials() != nil {
		t.Fatalf("an empty password gave credentials %v", ev.GetCredentials())
	}
	h.send(id, sdk.Message{Name: "prompt", Args: []any{"Password: "},
		Kwargs: map[string]any{"options": map[string]any{"echo": false}}})
	c.expect(t, "Password: ")
	c.Send("hunter2")
	h.awaitText(id, "hunter2")
	h.send(id, sdk.Message{Name: "text", Args: []any{""},
		Kwargs: map[string]any{"options": map[string]any{"echo": true}}}, sdk.Text("Welcome back."))
	c.expect(t, "\r\nWelcome back.\r\n")
	if out := c.output(); strings.Contains(out, "hunter2") {
		t.Fatalf("the password was echoed: %q", out)
	}
	c.Send("visible")
	c.expect(t, "visible\r\n")
}

// Output arriving while the user types is written above the line, which
// is drawn again below it.
func TestOutputRedrawsTheInputLine(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("gina", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	h.send(id, sdk.Message{Name: "prompt", Args: []any{"HP 10> "}})
	c.expect(t, "HP 10> ")
	if _, err := c.stdin.Write([]byte("say hel")); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "say hel")
	h.send(id, sdk.Text("Bob arrives."))
	c.expect(t, "\r\x1b[JBob arrives.\r\nHP 10> say hel")
}

func TestCtrlDQuits(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("hank", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	if _, err := c.stdin.Write([]byte{4}); err != nil {
		t.Fatal(err)
	}
	c.expect(t, msgGoodbye+"\r\n")
	if reason := h.awaitDisconnected(id); reason != msgGoodbye {
		t.Fatalf("reason %q", reason)
	}
	if st := c.exitStatus(t); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

func TestHostDisconnectShowsReason(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("iris", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	h.disconnect(id, "Quitting. Hope to see you again, soon.")
	c.expect(t, "Quitting. Hope to see you again, soon.\r\n"+seqPasteOff)
	if st := c.exitStatus(t); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

func TestClientHangsUp(t *testing.T) {
	h := startPlugin(t, nil)
	c, err := dialClient(h.addr, clientConfig("jack", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	_, id := h.awaitConnect()
	c.Close()
	h.awaitDisconnected(id)
	if n := h.portal.Count(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestExecRunsTheCommandWhenLoggedIn(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("kate", gossh.Password("right")), nil, "who")
	ev, id := h.awaitConnect()
	if ev.GetCredentials().GetPassword() != "right" {
		t.Fatalf("credentials %v", ev.GetCredentials())
	}
	d, _ := wire.SessionFromPB(ev.GetSession())
	if d.ProtocolFlags.Value(contract.FlagANSI) != false {
		t.Fatalf("a command without a terminal has colour: %v", d.ProtocolFlags)
	}
	h.awaitBarrier(id)
	// The host logs the session in and greets it; then answers the
	// barrier. The greeting is not the command's output.
	h.login(id, "kate")
	h.send(id, sdk.Text("You become Kate."))
	h.answerBarrier(id)
	// The command and the second barrier come together.
	if msgs := h.awaitInput(id); len(msgs) != 2 || msgs[0].Name != "text" || msgs[0].Args[0] != "who" ||
		msgs[1].Name != "get_value" {
		t.Fatalf("input %+v, want who and the barrier", msgs)
	}
	h.send(id, sdk.Text("|wPlayers:|n\nKate"))
	h.answerBarrier(id)
	c.expectExit(t, 0, "Players:\nKate\n")
	h.awaitDisconnected(id)
}

func TestExecWithWrongCredentialsShowsTheLoginScreen(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("kate", gossh.Password("wrong")), nil, "who")
	_, id := h.awaitConnect()
	h.awaitBarrier(id)
	h.send(id, sdk.Text("Username and/or password is incorrect."), sdk.Text("Welcome to TestGame"))
	h.answerBarrier(id)
	c.expectExit(t, 1, "Username and/or password is incorrect.\nWelcome to TestGame\n")
	h.awaitDisconnected(id)
}

func TestExecTimesOut(t *testing.T) {
	h := startPlugin(t, map[string]any{"exec_timeout": "200ms"})
	c := mustDial(t, h.addr, clientConfig("liam", gossh.Password("x")), nil, "who")
	_, id := h.awaitConnect()
	h.awaitBarrier(id) // and never answer
	if st := c.exitStatus(t); st != 1 {
		t.Fatalf("exit status %d, want 1", st)
	}
	if out := c.output(); !strings.Contains(out, "did not finish the command within 200ms") {
		t.Fatalf("output %q", out)
	}
	h.awaitDisconnected(id)
}

func TestExecRefusesAnOverlongCommand(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("mia", gossh.Password("x")), nil, "say "+strings.Repeat("x", 200))
	c.expectExit(t, 1, sdk.MsgTooLong+"\n")
}

// Without a terminal, lines go in as they are and, when the input ends,
// the session ends once the output of every line has arrived.
func TestPipedInputRunsAsAScript(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("nora", gossh.Password("x")), nil, "")
	_, id := h.awaitConnect()
	if _, err := c.stdin.Write([]byte("look\nsay hi\r\n")); err != nil {
		t.Fatal(err)
	}
	h.awaitText(id, "look")
	h.awaitText(id, "say hi")
	c.stdin.Close()
	h.awaitBarrier(id)
	h.send(id, sdk.Text("You say, \"hi\""))
	h.answerBarrier(id)
	c.expectExit(t, 0, "You say, \"hi\"\n")
	h.awaitDisconnected(id)
}

func TestHostKeySameAfterRestart(t *testing.T) {
	dataDir := t.TempDir()
	fingerprint := func() string {
		h := startPluginIn(t, dataDir, nil)
		var seen string
		cfg := clientConfig("olga", gossh.Password("x"))
		cfg.HostKeyCallback = func(_ string, _ net.Addr, key gossh.PublicKey) error {
			seen = gossh.FingerprintSHA256(key)
			return nil
		}
		c, err := dialClient(h.addr, cfg, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		h.shutdown()
		return seen
	}
	first, second := fingerprint(), fingerprint()
	if first == "" || first != second {
		t.Fatalf("host key %q before the restart, %q after", first, second)
	}
}

// `ssh -t host who`: a command with a terminal gets colour and CR LF.
func TestExecWithTerminal(t *testing.T) {
	h := startPlugin(t, nil)
	c := mustDial(t, h.addr, clientConfig("pat", gossh.Password("x")), xterm, "who")
	_, id := h.awaitConnect()
	h.awaitBarrier(id)
	h.login(id, "pat")
	h.answerBarrier(id)
	h.awaitInput(id)
	h.send(id, sdk.Text("|wPlayers:|n\nPat"))
	h.answerBarrier(id)
	if st := c.exitStatus(t); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	want := string(appendCRLF(nil, markup.Render("|wPlayers:|n\nPat", markup.Xterm256)+"\n"))
	if out := c.output(); out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}
