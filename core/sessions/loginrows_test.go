package sessions

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// character returns a character by id or fails the test.
func (x *harness) character(id int64) store.Character {
	x.t.Helper()
	ch, err := x.st.CharacterByID(context.Background(), id)
	if err != nil {
		x.t.Fatalf("CharacterByID(%d): %v", id, err)
	}
	return ch
}

// wantLogins fails the test unless plugin's saved rows are exactly want.
func (x *harness) wantLogins(plugin string, want ...store.SessionLogin) {
	x.t.Helper()
	w := map[uint64]store.SessionLogin{}
	for _, l := range want {
		w[l.Sessid] = l
	}
	if got := x.savedLogins(plugin); !maps.Equal(got, w) {
		x.t.Errorf("saved logins of %s = %v, want %v", plugin, got, w)
	}
}

// refusedLine is the start of the log line of a refused claim.
func refusedLine(plugin string, sessid uint64, uid, puid int64) string {
	return fmt.Sprintf(`level=WARN msg="refused login claim" plugin=%s sessid=%d uid=%d puid=%d`, plugin, sessid, uid, puid)
}

// TestLoginSavedBeforePluginIsTold: a login saves (sessid, plugin, uid,
// puid) and its plugin hears of it (SLOGIN) only once the row is in the
// store; input typed meanwhile waits and runs after the login.
func TestLoginSavedBeforePluginIsTold(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	want := store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: acc.ID, PUID: acc.CharacterID}
	var atLogin []map[uint64]store.SessionLogin
	x.p.onSend = func(e sentEvent) {
		if e.login() != nil {
			atLogin = append(atLogin, x.savedLogins(e.Plugin))
		}
	}
	s := x.connect("telnet", 1)
	x.h.Login(s, acc, false)
	x.h.DataIn("telnet", 1, []contract.Message{echoMsg("typed at once")})
	if ls := logins(x.p.Events()); len(ls) != 0 {
		t.Fatalf("the plugin was told before the login was saved: %v", ls)
	}
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Fatalf("input or login output went out before the login was saved: %q", got)
	}
	x.settle()
	if len(atLogin) != 1 || atLogin[0][1] != want {
		t.Fatalf("rows when the Login event left: %v, want session 1's %+v", atLogin, want)
	}
	want2 := []string{"\nYou become Alice.\n", "Echo returns: ('typed at once',), {}"}
	if got := textsFor(t, x.p.Events(), 1); !slices.Equal(got, want2) {
		t.Errorf("texts = %q, want %q", got, want2)
	}
	x.wantLogins("telnet", want)
}

// TestPuppetChangesSaveRow: ic, a takeover in multisession mode 2 and ooc
// each save the session's row before the plugin is synced.
func TestPuppetChangesSaveRow(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 2})
	acc := x.account("Alice")
	alicia, err := x.st.CreateCharacter(context.Background(), acc.ID, "Alicia")
	if err != nil {
		t.Fatal(err)
	}
	alice := x.character(acc.CharacterID)
	// Each puid sync, and the row of its session when it left.
	type seen struct{ synced, saved int64 }
	var syncs []seen
	x.p.onSend = func(e sentEvent) {
		if sy := e.sync(); sy != nil && slices.Equal(sy.Fields, []string{contract.FieldPUID}) {
			id := sy.Session.Sessid
			syncs = append(syncs, seen{sy.Session.PUID, x.savedLogins(e.Plugin)[id].PUID})
		}
	}
	s1 := x.login("telnet", 1, acc)
	s2 := x.login("websocket", 2, acc) // Alice is acted already: OOC
	x.wantLogins("telnet", store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: acc.ID, PUID: alice.ID})
	x.wantLogins("websocket", store.SessionLogin{Sessid: 2, Plugin: "websocket", UID: acc.ID})

	if _, err := x.h.Puppet(s2, alicia); err != nil {
		t.Fatal(err)
	}
	x.settle()
	x.wantLogins("websocket", store.SessionLogin{Sessid: 2, Plugin: "websocket", UID: acc.ID, PUID: alicia.ID})

	// Session 2 takes Alice over: session 1 goes OOC.
	if _, err := x.h.Puppet(s2, alice); err != nil {
		t.Fatal(err)
	}
	x.settle()
	x.wantLogins("telnet", store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: acc.ID})
	x.wantLogins("websocket", store.SessionLogin{Sessid: 2, Plugin: "websocket", UID: acc.ID, PUID: alice.ID})
	if s1.PUID != 0 {
		t.Fatalf("session 1 still puppets %d", s1.PUID)
	}

	if !x.h.Unpuppet(s2) {
		t.Fatal("Unpuppet of a puppeting session did nothing")
	}
	x.settle()
	x.wantLogins("websocket", store.SessionLogin{Sessid: 2, Plugin: "websocket", UID: acc.ID})

	want := []seen{{alicia.ID, alicia.ID}, {0, 0}, {alice.ID, alice.ID}, {0, 0}}
	if !slices.Equal(syncs, want) {
		t.Errorf("puid syncs (sent, saved then) = %v, want %v", syncs, want)
	}
}

// TestSessionEndDeletesRow: a session that ends takes its row along; a
// plugin whose sessions are all gone loses its rows, another plugin's stay.
func TestSessionEndDeletesRow(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice, bob := x.account("Alice"), x.account("Bob")
	x.login("telnet", 1, alice)
	b := x.login("telnet", 2, bob)
	x.login("websocket", 3, alice)
	x.login("websocket", 4, bob)
	x.connect("telnet", 5)
	x.h.PortalDisconnect("telnet", 1, "connection lost")
	x.h.Disconnect(b, "quit", true)
	x.h.PortalDisconnect("telnet", 5, "connection lost")
	x.settle()
	x.wantLogins("telnet")
	x.wantLogins("websocket",
		store.SessionLogin{Sessid: 3, Plugin: "websocket", UID: alice.ID, PUID: alice.CharacterID},
		store.SessionLogin{Sessid: 4, Plugin: "websocket", UID: bob.ID, PUID: bob.CharacterID})

	x.login("telnet", 6, bob)
	x.h.PortalDisconnectAll("websocket", "plugin crashed")
	x.settle()
	x.wantLogins("websocket")
	x.wantLogins("telnet", store.SessionLogin{Sessid: 6, Plugin: "telnet", UID: bob.ID, PUID: bob.CharacterID})
}

// TestPluginLaunchedForgetsRows: a plugin launched afresh (not reattached)
// has none of its earlier sessions: a new host image forgets their rows.
func TestPluginLaunchedForgetsRows(t *testing.T) {
	x := newHarness(t)
	alice, bob := x.account("Alice"), x.account("Bob")
	x.login("telnet", 1, alice)
	x.login("websocket", 2, bob)

	y := newHarnessOn(t, x.st) // the host after a restart
	y.h.PluginLaunched("telnet")
	y.settle()
	y.wantLogins("telnet")
	y.wantLogins("websocket", store.SessionLogin{Sessid: 2, Plugin: "websocket", UID: bob.ID, PUID: bob.CharacterID})
}

// TestRestoreAcceptsOnlySavedLogins: after a reattach (a reload, or a
// start after the host was killed) a session is logged in only if the
// plugin's uid and puid match the row the host saved for it; every other
// claim is refused, logged, pushed back to the plugin as logged out, and
// shown the connection screen.
func TestRestoreAcceptsOnlySavedLogins(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice, bob := x.account("Alice"), x.account("Bob")
	root, err := x.st.CreateAccount(context.Background(), "Root", "secret", true)
	if err != nil {
		t.Fatal(err)
	}
	x.login("telnet", 1, alice)
	x.login("telnet", 2, bob)
	x.login("telnet", 3, root)
	x.connect("telnet", 4)
	x.login("telnet", 6, bob) // saved, but the host died before telling the plugin
	x.login("telnet", 7, bob) // its client leaves while the host is away

	claim := func(id uint64, acc store.Account, puid int64) contract.SessionData {
		d := sessData(id, "telnet")
		d.LoggedIn, d.UID, d.UName, d.PUID = true, acc.ID, acc.Name, puid
		return d
	}
	y := newHarnessOn(t, x.st)
	y.h.PortalSessionsSync("telnet", []contract.SessionData{
		claim(1, alice, alice.CharacterID), // what the host saved
		claim(2, root, root.CharacterID),   // Bob's session claims the admin
		claim(3, root, 0),                  // the admin's, with another puppet
		claim(4, root, root.CharacterID),   // never logged in
		sessData(5, "telnet"),              // a guest the old image never saw
		sessData(6, "telnet"),              // the plugin never heard of its login
	})
	y.settle()

	s1 := y.h.SessionFromSessid(1)
	if !s1.LoggedIn || s1.Account == nil || s1.Account.ID != alice.ID || s1.Puppet == nil || s1.Puppet.ID != alice.CharacterID ||
		s1.CmdsetStorageString != CmdsetAccount {
		t.Errorf("session 1 = logged in %v account %v puppet %v; want Alice with her character", s1.LoggedIn, s1.Account, s1.Puppet)
	}
	for _, id := range []uint64{2, 3, 4, 5, 6} {
		s := y.h.SessionFromSessid(id)
		if s.LoggedIn || s.UID != 0 || s.PUID != 0 || s.Account != nil || s.IsAdmin() || s.CmdsetStorageString != CmdsetUnloggedIn {
			t.Errorf("session %d = logged in %v uid %d puid %d admin %v; want logged out", id, s.LoggedIn, s.UID, s.PUID, s.IsAdmin())
		}
	}
	if y.h.AccountCount() != 1 {
		t.Errorf("AccountCount = %d, want 1", y.h.AccountCount())
	}
	log := y.log.String()
	for _, line := range []string{
		refusedLine("telnet", 2, root.ID, root.CharacterID) + ` uname=Root reason="the host logged this session in as uid ` + fmt.Sprint(bob.ID),
		refusedLine("telnet", 3, root.ID, 0) + ` uname=Root reason="the host logged this session in as uid ` + fmt.Sprint(root.ID),
		refusedLine("telnet", 4, root.ID, root.CharacterID) + ` uname=Root reason="the host never logged this session in"`,
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}
	if n := strings.Count(log, "refused login claim"); n != 3 {
		t.Errorf("%d refused claims logged, want 3:\n%s", n, log)
	}

	evs := y.p.Events()
	if ls := logins(evs); len(ls) != 0 {
		t.Errorf("a restore ran a login: %v", ls)
	}
	var loggedOut []uint64
	for _, e := range syncs(evs) {
		sy := e.sync()
		d := sy.Session
		if e.Plugin != "telnet" || !slices.Equal(sy.Fields, loginFields) || d.LoggedIn || d.UID != 0 || d.PUID != 0 {
			t.Errorf("sync to the plugin = %s %v, want a logout", e.Plugin, sy)
		}
		loggedOut = append(loggedOut, d.Sessid)
	}
	if !slices.Equal(loggedOut, []uint64{2, 3, 4}) {
		t.Errorf("plugin told of logouts of %v, want [2 3 4]", loggedOut)
	}
	var looked []uint64
	for _, l := range y.cmds.Lines() {
		if l.Line == "look" {
			looked = append(looked, l.Sessid)
		}
	}
	if !slices.Equal(looked, []uint64{2, 3, 4}) {
		t.Errorf("connection screen shown to %v, want [2 3 4]", looked)
	}
	// Only the accepted session keeps its row; the logged-out and gone
	// sessions' are deleted.
	y.wantLogins("telnet", store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: alice.ID, PUID: alice.CharacterID})

	// The next reload accepts session 1 again.
	z := newHarnessOn(t, x.st)
	z.h.PortalSessionsSync("telnet", []contract.SessionData{claim(1, alice, alice.CharacterID)})
	z.settle()
	if s := z.h.SessionFromSessid(1); !s.LoggedIn || s.UID != alice.ID {
		t.Errorf("second restore of session 1: logged in %v uid %d", s.LoggedIn, s.UID)
	}
	if strings.Contains(z.log.String(), "refused") {
		t.Errorf("second restore refused a claim:\n%s", z.log.String())
	}
}

// TestRestoreIgnoresAnotherPluginsSession: a plugin that lists the id of
// another plugin's session changes nothing.
func TestRestoreIgnoresAnotherPluginsSession(t *testing.T) {
	x := newHarness(t)
	alice := x.account("Alice")
	x.login("telnet", 1, alice)
	d := sessData(1, "evil")
	d.Address = "203.0.113.9:1"
	x.h.PortalSessionsSync("evil", []contract.SessionData{d})
	x.settle()
	s := x.h.SessionFromSessid(1)
	if s.Plugin != "telnet" || !s.LoggedIn || s.UID != alice.ID || s.Address == d.Address {
		t.Errorf("session 1 after another plugin listed it: plugin %s logged in %v uid %d address %s", s.Plugin, s.LoggedIn, s.UID, s.Address)
	}
	x.wantLogins("telnet", store.SessionLogin{Sessid: 1, Plugin: "telnet", UID: alice.ID, PUID: alice.CharacterID})
}

// TestRestoreManySessions: a reattach checks 10,000 sessions against the
// saved logins with one query and stays well within a reload's budget.
func TestRestoreManySessions(t *testing.T) {
	x := newHarness(t)
	const n = 10000
	accs := make([]store.Account, 20)
	for i := range accs {
		accs[i] = x.account(fmt.Sprintf("Player%02d", i))
	}
	changes := make([]store.SessionLoginChange, 0, n)
	all := make([]contract.SessionData, 0, n)
	for i := range n {
		acc := accs[i%len(accs)]
		id := uint64(i + 1)
		changes = append(changes, store.SaveSessionLogin(store.SessionLogin{Sessid: id, Plugin: "telnet", UID: acc.ID, PUID: acc.CharacterID}))
		d := sessData(id, "telnet")
		d.LoggedIn, d.UID, d.UName, d.PUID = true, acc.ID, acc.Name, acc.CharacterID
		all = append(all, d)
	}
	if err := x.st.ApplySessionLogins(context.Background(), changes...); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	x.h.PortalSessionsSync("telnet", all)
	took := time.Since(t0)
	x.settle()
	if got := x.h.AccountCount(); got != len(accs) || x.h.Count() != n {
		t.Fatalf("restored %d sessions of %d accounts, want %d of %d", x.h.Count(), got, n, len(accs))
	}
	if strings.Contains(x.log.String(), "refused") {
		t.Fatal("an honest session was refused")
	}
	t.Logf("%d sessions restored and checked in %v", n, took.Round(time.Millisecond))
	// The budget of a whole reload is well under a second; a check per
	// session (10,000 queries) would take most of it here.
	if !raceEnabled && took > 500*time.Millisecond {
		t.Errorf("restoring %d sessions took %v", n, took)
	}
}

// TestLoginNotSavedEndsSession: a login the host cannot save is never told
// to the plugin; the session is ended with a message that says why.
func TestLoginNotSavedEndsSession(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	broken, err := store.Open(t.TempDir()+"/broken.db", store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Close(); err != nil { // every write now fails
		t.Fatal(err)
	}
	y := newHarnessOn(t, broken)
	s := y.connect("telnet", 1)
	y.h.Login(s, acc, false)
	y.settle()
	if y.h.SessionFromSessid(1) != nil {
		t.Fatal("a session whose login was not saved is still there")
	}
	evs := y.p.Events()
	if ls := logins(evs); len(ls) != 0 {
		t.Errorf("the plugin was told of an unsaved login: %v", ls)
	}
	if ds := disconnects(evs); len(ds) != 1 || ds[0].disconnect().Reason != MsgLoginNotSaved {
		t.Errorf("disconnects = %s, want one with %q", describe(t, ds), MsgLoginNotSaved)
	}
	if !strings.Contains(y.log.String(), "login not saved") {
		t.Errorf("the failure was not logged:\n%s", y.log.String())
	}
}

// TestBadLoginChangeFailsAlone: the writer saves a burst of logins in one
// batch; a change that cannot be saved (here a session id past what the
// store can hold, which a plugin chose) fails only its own login, and the
// other login of the same burst is saved. The writer is held on the
// database's write lock so that both changes are queued into one batch.
func TestBadLoginChangeFailsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portico.db")
	st, err := store.Open(path, store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	x := newHarnessOn(t, st)
	x.start()
	acc := x.account("Alice")

	// Another connection takes the write lock: the writer's next
	// transaction waits for it (the store's busy timeout is 5 s).
	lock, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	x.call(func() { x.h.queueLogin(store.DeleteSessionLogin(99), nil) })
	// The writer took that change and waits for the lock.
	deadline := time.Now().Add(waitLimit)
	for {
		x.h.logins.mu.Lock()
		taken := len(x.h.logins.queue) == 0
		x.h.logins.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never took the first change")
		}
		time.Sleep(time.Millisecond)
	}
	results := make(chan [2]error, 1)
	var bad, good error
	n := 0
	x.call(func() {
		done := func() {
			if n++; n == 2 {
				results <- [2]error{bad, good}
			}
		}
		x.h.queueLogin(store.SaveSessionLogin(store.SessionLogin{Sessid: 1 << 63, Plugin: "evil", UID: acc.ID}),
			func(err error) { bad = err; done() })
		x.h.queueLogin(store.SaveSessionLogin(store.SessionLogin{Sessid: 7, Plugin: "telnet", UID: acc.ID}),
			func(err error) { good = err; done() })
	})
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var got [2]error
	select {
	case got = <-results:
	case <-time.After(waitLimit):
		t.Fatal("the logins were never answered")
	}
	if got[0] == nil {
		t.Error("the bad change was saved")
	}
	if got[1] != nil {
		t.Errorf("the good login failed with the bad one: %v", got[1])
	}
	x.wantLogins("telnet", store.SessionLogin{Sessid: 7, Plugin: "telnet", UID: acc.ID})
}

// TestRestoreWithLoginsReadBefore: the saved logins, read off the loop
// before the plugin's list came (as a reattach reads them, while the
// plugin answers), decide the claims as PortalSessionsSync's own read
// does; logins read for another plugin decide none.
func TestRestoreWithLoginsReadBefore(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice := x.account("Alice")
	x.login("telnet", 1, alice)
	claim := sessData(1, "telnet")
	claim.LoggedIn, claim.UID, claim.UName, claim.PUID = true, alice.ID, alice.Name, alice.CharacterID

	y := newHarnessOn(t, x.st)
	y.start()
	// Read on this goroutine while y's loop runs: the race detector sees
	// that the read touches nothing of the loop's.
	saved := y.h.SavedLogins("telnet")
	y.call(func() { y.h.PortalSessionsSyncSaved("telnet", []contract.SessionData{claim}, saved) })
	var s1 *ServerSession
	y.call(func() { s1 = y.h.SessionFromSessid(1) })
	if !s1.LoggedIn || s1.Account == nil || s1.Account.ID != alice.ID {
		t.Errorf("session 1 with its saved login read before = logged in %v account %v; want Alice", s1.LoggedIn, s1.Account)
	}

	z := newHarnessOn(t, x.st)
	z.h.PortalSessionsSyncSaved("telnet", []contract.SessionData{claim}, z.h.SavedLogins("websocket"))
	z.settle()
	if s := z.h.SessionFromSessid(1); s.LoggedIn || s.Account != nil {
		t.Errorf("session 1 with logins read for another plugin = logged in %v; want logged out", s.LoggedIn)
	}
	if log := z.log.String(); !strings.Contains(log, "saved logins read for another plugin") {
		t.Errorf("log lacks the refusal:\n%s", log)
	}
}
