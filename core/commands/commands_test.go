package commands_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// waitLimit bounds every wait: reaching it means a hang.
const waitLimit = 10 * time.Second

const serverName = "Portico Test"

// fakePortals records the events the handler sends to plugins.
type fakePortals struct {
	mu      sync.Mutex
	events  []sentEvent
	changed chan struct{}
	// botSessid, when set, is the session id StartBot answers; each call's
	// plugin is sent on botStarted. Without it StartBot fails.
	botSessid  uint64
	botStarted chan string
}

type sentEvent struct {
	Plugin string
	Event  sessions.Event
}

// The event as each type the tests read, or nil when it is another kind.
func (e sentEvent) dataOut() *sessions.DataOut {
	if d, ok := e.Event.(sessions.DataOut); ok {
		return &d
	}
	return nil
}

func (e sentEvent) login() *sessions.Login {
	if l, ok := e.Event.(sessions.Login); ok {
		return &l
	}
	return nil
}

func (e sentEvent) disconnect() *sessions.Disconnect {
	if d, ok := e.Event.(sessions.Disconnect); ok {
		return &d
	}
	return nil
}

func (p *fakePortals) Send(plugin string, ev sessions.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, sentEvent{plugin, ev})
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *fakePortals) PluginFor(protocol string) (string, bool) { return protocol, true }

func (p *fakePortals) StartBot(_ context.Context, plugin string, _ map[string]any) (uint64, error) {
	p.mu.Lock()
	id, started := p.botSessid, p.botStarted
	p.mu.Unlock()
	if id == 0 {
		return 0, fmt.Errorf("no bots here")
	}
	started <- plugin
	return id, nil
}

func (p *fakePortals) Events() []sentEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// fakeLifecycle records what the admin commands ask of the host.
type fakeLifecycle struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (l *fakeLifecycle) record(what string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, what)
	return l.err
}

func (l *fakeLifecycle) Reload(reason string) error   { return l.record("reload:" + reason) }
func (l *fakeLifecycle) Reset(reason string) error    { return l.record("reset:" + reason) }
func (l *fakeLifecycle) Shutdown(reason string) error { return l.record("shutdown:" + reason) }

func (l *fakeLifecycle) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func (l *fakeLifecycle) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// env is a real session handler with the real command handler, a store in
// a temporary directory and the handler's loop running.
type env struct {
	t    *testing.T
	h    *sessions.ServerSessionHandler
	ch   *commands.Handler
	p    *fakePortals
	life *fakeLifecycle
	st   *store.Store
}

func newEnv(t *testing.T, multisessionMode int) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"),
		store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	e := &env{t: t, p: &fakePortals{changed: make(chan struct{})}, life: &fakeLifecycle{}, st: st}
	e.h = sessions.NewServerSessionHandler(sessions.Options{Log: slog.New(slog.DiscardHandler), Store: st,
		Portals: e.p, Lifecycle: e.life, Settings: sessions.Settings{ServerName: serverName, MultisessionMode: multisessionMode}})
	e.ch = commands.NewHandler(e.h)
	e.h.SetCommands(e.ch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Errorf("Run did not return")
		}
		if err := st.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return e
}

// call runs f on the handler's loop.
func (e *env) call(f func()) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.h.Call(ctx, f); err != nil {
		e.t.Fatalf("Call: %v", err)
	}
}

func (e *env) account(name, password string) store.Account {
	e.t.Helper()
	acc, err := e.st.CreateAccount(context.Background(), name, password, false)
	if err != nil {
		e.t.Fatalf("CreateAccount(%s): %v", name, err)
	}
	return acc
}

// connect announces a new telnet session.
func (e *env) connect(id uint64) {
	e.t.Helper()
	var d contract.SessionData
	d.InitSession("telnet", fmt.Sprintf("192.0.2.%d:4000", id), time.Now())
	d.Sessid = id
	e.call(func() { e.h.PortalConnect("telnet", d) })
}

// send is a line typed on session id.
func (e *env) send(id uint64, line string) {
	e.t.Helper()
	e.call(func() { e.h.DataIn("telnet", id, []contract.Message{contract.Text(line)}) })
}

// loginAs connects session id and logs it in with the connect command.
func (e *env) loginAs(id uint64, name, password string) {
	e.t.Helper()
	e.connect(id)
	e.send(id, "connect "+name+" "+password)
	e.waitLogin(id)
}

// settle waits until the loop has done what it was doing: the login's own
// output (its look) comes in the same piece of work as the Login event
// waitLogin sees, so it may still be on its way when waitLogin returns.
func (e *env) settle() {
	e.t.Helper()
	e.call(func() {})
}

func (e *env) waitLogin(id uint64) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("login of session %d", id), func(evs []sentEvent) bool {
		for _, ev := range evs {
			if l := ev.login(); l != nil && l.Sessid == id {
				return true
			}
		}
		return false
	})
}

// waitFor waits until ok holds for the events sent so far.
func (e *env) waitFor(what string, ok func([]sentEvent) bool) []sentEvent {
	e.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		e.p.mu.Lock()
		evs := slices.Clone(e.p.events)
		changed := e.p.changed
		e.p.mu.Unlock()
		if ok(evs) {
			return evs
		}
		select {
		case <-changed:
		case <-deadline.C:
			e.t.Fatalf("timed out waiting for %s; session texts: %v", what, e.allTexts(evs))
			return nil
		}
	}
}

// waitText waits until session id has been sent text, and returns all
// texts sent to it.
func (e *env) waitText(id uint64, text string) []string {
	e.t.Helper()
	var got []string
	e.waitFor(fmt.Sprintf("%q to session %d", text, id), func(evs []sentEvent) bool {
		got = e.textsIn(evs, id)
		return slices.Contains(got, text)
	})
	return got
}

// messages returns the messages sent to session id, in order.
func (e *env) messagesIn(evs []sentEvent, id uint64) []contract.Message {
	e.t.Helper()
	var out []contract.Message
	for _, ev := range evs {
		d := ev.dataOut()
		if d == nil || !slices.Contains(d.Sessids, id) {
			continue
		}
		out = append(out, d.Messages...)
	}
	return out
}

func (e *env) textsIn(evs []sentEvent, id uint64) []string {
	var out []string
	for _, m := range e.messagesIn(evs, id) {
		if s, ok := m.FirstString(); ok && m.Name == "text" {
			out = append(out, s)
		}
	}
	return out
}

func (e *env) texts(id uint64) []string { return e.textsIn(e.p.Events(), id) }

// last returns the last text sent to session id.
func (e *env) last(id uint64) string {
	e.t.Helper()
	got := e.texts(id)
	if len(got) == 0 {
		e.t.Fatalf("nothing was sent to session %d", id)
	}
	return got[len(got)-1]
}

func (e *env) allTexts(evs []sentEvent) map[uint64][]string {
	out := map[uint64][]string{}
	for _, ev := range evs {
		if d := ev.dataOut(); d != nil {
			for _, id := range d.Sessids {
				out[id] = e.textsIn([]sentEvent{ev}, id)
			}
		}
	}
	return out
}

func (e *env) disconnectsOf(id uint64) []*sessions.Disconnect {
	var out []*sessions.Disconnect
	for _, ev := range e.p.Events() {
		if d := ev.disconnect(); d != nil && d.Sessid == id {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) loggedIn(id uint64) bool {
	var in bool
	e.call(func() {
		if s := e.h.SessionFromSessid(id); s != nil {
			in = s.LoggedIn
		}
	})
	return in
}

func (e *env) exists(id uint64) bool {
	var ok bool
	e.call(func() { ok = e.h.SessionFromSessid(id) != nil })
	return ok
}

func lookText(names ...string) string {
	return fmt.Sprintf("Limbo\nWelcome to %s, %s. This is where everyone starts; talk with say.\nPlayers here: %s",
		serverName, names[0], strings.Join(names[1:], ", "))
}

var connectionScreen = fmt.Sprintf(commands.ConnectionScreen, serverName)

// ---- before login ----

func TestConnectionScreenAndLook(t *testing.T) {
	e := newEnv(t, 0)
	e.connect(1)
	if got := e.texts(1); !slices.Equal(got, []string{connectionScreen}) {
		t.Fatalf("on connect = %q, want the connection screen", got)
	}
	if !strings.Contains(connectionScreen, "Welcome to Portico Test!") {
		t.Errorf("connection screen does not name the server:\n%s", connectionScreen)
	}
	e.send(1, "look")
	e.send(1, "L")
	if got := e.texts(1); len(got) != 3 || got[1] != connectionScreen || got[2] != connectionScreen {
		t.Errorf("look = %q, want the connection screen again", got)
	}
}

func TestUnknownCommand(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.connect(1)
	e.send(1, "xyzzy plugh")
	want := `Command 'xyzzy' is not available. Type "help" for help.`
	if got := e.last(1); got != want {
		t.Errorf("unknown command = %q, want %q", got, want)
	}
	n := len(e.texts(1))
	e.send(1, "   ")
	if len(e.texts(1)) != n {
		t.Error("an empty line was answered")
	}
	// Before login only the unlogged-in commands exist.
	e.send(1, "say hi")
	if got := e.last(1); got != `Command 'say' is not available. Type "help" for help.` {
		t.Errorf("say before login = %q", got)
	}
	e.send(1, "connect Alice secret1")
	e.waitLogin(1)
	e.send(1, "create Bob secret2")
	if got := e.last(1); got != `Command 'create' is not available. Type "help" for help.` {
		t.Errorf("create after login = %q", got)
	}
}

func TestConnectWithPassword(t *testing.T) {
	e := newEnv(t, 0)
	acc := e.account("Alice", "secret1")
	e.connect(1)
	e.send(1, "connect Alice secret1")
	e.waitLogin(1)
	got := e.waitText(1, lookText("Alice", "Alice"))
	if !slices.Contains(got, "\nYou become Alice.\n") {
		t.Errorf("texts = %q, want the puppet announced", got)
	}
	if !e.loggedIn(1) {
		t.Error("not logged in")
	}
	var uid int64
	e.call(func() { uid = e.h.SessionFromSessid(1).UID })
	if uid != acc.ID {
		t.Errorf("uid = %d, want %d", uid, acc.ID)
	}

	// Quoted names and other letter case work too.
	e.connect(2)
	e.send(2, `con "alice" secret1`)
	e.waitLogin(2)
	if e.exists(1) {
		t.Error("mode 0: the older session survived a second login")
	}
}

func TestConnectWrongPassword(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.connect(1)
	e.send(1, "connect Alice wrong")
	e.waitText(1, "Username and/or password is incorrect.")
	e.send(1, "connect Nobody secret1")
	// An unknown name gets the same answer.
	e.waitFor("a second bad-login message", func(evs []sentEvent) bool {
		n := 0
		for _, s := range e.textsIn(evs, 1) {
			if s == "Username and/or password is incorrect." {
				n++
			}
		}
		return n == 2
	})
	if e.loggedIn(1) {
		t.Error("logged in with a wrong password")
	}
	e.send(1, "connect")
	if got := e.last(1); got != commands.MsgConnectUsage {
		t.Errorf("connect alone = %q, want the usage", got)
	}
}

func TestConnectAsksForPassword(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.connect(1)
	e.send(1, "connect Alice")

	msgs := e.messagesIn(e.p.Events(), 1)
	p := msgs[len(msgs)-1]
	if p.Name != "prompt" || len(p.Args) != 1 || p.Args[0] != "Password: " {
		t.Fatalf("asked with %+v, want prompt \"Password: \"", p)
	}
	if echo, ok := p.Options()["echo"]; !ok || echo != false {
		t.Errorf("prompt options = %v, want echo false", p.Options())
	}

	e.send(1, "secret1")
	e.waitLogin(1)
	msgs = e.messagesIn(e.p.Events(), 1)
	var echoOn bool
	for _, m := range msgs {
		if m.Name == "text" && m.Args[0] == "" && m.Options()["echo"] == true {
			echoOn = true
		}
		if s, _ := m.FirstString(); strings.Contains(s, "is not available") {
			t.Errorf("the password was run as a command: %q", s)
		}
	}
	if !echoOn {
		t.Error("echo was not turned back on after the password")
	}
	// The prompt that asked for the password is cleared (Evennia's
	// webclient keeps the last prompt in its prompt bar): an empty prompt
	// follows the answer, before anything of the login.
	var cleared bool
	for i, m := range msgs {
		if m.Name == "prompt" && len(m.Args) == 1 && m.Args[0] == "" {
			cleared = i > 0 && msgs[i-1].Name == "text" && msgs[i-1].Options()["echo"] == true
		}
	}
	if !cleared {
		t.Errorf("no empty prompt right after the password: %+v", msgs)
	}

	// A wrong answer is refused, and the next line is a command again.
	e.connect(2)
	e.send(2, "connect Alice")
	e.send(2, "wrong")
	e.waitText(2, "Username and/or password is incorrect.")
	e.send(2, "look")
	if got := e.last(2); got != connectionScreen {
		t.Errorf("after a refused password, look gave %q", got)
	}
}

func TestCreate(t *testing.T) {
	e := newEnv(t, 0)
	e.connect(1)
	e.send(1, "create Bob pw1234")
	created := "A new account 'Bob' was created. Welcome!\n\nYou can now log in with the command 'connect Bob <your password>'."
	e.waitText(1, created)
	if e.loggedIn(1) {
		t.Error("create logged the session in")
	}
	if _, err := e.st.AccountByName(context.Background(), "Bob"); err != nil {
		t.Errorf("account not stored: %v", err)
	}

	for _, tc := range []struct{ line, want string }{
		{"create bob pw5678", "Sorry, there is already an account with the name 'bob'."},
		{"create 1bob pw1234", "Must start with a letter"},
		{"create Bo pw1234", "Must be 3 to 30 characters long"},
		{"create Carol ab", "Must be at least 3 characters long"},
	} {
		e.send(1, tc.line)
		e.waitText(1, tc.want)
	}
	e.send(1, "create")
	if got := e.last(1); got != commands.MsgCreateUsage {
		t.Errorf("create alone = %q", got)
	}

	// The new account logs in.
	e.send(1, "connect Bob pw1234")
	e.waitLogin(1)
}

func TestCreateAsksForPassword(t *testing.T) {
	e := newEnv(t, 0)
	e.connect(1)
	e.send(1, "create Dana")
	msgs := e.messagesIn(e.p.Events(), 1)
	if p := msgs[len(msgs)-1]; p.Name != "prompt" || p.Args[0] != "Password: " || p.Options()["echo"] != false {
		t.Fatalf("asked with %+v", p)
	}
	e.send(1, "hidden99")
	e.waitText(1, "A new account 'Dana' was created. Welcome!\n\nYou can now log in with the command 'connect Dana <your password>'.")
	if _, err := e.st.Authenticate(context.Background(), "Dana", "hidden99"); err != nil {
		t.Errorf("the prompted password was not the one stored: %v", err)
	}
}

func TestQuitBeforeLogin(t *testing.T) {
	e := newEnv(t, 0)
	e.connect(1)
	e.send(1, "quit")
	ds := e.disconnectsOf(1)
	if len(ds) != 1 || ds[0].Reason != "Good bye! Disconnecting." {
		t.Errorf("disconnects = %v, want one with %q", ds, commands.MsgGoodbye)
	}
	if e.exists(1) {
		t.Error("session still there after quit")
	}
}

func TestWho(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	// Before login only with server.who_before_login (TestWhoBeforeLogin).
	e.call(func() {
		st := e.h.Settings()
		st.WhoBeforeLogin = true
		e.h.SetSettings(st)
	})
	e.connect(9)
	e.send(9, "who")
	if got := e.last(9); !strings.HasSuffix(got, "\n0 unique accounts logged in.") {
		t.Errorf("who with nobody = %q", got)
	}
	e.loginAs(1, "Alice", "secret1")
	e.send(9, "who")
	if got := e.last(9); !strings.HasSuffix(got, "\n1 unique account logged in.") || !strings.Contains(got, "\n Alice ") {
		t.Errorf("who with Alice = %q", got)
	}
	e.loginAs(2, "Bob", "secret2")
	e.loginAs(3, "Alice", "secret1")
	e.send(2, "doing")
	got := e.last(2)
	lines := strings.Split(got, "\n")
	if len(lines) != 5 || lines[0] != "Accounts:" || strings.Join(strings.Fields(lines[1]), " ") != "Account name On for Idle" {
		t.Fatalf("who = %q", got)
	}
	if !strings.HasPrefix(lines[2], " Alice ") || !strings.HasPrefix(lines[3], " Bob ") || lines[4] != "2 unique accounts logged in." {
		t.Errorf("who = %q, want Alice and Bob once each", got)
	}
	if f := strings.Fields(lines[2]); len(f) != 3 || !strings.HasSuffix(f[1], "s") {
		t.Errorf("who row = %q, want name, time on and idle time", lines[2])
	}
}

func TestLookAfterLogin(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Bob", "secret2")
	e.send(1, "look")
	if got := e.last(1); got != lookText("Alice", "Alice", "Bob") {
		t.Errorf("look = %q, want %q", got, lookText("Alice", "Alice", "Bob"))
	}
	e.send(2, "ls")
	if got := e.last(2); got != lookText("Bob", "Alice", "Bob") {
		t.Errorf("ls = %q", got)
	}
}

func TestSay(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Bob", "secret2")
	e.connect(3)
	guest := len(e.texts(3))

	for _, line := range []string{"say hi", `"hi`, "'  hi"} {
		before := len(e.p.Events())
		e.send(1, line)
		evs := e.p.Events()[before:]
		if got := e.textsIn(evs, 1); !slices.Equal(got, []string{`You say, "hi"`}) {
			t.Errorf("%s: speaker got %q", line, got)
		}
		if got := e.textsIn(evs, 2); !slices.Equal(got, []string{`Alice says, "hi"`}) {
			t.Errorf("%s: listener got %q", line, got)
		}
	}
	if got := e.texts(3); len(got) != guest {
		t.Errorf("a session not logged in heard: %q", got[guest:])
	}
	e.send(1, "say")
	if got := e.last(1); got != "Say what?" {
		t.Errorf("say alone = %q", got)
	}
}

func TestQuitAfterLogin(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Alice", "secret1")
	e.send(1, "quit")
	if got := e.last(1); got != "Quitting. One session is still connected." {
		t.Errorf("quit with two sessions = %q", got)
	}
	if ds := e.disconnectsOf(1); len(ds) != 1 || e.exists(1) {
		t.Errorf("session 1 after quit: disconnects %v, exists %v", ds, e.exists(1))
	}
	e.send(2, "quit")
	if got := e.last(2); got != "Quitting. Hope to see you again, soon." {
		t.Errorf("quit with one session = %q", got)
	}
	if ds := e.disconnectsOf(2); len(ds) != 1 || e.exists(2) {
		t.Errorf("session 2 after quit: disconnects %v", ds)
	}

	e.loginAs(3, "Alice", "secret1")
	e.loginAs(4, "Alice", "secret1")
	e.send(4, "quit all")
	if got := e.last(4); got != "Quitting all sessions. Hope to see you soon again." {
		t.Errorf("quit all = %q", got)
	}
	if e.exists(3) || e.exists(4) {
		t.Error("quit all left a session")
	}
}

func TestSessionsCommand(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Bob", "secret2")
	e.loginAs(3, "Alice", "secret1")
	e.send(3, "@sessions")
	got := e.last(3)
	lines := strings.Split(got, "\n")
	if len(lines) != 4 || lines[0] != "Your current session(s):" {
		t.Fatalf("@sessions = %q", got)
	}
	want := [][]string{
		{"#", "Protocol", "Host", "Puppet/Character"},
		{"1", "telnet", "192.0.2.1:4000", "Alice"},
		{"3", "telnet", "192.0.2.3:4000", "Alice"},
	}
	for i, w := range want {
		if f := strings.Fields(lines[i+1]); !slices.Equal(f, w) {
			t.Errorf("line %d = %q, want %q", i+1, lines[i+1], w)
		}
	}
	e.send(3, "sessions")
	if e.last(3) != got {
		t.Error("the sessions alias differs")
	}
}

func TestHelp(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.connect(1)
	e.send(1, "help")
	if got := e.last(1); !strings.HasPrefix(got, "You are not yet logged into the game. Commands available at this point:") {
		t.Errorf("help before login = %q", got)
	}
	e.send(1, "connect Alice secret1")
	e.waitLogin(1)

	e.send(1, "help")
	// Mode 0: no charcreate, ic or ooc (TestHelpListsTheModesCommands).
	want := "Commands:\n  @sessions\n  @sshkeys [add <public key> || remove <fingerprint>]\n  chars\n  help [command]\n  look\n  ping [text]\n  quit [all]\n  say <message>\n  who\nType help <command> for more."
	if got := e.last(1); got != want {
		t.Errorf("help = %q, want %q", got, want)
	}
	e.send(1, "help say")
	if got := e.last(1); got != "Help for say:\nsay <message>\n\nTalk to everyone in the game." {
		t.Errorf("help say = %q", got)
	}
	e.send(1, `? "`)
	if got := e.last(1); !strings.HasPrefix(got, "Help for say:") {
		t.Errorf("help by alias = %q", got)
	}
	e.send(1, "help xyzzy")
	if got := e.last(1); got != "No help found for 'xyzzy'." {
		t.Errorf("help xyzzy = %q", got)
	}
}

// TestHelpListsTheModesCommands: help lists charcreate, ic and ooc only in
// the multisession modes where an account has several characters (2 and
// 3); in modes 0 and 1 they would do nothing useful.
func TestHelpListsTheModesCommands(t *testing.T) {
	for mode, want := range []bool{false, false, true, true} {
		e := newEnv(t, mode)
		e.account("Alice", "secret1")
		e.loginAs(1, "Alice", "secret1")
		e.settle()
		list := e.answer(1, "help")
		for _, cmd := range []string{"charcreate <name>", "ic <character>", "ooc"} {
			if got := strings.Contains(list, "\n  "+cmd+"\n"); got != want {
				t.Errorf("mode %d: %s listed = %v, want %v; help = %q", mode, cmd, got, want, list)
			}
		}
		if !strings.Contains(list, "\n  chars\n") {
			t.Errorf("mode %d: chars not listed: %q", mode, list)
		}
	}
}

func TestAdminCommandsOnlyForAdmins(t *testing.T) {
	e := newEnv(t, 1)
	e.account("Alice", "secret1")
	root := e.account("Root", "secret2")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Root", "secret2")

	for _, cmd := range []string{"@reload", "@restart", "@reset", "@shutdown"} {
		e.send(1, cmd+" now")
		if got, want := e.last(1), fmt.Sprintf("Command '%s' is not available. Type \"help\" for help.", cmd); got != want {
			t.Errorf("non-admin %s = %q, want %q", cmd, got, want)
		}
	}
	e.send(1, "help @reload")
	if got := e.last(1); got != "No help found for '@reload'." {
		t.Errorf("non-admin help @reload = %q", got)
	}
	e.send(1, "help")
	if strings.Contains(e.last(1), "@reload") || strings.Contains(e.last(1), "@shutdown") {
		t.Errorf("help lists admin commands to a non-admin: %q", e.last(1))
	}
	if got := e.life.Calls(); len(got) != 0 {
		t.Fatalf("a non-admin reached the lifecycle: %q", got)
	}

	e.send(2, "help")
	for _, cmd := range []string{"@reload [reason]", "@reset [reason]", "@shutdown [reason]"} {
		if !strings.Contains(e.last(2), "  "+cmd+"\n") {
			t.Errorf("admin help = %q, want %s listed", e.last(2), cmd)
		}
	}
	e.send(2, "@reload new code")
	e.send(2, "@restart")
	e.send(2, "@reset")
	e.send(2, "@shutdown")
	e.send(2, "@shutdown maintenance")
	want := []string{"reload:new code", "reload:", "reset:", "shutdown:Server is shutting down.",
		"shutdown:Server is shutting down (Reason: maintenance)."}
	if got := e.life.Calls(); !slices.Equal(got, want) {
		t.Errorf("lifecycle calls = %q, want %q", got, want)
	}

	e.life.setErr(fmt.Errorf("busy"))
	e.send(2, "@reload")
	if got := e.last(2); got != "@reload failed: busy" {
		t.Errorf("failed reload = %q", got)
	}
	e.send(2, "@shutdown")
	if got := e.last(2); got != "Shutdown failed: busy" {
		t.Errorf("failed shutdown = %q", got)
	}
}

func TestSetLookupAndReplace(t *testing.T) {
	s := commands.NewSet("test",
		&commands.Command{Key: "b", Aliases: []string{"B2"}},
		&commands.Command{Key: "a"},
	)
	if s.Lookup("b2") == nil || s.Lookup("B") == nil || s.Lookup("c") != nil {
		t.Error("Lookup is not by key and alias in any case")
	}
	s.Add(&commands.Command{Key: "b", Help: "new"})
	var keys []string
	for _, c := range s.Commands() {
		keys = append(keys, c.Key)
	}
	if !slices.Equal(keys, []string{"a", "b"}) || s.Lookup("b").Help != "new" {
		t.Errorf("after replacing b: %q", keys)
	}
	if c := s.Lookup("b2"); c != nil {
		t.Errorf("the replaced command's alias still finds %+v, which is no longer in the set", c)
	}
}

// TestSetRemove: Remove takes a command out with its aliases, in any
// letter case, and says whether there was one.
func TestSetRemove(t *testing.T) {
	s := commands.NewSet("test", &commands.Command{Key: "who", Aliases: []string{"doing"}}, &commands.Command{Key: "look"})
	if !s.Remove("WHO") {
		t.Fatal("Remove of a command in the set reported false")
	}
	if s.Lookup("who") != nil || s.Lookup("doing") != nil || len(s.Commands()) != 1 {
		t.Errorf("after Remove: who %v, doing %v, %d commands", s.Lookup("who"), s.Lookup("doing"), len(s.Commands()))
	}
	if s.Remove("who") {
		t.Error("Remove of a command not in the set reported true")
	}
}

// TestConnectScreenReplaced: a game's connection screen is shown on
// connect and by look before login, in place of the default.
func TestConnectScreenReplaced(t *testing.T) {
	e := newEnv(t, 0)
	e.ch.ConnectScreen = func(s *sessions.ServerSession) string {
		return fmt.Sprintf("The gate of %s (session %d)", e.h.Settings().ServerName, s.Sessid)
	}
	e.connect(7)
	e.send(7, "look")
	want := "The gate of Portico Test (session 7)"
	if got := e.texts(7); !slices.Equal(got, []string{want, want}) {
		t.Fatalf("texts = %q, want the game's screen twice", got)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second: "42s", 5 * time.Minute: "5m", 3 * time.Hour: "3h", 50 * time.Hour: "2d",
	} {
		if got := commands.Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A command set: commands by key and alias, replaced by key, removed by
// key. A game hands one to host.WithCommands.
func ExampleSet() {
	set := commands.NewSet(sessions.CmdsetAccount,
		&commands.Command{Key: "look", Aliases: []string{"l"}, Func: func(c *commands.Call) { c.Msg("A room.") }},
		&commands.Command{Key: "who", Func: func(c *commands.Call) {}},
	)
	set.Add(&commands.Command{Key: "look", Aliases: []string{"l", "examine"}, Func: func(c *commands.Call) { c.Msg("Another room.") }})
	set.Remove("who")
	for _, c := range set.Commands() {
		fmt.Println(c.Key, c.Aliases)
	}
	fmt.Println(set.Lookup("EXAMINE") != nil)
	// Output:
	// look [l examine]
	// true
}

// TestStockValues: the stock game's values a client may get (get_value)
// and watch: name, location (Limbo while playing a character), servername.
func TestStockValues(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.loginAs(1, "Alice", "secret1")
	e.settle()
	get := func(name string) any {
		n := len(e.messagesIn(e.p.Events(), 1))
		e.call(func() {
			e.h.DataIn("telnet", 1, []contract.Message{{Name: "get_value", Kwargs: map[string]any{"name": name}}})
		})
		msgs := e.messagesIn(e.p.Events(), 1)[n:]
		if len(msgs) != 1 || msgs[0].Name != "get_value" || msgs[0].Kwargs["name"] != name {
			t.Fatalf("get_value %s answered %+v", name, msgs)
		}
		return msgs[0].Kwargs["value"]
	}
	for name, want := range map[string]any{"name": "Alice", "location": "Limbo", "servername": serverName, "account": "Alice"} {
		if got := get(name); got != want {
			t.Errorf("get_value %s = %v, want %v", name, got, want)
		}
	}
	e.send(1, "ooc")
	if got := get("location"); got != nil {
		t.Errorf("location out of character = %v, want none", got)
	}
}
