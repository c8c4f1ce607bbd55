package sessions

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

func TestPortalConnectCreatesUnloggedInSession(t *testing.T) {
	x := newHarness(t)
	d := sessData(1, "telnet")
	d.ProtocolFlags, d.ServerData = contract.Flags{}, nil
	x.h.PortalConnect("telnet", d)

	s := x.h.SessionFromSessid(1)
	if s == nil {
		t.Fatal("no session 1 after PortalConnect")
	}
	if s.Plugin != "telnet" || s.LoggedIn || s.Account != nil || s.Handler() != x.h {
		t.Errorf("session = plugin %q logged in %v account %v; want an unlogged-in telnet session", s.Plugin, s.LoggedIn, s.Account)
	}
	if s.CmdsetStorageString != CmdsetUnloggedIn {
		t.Errorf("cmdset = %q, want %q", s.CmdsetStorageString, CmdsetUnloggedIn)
	}
	// A new session's server data is a map (the contract's, plugins
	// write to it); its NDB is made when first set: reading works.
	if s.ServerData == nil || s.NDB != nil || s.OneShot() || s.NDB["x"] != nil {
		t.Errorf("a new session's maps: server_data %v, ndb %v; want {} and nil", s.ServerData, s.NDB)
	}
	s.SetNDB("x", 1)
	s.SetServerData("y", 2)
	if s.NDB["x"] != 1 || s.ServerData["y"] != 2 {
		t.Errorf("after the setters: ndb %v, server_data %v", s.NDB, s.ServerData)
	}
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look"}) {
		t.Errorf("commands run = %q, want the connection screen's look", got)
	}
	if evs := x.p.Events(); len(logins(evs)) != 0 {
		t.Errorf("unlogged-in session got a login: %s", describe(t, evs))
	}
	if x.h.Count() != 1 {
		t.Errorf("Count = %d, want 1", x.h.Count())
	}
}

// A bot the host asked a plugin to start arrives logged in as its account,
// without a password.
func TestPortalConnectLoggedInIsLoggedInWithoutPassword(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.p.botID = 7
	if _, err := x.h.StartBotSession(context.Background(), "ssh", map[string]any{"uid": acc.ID}); err != nil {
		t.Fatal(err)
	}
	d := sessData(7, "ssh")
	d.LoggedIn, d.UID = true, acc.ID
	x.h.PortalConnect("ssh", d)
	x.settle()

	s := x.h.SessionFromSessid(7)
	if s == nil || !s.LoggedIn || s.Account == nil || s.Account.ID != acc.ID {
		t.Fatalf("session 7 not logged in as Alice: %+v", s)
	}
	if s.Puppet == nil || s.PUID != acc.CharacterID {
		t.Errorf("puppet = %v puid %d, want Alice's character %d", s.Puppet, s.PUID, acc.CharacterID)
	}
	evs := x.p.Events()
	ls := logins(evs)
	if len(ls) != 1 {
		t.Fatalf("logins sent = %d, want 1: %s", len(ls), describe(t, evs))
	}
	if l := ls[0]; l.Sessid != 7 || l.UID != acc.ID || l.UName != "Alice" || l.PUID != acc.CharacterID {
		t.Errorf("login event = %v, want sessid 7 uid %d Alice puid %d", l, acc.ID, acc.CharacterID)
	}
	if evs[0].Plugin != "ssh" {
		t.Errorf("login went to %q, want ssh", evs[0].Plugin)
	}
	if got := x.cmds.LinesOf(7); !slices.Equal(got, []string{"look"}) {
		t.Errorf("commands run = %q, want one look after login", got)
	}
}

func TestPortalConnectUnknownAccountIsNotLoggedIn(t *testing.T) {
	x := newHarness(t)
	d := sessData(3, "ssh")
	d.LoggedIn, d.UID, d.UName = true, 9999, "Ghost"
	x.h.PortalConnect("ssh", d)
	s := x.h.SessionFromSessid(3)
	if s.LoggedIn || s.UID != 0 || s.UName != "" || s.CmdsetStorageString != CmdsetUnloggedIn {
		t.Errorf("session = logged in %v uid %d uname %q cmdset %q; want unlogged-in", s.LoggedIn, s.UID, s.UName, s.CmdsetStorageString)
	}
	if len(logins(x.p.Events())) != 0 {
		t.Error("a login was sent for an unknown account")
	}
	if got := x.cmds.LinesOf(3); !slices.Equal(got, []string{"look"}) {
		t.Errorf("commands run = %q, want the connection screen", got)
	}
}

func TestPortalConnectLoggedInWithoutUIDIsNotLoggedIn(t *testing.T) {
	x := newHarness(t)
	d := sessData(4, "ssh")
	d.LoggedIn, d.UName = true, "Nobody"
	x.h.PortalConnect("ssh", d)
	s := x.h.SessionFromSessid(4)
	if s.LoggedIn || s.UName != "" {
		t.Errorf("session claiming a login without an account: logged in %v uname %q; want not logged in", s.LoggedIn, s.UName)
	}
	if x.h.AccountCount() != 0 {
		t.Errorf("AccountCount = %d, want 0", x.h.AccountCount())
	}
}

func TestPortalConnectFillsMissingCounters(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", IdleTimeout: time.Hour})
	d := contract.SessionData{Sessid: 5, ProtocolKey: "raw", Address: "x"}
	x.h.PortalConnect("raw", d)
	s := x.h.SessionFromSessid(5)
	if s.ConnTime.IsZero() || s.CmdLast.IsZero() || s.CmdLastVisible.IsZero() {
		t.Errorf("counters of a session announced without them: conn %v last %v visible %v; want now",
			s.ConnTime, s.CmdLast, s.CmdLastVisible)
	}
	x.h.ValidateSessions()
	if x.h.SessionFromSessid(5) == nil {
		t.Error("a session that just connected was dropped as idle")
	}
}

func TestPortalConnectTwiceIsASync(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.login("telnet", 1, acc)
	x.p.Reset()

	d := sessData(1, "telnet")
	d.Address = "198.51.100.9:4000"
	x.h.PortalConnect("telnet", d)
	s := x.h.SessionFromSessid(1)
	if s.Address != "198.51.100.9:4000" {
		t.Errorf("address = %q, want the replayed one", s.Address)
	}
	if !s.LoggedIn || s.UID != acc.ID || s.Account == nil {
		t.Errorf("replayed connect changed the login: logged in %v uid %d", s.LoggedIn, s.UID)
	}
	// Another plugin may not take the session over.
	d2 := sessData(1, "websocket")
	d2.Address = "203.0.113.1:1"
	x.h.PortalConnect("websocket", d2)
	if s := x.h.SessionFromSessid(1); s.Plugin != "telnet" || s.Address != "198.51.100.9:4000" {
		t.Errorf("connect from another plugin changed session 1: plugin %q address %q", s.Plugin, s.Address)
	}
	if x.h.Count() != 1 {
		t.Errorf("Count = %d, want 1", x.h.Count())
	}
	if got := x.cmds.LinesOf(1); len(got) != 2 { // connection screen + look after login
		t.Errorf("commands run = %q; a replayed connect must not run look again", got)
	}
}

func TestPortalSessionSync(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)

	d := sessData(1, "telnet")
	d.ProtocolFlags = contract.FlagsOf(map[string]any{contract.FlagScreenWidth: 120, "TTYPE": "Mudlet"})
	d.Address = "ignored:1"
	x.h.PortalSessionSync("telnet", d, []string{contract.FieldProtocolFlags})
	s := x.h.SessionFromSessid(1)
	if s.ScreenWidth() != 120 || s.ProtocolFlags.Value("TTYPE") != "Mudlet" {
		t.Errorf("flags after sync = %v, want SCREENWIDTH 120 and TTYPE", s.ProtocolFlags)
	}
	if s.Encoding() != "utf-8" {
		t.Errorf("protocol flags were replaced, not merged: %v", s.ProtocolFlags)
	}
	if s.Address == "ignored:1" {
		t.Error("a field not named in the sync was loaded")
	}

	// A whole sync loads everything but the login.
	d = sessData(1, "telnet")
	d.Address = "198.51.100.2:7"
	d.LoggedIn, d.UID, d.UName, d.PUID = true, 42, "Mallory", 5
	x.h.PortalSessionSync("telnet", d, nil)
	if s.Address != "198.51.100.2:7" {
		t.Errorf("address = %q after a whole sync", s.Address)
	}
	if s.LoggedIn || s.UID != 0 || s.UName != "" || s.PUID != 0 {
		t.Errorf("a plugin sync logged the session in: %v %d %q %d", s.LoggedIn, s.UID, s.UName, s.PUID)
	}

	// Another plugin's sync, or one for an unknown session, is ignored.
	d.Address = "other"
	x.h.PortalSessionSync("ssh", d, nil)
	if s.Address == "other" {
		t.Error("sync from another plugin was loaded")
	}
	x.h.PortalSessionSync("telnet", sessData(99, "telnet"), nil)
	if x.h.Count() != 1 {
		t.Error("a sync for an unknown session created one")
	}
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("PortalSessionSync sent events: %s", describe(t, evs))
	}
}

func TestPortalSessionsSync(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")

	alice := sessData(10, "telnet")
	alice.LoggedIn, alice.UID, alice.UName, alice.PUID = true, acc.ID, "Alice", acc.CharacterID
	guest := sessData(11, "telnet")
	gone := sessData(12, "telnet")
	gone.LoggedIn, gone.UID, gone.UName = true, 9999, "Gone"
	// The host logged Alice's session in, and session 12 in as an account
	// deleted since.
	if err := x.st.ApplySessionLogins(context.Background(),
		store.SaveSessionLogin(store.SessionLogin{Sessid: 10, Plugin: "telnet", UID: acc.ID, PUID: acc.CharacterID}),
		store.SaveSessionLogin(store.SessionLogin{Sessid: 12, Plugin: "telnet", UID: 9999})); err != nil {
		t.Fatal(err)
	}
	x.h.PortalSessionsSync("telnet", []contract.SessionData{alice, guest, gone})
	x.settle()

	if x.h.Count() != 3 {
		t.Fatalf("Count = %d, want 3", x.h.Count())
	}
	s := x.h.SessionFromSessid(10)
	if !s.LoggedIn || s.Account == nil || s.Account.Name != "Alice" || s.Puppet == nil || s.Puppet.ID != acc.CharacterID {
		t.Errorf("session 10 = account %v puppet %v; want Alice restored with her character", s.Account, s.Puppet)
	}
	if s.CmdsetStorageString != CmdsetAccount {
		t.Errorf("session 10 cmdset = %q, want %q", s.CmdsetStorageString, CmdsetAccount)
	}
	if g := x.h.SessionFromSessid(11); g.LoggedIn || g.CmdsetStorageString != CmdsetUnloggedIn {
		t.Errorf("session 11 = logged in %v cmdset %q", g.LoggedIn, g.CmdsetStorageString)
	}
	if g := x.h.SessionFromSessid(12); g.LoggedIn || g.UID != 0 || g.Account != nil {
		t.Errorf("session 12 of a deleted account stayed logged in: %v %d", g.LoggedIn, g.UID)
	}

	evs := x.p.Events()
	if len(logins(evs)) != 0 {
		t.Errorf("a restored session ran login: %s", describe(t, evs))
	}
	// Only the session whose login could not be restored is shown the
	// connection screen.
	if got := x.cmds.Lines(); !slices.Equal(got, []cmdLine{{Sessid: 12, Line: "look"}}) {
		t.Errorf("commands after the restore = %v, want only session 12's look", got)
	}
	if _, ok := x.savedLogins("telnet")[12]; ok {
		t.Error("the row of session 12, logged out, was kept")
	}
	outs := dataOuts(t, evs)
	if len(outs) != 1 {
		t.Fatalf("restart announcement = %d events, want one for the plugin: %s", len(outs), describe(t, evs))
	}
	if !slices.Equal(outs[0].Sessids, []uint64{10, 11, 12}) || outs[0].Msgs[0].Args[0] != MsgServerRestarted {
		t.Errorf("announcement = %+v, want %q to 10, 11, 12", outs[0], MsgServerRestarted)
	}

	// Existing entries are kept; a second sync loads into them.
	guest.Address = "198.51.100.1:1"
	x.h.PortalSessionsSync("telnet", []contract.SessionData{guest})
	if x.h.Count() != 3 || x.h.SessionFromSessid(11).Address != "198.51.100.1:1" {
		t.Errorf("second sync: count %d address %q", x.h.Count(), x.h.SessionFromSessid(11).Address)
	}
}

func TestPortalDisconnect(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.connect("telnet", 2)
	x.h.PortalDisconnect("ssh", 1, "lost")
	if x.h.SessionFromSessid(1) == nil {
		t.Fatal("another plugin disconnected session 1")
	}
	x.h.PortalDisconnect("telnet", 1, "connection lost")
	if x.h.SessionFromSessid(1) != nil || x.h.Count() != 1 {
		t.Errorf("session 1 still there after PortalDisconnect (count %d)", x.h.Count())
	}
	x.h.PortalDisconnect("telnet", 1, "again") // unknown now: no-op
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("PortalDisconnect told the plugin, which already knows: %s", describe(t, evs))
	}
}

func TestPortalDisconnectAll(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.connect("websocket", 2)
	x.connect("telnet", 3)
	x.connect("ssh", 4)
	x.h.PortalDisconnectAll("telnet", "plugin crashed")
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{2, 4}) {
		t.Errorf("sessions left = %v, want [2 4]", got)
	}
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("PortalDisconnectAll sent events: %s", describe(t, evs))
	}
}

// TestPortalSessionsGone: a plugin's whole list ends the sessions the host
// still holds for it that are not in it, without telling the plugin (it
// no longer has them), and leaves other plugins' sessions alone.
func TestPortalSessionsGone(t *testing.T) {
	x := newHarness(t)
	x.connect("edge", 1)
	x.connect("edge", 2)
	x.connect("telnet", 3)
	x.p.Events() // the connections' own events
	x.h.PortalSessionsGone("edge", []contract.SessionData{sessData(1, "edge")})
	if x.h.SessionFromSessid(1) == nil || x.h.SessionFromSessid(3) == nil {
		t.Fatal("a listed session, or another plugin's, was ended")
	}
	if x.h.SessionFromSessid(2) != nil {
		t.Fatal("a session the plugin no longer lists was kept")
	}
	if ds := disconnects(x.p.Events()); len(ds) != 0 {
		t.Errorf("the plugin was told to disconnect sessions it no longer has: %v", ds)
	}
}
