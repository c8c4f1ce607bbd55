package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// ---- portal side ----

func TestPortalConnectCreatesUnloggedInSession(t *testing.T) {
	x := newHarness(t)
	d := sessData(1, "telnet")
	d.ProtocolFlags, d.ServerData = nil, nil
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
	if s.ProtocolFlags == nil || s.ServerData == nil || s.NDB == nil {
		t.Error("maps of a new session must not be nil")
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
	d.ProtocolFlags = map[string]any{contract.FlagScreenWidth: 120, "TTYPE": "Mudlet"}
	d.Address = "ignored:1"
	x.h.PortalSessionSync("telnet", d, []string{contract.FieldProtocolFlags})
	s := x.h.SessionFromSessid(1)
	if s.ScreenWidth() != 120 || s.ProtocolFlags["TTYPE"] != "Mudlet" {
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

func TestStartBotSession(t *testing.T) {
	x := newHarness(t)
	x.p.botID = 77
	cfg := map[string]any{"network": "irc.example.org", "channel": "#game"}
	id, err := x.h.StartBotSession(context.Background(), "irc", cfg)
	if err != nil || id != 77 {
		t.Fatalf("StartBotSession = %d, %v; want 77", id, err)
	}
	if len(x.p.bots) != 1 || x.p.bots[0].Protocol != "irc" || x.p.bots[0].Config["channel"] != "#game" {
		t.Errorf("StartBot calls = %+v", x.p.bots)
	}

	x.p.botErr = errFake
	if _, err := x.h.StartBotSession(context.Background(), "irc", cfg); !errors.Is(err, errFake) {
		t.Errorf("error = %v, want it to wrap the plugin's", err)
	}

	x.h.SetPortals(nil)
	if _, err := x.h.StartBotSession(context.Background(), "irc", cfg); err == nil {
		t.Error("StartBotSession without plugins did not fail")
	}
}

func TestPortalRestartResetShutdown(t *testing.T) {
	x := newHarness(t)
	if err := x.h.PortalRestartServer("new code"); err != nil {
		t.Fatal(err)
	}
	if err := x.h.PortalResetServer("cold"); err != nil {
		t.Fatal(err)
	}
	if err := x.h.PortalShutdown("bye"); err != nil {
		t.Fatal(err)
	}
	want := []string{"reload:new code", "reset:cold", "shutdown:bye"}
	if got := x.life.Calls(); !slices.Equal(got, want) {
		t.Errorf("lifecycle calls = %q, want %q", got, want)
	}

	x.life.err = errFake
	for name, f := range map[string]func(string) error{
		"PortalRestartServer": x.h.PortalRestartServer, "PortalResetServer": x.h.PortalResetServer,
		"PortalShutdown": x.h.PortalShutdown,
	} {
		if err := f("r"); !errors.Is(err, errFake) {
			t.Errorf("%s error = %v, want the host's", name, err)
		}
	}

	x.h.SetLifecycle(nil)
	for name, f := range map[string]func(string) error{
		"PortalRestartServer": x.h.PortalRestartServer, "PortalResetServer": x.h.PortalResetServer,
		"PortalShutdown": x.h.PortalShutdown,
	} {
		if err := f("r"); err == nil {
			t.Errorf("%s without a lifecycle did not fail", name)
		}
	}
}

// ---- server side ----

func TestLogin(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	s := x.connect("telnet", 1)
	x.h.Login(s, acc, false)
	x.settle()

	if !s.LoggedIn || s.UID != acc.ID || s.UName != "Alice" || s.CmdsetStorageString != CmdsetAccount {
		t.Errorf("after Login: logged in %v uid %d uname %q cmdset %q", s.LoggedIn, s.UID, s.UName, s.CmdsetStorageString)
	}
	if s.Puppet == nil || s.Puppet.Name != "Alice" || s.PUID != acc.CharacterID {
		t.Errorf("puppet = %v, want Alice's character", s.Puppet)
	}
	evs := x.p.Events()
	if len(evs) == 0 || evs[0].login() == nil || evs[0].Plugin != "telnet" {
		t.Fatalf("first event is not the login to telnet: %s", describe(t, evs))
	}
	l := evs[0].login()
	if l.Sessid != 1 || l.UID != acc.ID || l.UName != "Alice" || l.PUID != acc.CharacterID {
		t.Errorf("login = %v", l)
	}
	if got := msgsFor(t, evs, 1, "logged_in"); len(got) != 1 {
		t.Errorf("logged_in OOB messages = %d, want 1", len(got))
	}
	if got := textsFor(t, evs, 1); !slices.Equal(got, []string{"\nYou become Alice.\n"}) {
		t.Errorf("texts = %q", got)
	}
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look", "look"}) {
		t.Errorf("commands = %q, want the connection screen then look after login", got)
	}
}

func TestLoginMultisessionMode0DisconnectsOlderSession(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	bob := x.account("Bob")
	x.login("telnet", 1, acc)
	x.login("telnet", 2, bob)
	x.connect("websocket", 3)
	x.p.Reset()

	s3 := x.h.SessionFromSessid(3)
	x.h.Login(s3, acc, false)
	x.settle()

	if x.h.SessionFromSessid(1) != nil {
		t.Error("older session of the account still connected in mode 0")
	}
	if x.h.SessionFromSessid(2) == nil || x.h.SessionFromSessid(3) == nil {
		t.Error("mode 0 disconnected a session it should not have")
	}
	evs := x.p.Events()
	ds := disconnects(evs)
	if len(ds) != 1 {
		t.Fatalf("disconnects = %d, want 1: %s", len(ds), describe(t, evs))
	}
	if d := ds[0]; d.Plugin != "telnet" || d.disconnect().Sessid != 1 || d.disconnect().Reason != ReasonDuplicate {
		t.Errorf("disconnect = %s %v, want session 1 with %q", d.Plugin, d.Event, ReasonDuplicate)
	}
	if ReasonDuplicate != "Logged in from elsewhere. Disconnecting." {
		t.Errorf("ReasonDuplicate = %q", ReasonDuplicate)
	}
	if ls := logins(evs); len(ls) != 1 || ls[0].Sessid != 3 {
		t.Errorf("logins = %v, want session 3", ls)
	}
	if x.h.AccountCount() != 2 {
		t.Errorf("AccountCount = %d, want 2", x.h.AccountCount())
	}
}

func TestLoginMultisessionMode1KeepsBoth(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	acc := x.account("Alice")
	x.login("telnet", 1, acc)
	x.login("websocket", 2, acc)
	if got := sessids(x.h.SessionsFromAccount(acc.ID)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("Alice's sessions = %v, want both", got)
	}
	if ds := disconnects(x.p.Events()); len(ds) != 0 {
		t.Errorf("mode 1 disconnected: %s", describe(t, ds))
	}
	if x.h.AccountCount() != 1 {
		t.Errorf("AccountCount = %d, want 1", x.h.AccountCount())
	}
}

func TestDisconnect(t *testing.T) {
	x := newHarness(t)
	s1 := x.connect("telnet", 1)
	s2 := x.connect("ssh", 2)
	x.h.Disconnect(s1, "Kicked.", true)
	x.h.Disconnect(s2, "gone", false)
	x.h.Disconnect(s1, "again", true) // already gone: nothing
	if x.h.Count() != 0 {
		t.Errorf("Count = %d after disconnecting both", x.h.Count())
	}
	evs := x.p.Events()
	ds := disconnects(evs)
	if len(ds) != 1 || ds[0].Plugin != "telnet" || ds[0].disconnect().Sessid != 1 || ds[0].disconnect().Reason != "Kicked." {
		t.Errorf("disconnect events = %s; want one to telnet for session 1 with the reason", describe(t, evs))
	}
	// Nothing reaches a session that is gone.
	s1.Msg("anyone?")
	x.h.SessionPortalSync(s1)
	if n := len(x.p.Events()); n != len(evs) {
		t.Errorf("a disconnected session was sent %d more events", n-len(evs))
	}
}

func TestAllSessionsPortalSync(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.login("telnet", 1, acc)
	x.connect("websocket", 2)
	x.connect("telnet", 3)
	x.p.Reset()
	x.h.AllSessionsPortalSync()

	evs := x.p.Events()
	if len(evs) != 2 {
		t.Fatalf("events = %d, want one SyncAll per plugin: %s", len(evs), describe(t, evs))
	}
	got := map[string][]uint64{}
	for _, e := range evs {
		sa := e.syncAll()
		if sa == nil || !sa.Clean {
			t.Fatalf("event to %s is not a clean SyncAll: %v", e.Plugin, e.Event)
		}
		for _, pd := range sa.Sessions {
			d := pd
			got[e.Plugin] = append(got[e.Plugin], d.Sessid)
			if d.Sessid == 1 && (!d.LoggedIn || d.UID != acc.ID || d.UName != "Alice" || d.CmdsetStorageString != CmdsetAccount) {
				t.Errorf("session 1 synced as %+v", d)
			}
		}
	}
	if !slices.Equal(got["telnet"], []uint64{1, 3}) || !slices.Equal(got["websocket"], []uint64{2}) {
		t.Errorf("synced = %v", got)
	}
}

func TestSessionPortalSyncAndPartialSync(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 4)
	s.ProtocolFlags["NOCOLOR"] = true
	x.h.SessionPortalSync(s)
	x.h.SessionPortalPartialSync(s, contract.FieldProtocolFlags, contract.FieldServerData)

	evs := syncs(x.p.Events())
	if len(evs) != 2 {
		t.Fatalf("sync events = %d, want 2", len(evs))
	}
	whole, partial := evs[0].sync(), evs[1].sync()
	if evs[0].Plugin != "websocket" || len(whole.Fields) != 0 {
		t.Errorf("whole sync = %s %v, want all fields to websocket", evs[0].Plugin, whole)
	}
	if !slices.Equal(partial.Fields, []string{"protocol_flags", "server_data"}) {
		t.Errorf("partial sync fields = %q", partial.Fields)
	}
	d := whole.Session
	if d.Sessid != 4 || d.FlagBool("NOCOLOR") != true || d.CmdsetStorageString != CmdsetUnloggedIn {
		t.Errorf("synced data = %+v", d)
	}
}

func TestDisconnectAllSessions(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"", "You have been disconnected."},
		{"Server shutting down.", "Server shutting down."},
	} {
		x := newHarness(t)
		x.connect("telnet", 1)
		x.connect("telnet", 2)
		x.connect("ssh", 3)
		x.h.DisconnectAllSessions(tc.reason)
		if x.h.Count() != 0 {
			t.Errorf("Count = %d after DisconnectAllSessions", x.h.Count())
		}
		evs := x.p.Events()
		got := map[string]string{}
		for _, e := range evs {
			da := e.disconnectAll()
			if da == nil {
				t.Errorf("unexpected event %v", e.Event)
				continue
			}
			if _, dup := got[e.Plugin]; dup {
				t.Errorf("plugin %s told twice", e.Plugin)
			}
			got[e.Plugin] = da.Reason
		}
		want := map[string]string{"telnet": tc.want, "ssh": tc.want}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("DisconnectAll events = %v, want %v", got, want)
		}
	}
}

func TestDisconnectDuplicateSessions(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice := x.account("Alice")
	bob := x.account("Bob")
	s1 := x.login("telnet", 1, alice)
	x.login("ssh", 2, alice)
	x.login("telnet", 3, alice)
	x.login("telnet", 4, bob)
	x.connect("telnet", 5)
	x.p.Reset()

	x.h.DisconnectDuplicateSessions(s1, "")
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{1, 4, 5}) {
		t.Errorf("sessions left = %v, want [1 4 5]", got)
	}
	ds := disconnects(x.p.Events())
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s/%d/%s", d.Plugin, d.disconnect().Sessid, d.disconnect().Reason))
	}
	want := []string{"ssh/2/" + ReasonDuplicate, "telnet/3/" + ReasonDuplicate}
	if !slices.Equal(got, want) {
		t.Errorf("disconnects = %q, want %q", got, want)
	}
}

func TestValidateSessions(t *testing.T) {
	x := newHarness(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	x.h.now = func() time.Time { return now }
	idle := x.connect("telnet", 1)
	active := x.connect("telnet", 2)
	bot := x.connect("irc", 3)
	idle.CmdLast = now.Add(-2 * time.Hour)
	active.CmdLast = now.Add(-time.Minute)
	bot.CmdLast = now.Add(-48 * time.Hour)
	bot.ServerData["bot"] = true

	x.h.ValidateSessions() // idle timeout off: nobody goes
	if x.h.Count() != 3 {
		t.Fatalf("idle timeout 0 dropped sessions: %v", sessids(x.h.Sessions()))
	}

	x.h.SetSettings(Settings{ServerName: "T", IdleTimeout: time.Hour})
	x.h.ValidateSessions()
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{2, 3}) {
		t.Errorf("sessions left = %v, want [2 3] (the bot is exempt)", got)
	}
	ds := disconnects(x.p.Events())
	if len(ds) != 1 || ds[0].disconnect().Sessid != 1 || ds[0].disconnect().Reason != "idle timeout exceeded" {
		t.Errorf("disconnects = %s", describe(t, ds))
	}
}

func TestAccountCountAndAllConnectedAccounts(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	if x.h.AccountCount() != 0 || len(x.h.AllConnectedAccounts()) != 0 {
		t.Fatal("accounts counted with no sessions")
	}
	bob := x.account("Bob")
	alice := x.account("Alice")
	x.login("telnet", 1, bob)
	x.login("telnet", 2, alice)
	x.login("ssh", 3, bob)
	x.connect("telnet", 4)
	if n := x.h.AccountCount(); n != 2 {
		t.Errorf("AccountCount = %d, want 2", n)
	}
	var names []string
	for _, a := range x.h.AllConnectedAccounts() {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"Alice", "Bob"}) {
		t.Errorf("AllConnectedAccounts = %q, want [Alice Bob]", names)
	}
}

func TestLookups(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice := x.account("Alice")
	bob := x.account("Bob")
	s1 := x.login("telnet", 1, alice)
	x.login("websocket", 2, bob)
	s3 := x.login("ssh", 3, alice)
	s4 := x.connect("websocket", 4)
	x.h.SessionFromSessid(2).Csessid = "browser-a"
	s4.Csessid = "browser-a"

	if x.h.SessionFromSessid(3) != s3 || x.h.SessionFromSessid(99) != nil {
		t.Error("SessionFromSessid")
	}
	if x.h.SessionFromAccount(alice.ID, 1) != s1 || x.h.SessionFromAccount(bob.ID, 1) != nil ||
		x.h.SessionFromAccount(0, 4) != nil {
		t.Error("SessionFromAccount must match account and session, and only logged-in sessions")
	}
	if got := sessids(x.h.SessionsFromAccount(alice.ID)); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("SessionsFromAccount(Alice) = %v, want [1 3]", got)
	}
	if got := x.h.SessionsFromAccount(0); len(got) != 0 {
		t.Errorf("SessionsFromAccount(0) = %v, want none (unlogged-in sessions belong to no account)", sessids(got))
	}
	if got := sessids(x.h.SessionsFromPuppet(alice.CharacterID)); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("SessionsFromPuppet(Alice's character) = %v, want [1 3]", got)
	}
	if got := x.h.SessionsFromPuppet(0); len(got) != 0 {
		t.Errorf("SessionsFromPuppet(0) = %v, want none", sessids(got))
	}
	if got := sessids(x.h.SessionsFromCsessid("browser-a")); !slices.Equal(got, []uint64{2, 4}) {
		t.Errorf("SessionsFromCsessid = %v, want [2 4]", got)
	}
	if got := x.h.SessionsFromCsessid(""); len(got) != 0 {
		t.Errorf("SessionsFromCsessid(\"\") = %v, want none", sessids(got))
	}
}

// ---- output ----

func TestAnnounceAllOneEventPerPlugin(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.connect("websocket", 2)
	x.connect("telnet", 3)
	x.p.Reset()
	x.h.AnnounceAll("Server restart initiated.")

	outs := dataOuts(t, x.p.Events())
	if len(outs) != 2 {
		t.Fatalf("DataOut events = %d, want one per plugin", len(outs))
	}
	got := map[string][]uint64{}
	for _, o := range outs {
		got[o.Plugin] = o.Sessids
		if len(o.Msgs) != 1 || o.Msgs[0].Name != "text" || o.Msgs[0].Args[0] != "Server restart initiated." {
			t.Errorf("messages to %s = %+v", o.Plugin, o.Msgs)
		}
	}
	if !slices.Equal(got["telnet"], []uint64{1, 3}) || !slices.Equal(got["websocket"], []uint64{2}) {
		t.Errorf("recipients = %v, want telnet [1 3] and websocket [2]", got)
	}
}

func TestBroadcast(t *testing.T) {
	x := newHarness(t)
	s1 := x.connect("telnet", 1)
	s2 := x.connect("telnet", 2)
	s3 := x.connect("ssh", 3)
	x.connect("telnet", 4)
	x.h.Disconnect(s2, "", false)
	x.p.Reset()
	x.h.Broadcast([]*ServerSession{s3, s1, s2}, contract.Text("hi"), contract.Prompt("> "))

	outs := dataOuts(t, x.p.Events())
	if len(outs) != 2 {
		t.Fatalf("events = %+v, want two", outs)
	}
	if outs[0].Plugin != "ssh" || !slices.Equal(outs[0].Sessids, []uint64{3}) ||
		outs[1].Plugin != "telnet" || !slices.Equal(outs[1].Sessids, []uint64{1}) {
		t.Errorf("recipients = %+v; want ssh [3] then telnet [1] (gone and untargeted sessions left out)", outs)
	}
	if m := outs[1].Msgs; len(m) != 2 || m[0].Name != "text" || m[1].Name != "prompt" {
		t.Errorf("messages = %+v", m)
	}

	x.p.Reset()
	x.h.Broadcast(nil, contract.Text("nobody"))
	if len(x.p.Events()) != 0 {
		t.Error("a broadcast to nobody sent something")
	}
}

func TestDataOutAndCleanSendData(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.h.DataOut(s, map[string]any{
		"prompt":  "> ",
		"text":    "Hello",
		"options": map[string]any{"raw": true},
	})
	outs := dataOuts(t, x.p.Events())
	if len(outs) != 1 || !slices.Equal(outs[0].Sessids, []uint64{1}) {
		t.Fatalf("DataOut events = %+v, want one to session 1", outs)
	}
	m := outs[0].Msgs
	if len(m) != 2 || m[0].Name != "text" || m[0].Args[0] != "Hello" || m[1].Name != "prompt" || m[1].Args[0] != "> " {
		t.Fatalf("messages = %+v, want text then prompt", m)
	}
	for _, msg := range m {
		if opts := msg.Options(); opts["raw"] != true {
			t.Errorf("%s options = %v, want raw", msg.Name, opts)
		}
	}

	// A falsy text is dropped; bytes decode with the session's encoding.
	s.ProtocolFlags[contract.FlagEncoding] = "latin-1"
	got := x.h.CleanSendData(s, map[string]any{"text": "", "custom": []byte{'c', 0xe9}})
	if len(got) != 1 || got[0].Name != "custom" || got[0].Args[0] != "cé" {
		t.Errorf("CleanSendData = %+v, want only custom(\"cé\")", got)
	}
	if got := x.h.CleanSendData(s, map[string]any{"text": ""}); len(got) != 0 {
		t.Errorf("CleanSendData of an empty text = %+v, want nothing", got)
	}

	x.p.Reset()
	s.DataOut(map[string]any{"text": ""})
	if len(x.p.Events()) != 0 {
		t.Error("DataOut with nothing to send sent an event")
	}
}

func TestSendMessages(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 9)
	x.h.SendMessages(s)
	x.h.SendMessages(s, contract.Message{Name: "custom", Args: []any{int64(1), "two"}, Kwargs: map[string]any{"k": "v"}})
	s.Send(contract.Text("a"))
	s.Msg("b")
	evs := x.p.Events()
	if len(evs) != 3 {
		t.Fatalf("events = %d, want 3: %s", len(evs), describe(t, evs))
	}
	c := msgsFor(t, evs, 9, "custom")
	if len(c) != 1 || c[0].Args[0] != int64(1) || c[0].Args[1] != "two" || c[0].Kwargs["k"] != "v" {
		t.Errorf("custom = %+v", c)
	}
	if got := textsFor(t, evs, 9); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("texts = %q", got)
	}
	x.h.Disconnect(s, "", false)
	x.h.SendMessages(s, contract.Text("late"))
	if len(x.p.Events()) != 3 {
		t.Error("SendMessages reached a disconnected session")
	}
}

// ---- input ----

func TestDataInIgnoresOtherPlugins(t *testing.T) {
	x := newHarness(t)
	x.connect("telnet", 1)
	x.h.DataIn("ssh", 1, []contract.Message{contract.Text("from ssh")})
	x.h.DataIn("telnet", 2, []contract.Message{contract.Text("no session")})
	x.h.DataIn("telnet", 1, []contract.Message{contract.Text("from telnet")})
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look", "from telnet"}) {
		t.Errorf("commands = %q, want only telnet's input", got)
	}
}

func TestGetInputfuncsAndRegister(t *testing.T) {
	x := newHarness(t)
	fs := x.h.GetInputfuncs()
	for _, name := range []string{"text", "bot_data_in", "echo", "default", "client_options", "hello",
		"supports_set", "get_client_options", "get_inputfuncs", "login", "get_value", "repeat", "unrepeat",
		"webclient_options", "external_discord_hello", "client_gui"} {
		if f, ok := fs[name]; !ok || f.Func == nil || f.Doc == "" {
			t.Errorf("inputfunc %q missing or undocumented", name)
		}
	}
	var got []string
	x.h.RegisterInputfunc("  Echo ", Inputfunc{Doc: "mine", Func: func(_ *ServerSessionHandler, _ *ServerSession, args []any, _ map[string]any) {
		got = append(got, fmt.Sprint(args...))
	}})
	if x.h.GetInputfuncs()["echo"].Doc != "mine" {
		t.Error("RegisterInputfunc did not replace echo under its normalised name")
	}
	s := x.connect("telnet", 1)
	x.h.CallInputfuncs(s, []contract.Message{{Name: "ECHO", Args: []any{"x"}}})
	if !slices.Equal(got, []string{"x"}) {
		t.Errorf("replaced echo got %q", got)
	}
}

func TestCallInputfuncs(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	type call struct {
		Args   []any
		Kwargs map[string]any
	}
	var calls []call
	x.h.RegisterInputfunc("probe", Inputfunc{Doc: "test", Func: func(_ *ServerSessionHandler, _ *ServerSession, args []any, kw map[string]any) {
		calls = append(calls, call{args, kw})
	}})
	x.h.RegisterInputfunc("boom", Inputfunc{Doc: "test", Func: func(*ServerSessionHandler, *ServerSession, []any, map[string]any) {
		panic("kaboom")
	}})

	opts := map[string]any{"options": map[string]any{"x": 1}, "keep": "me"}
	x.h.CallInputfuncs(s, []contract.Message{
		{Name: " Probe\t", Args: []any{"a"}, Kwargs: opts},
		{Name: "boom"},
		{Name: "nosuch", Args: []any{"z"}},
		{Name: "probe"},
	})
	if len(calls) != 2 {
		t.Fatalf("probe calls = %d, want 2 (a panic must not stop the batch)", len(calls))
	}
	if calls[0].Args[0] != "a" || calls[0].Kwargs["keep"] != "me" {
		t.Errorf("probe got %+v", calls[0])
	}
	if _, ok := calls[0].Kwargs["options"]; ok {
		t.Error("options were not popped")
	}
	if _, ok := opts["options"]; !ok {
		t.Error("popping options changed the caller's map")
	}
	if evs := x.p.Events(); len(evs) != 0 {
		t.Errorf("without INPUTDEBUG the client is told nothing: %s", describe(t, evs))
	}

	// With INPUTDEBUG the client hears about unknown inputs and failures.
	s.ProtocolFlags[contract.FlagInputDebug] = true
	x.h.CallInputfuncs(s, []contract.Message{{Name: "NoSuch"}, {Name: "boom"}})
	got := textsFor(t, x.p.Events(), 1)
	want := []string{"Session 1: Input command not recognized:\n nosuch", "Inputfunc boom failed: kaboom"}
	if !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}

// ---- the loop ----

func TestRunDoCallInOrder(t *testing.T) {
	x := newHarness(t)
	x.start()
	var order []int
	for i := range 100 {
		x.h.Do(func() { order = append(order, i) })
	}
	var got []int
	x.call(func() { got = slices.Clone(order) })
	if len(got) != 100 || !slices.IsSorted(got) {
		t.Errorf("Do ran %d jobs out of order: %v", len(got), got)
	}
}

func TestCallWithoutLoopEndsWithContext(t *testing.T) {
	x := newHarness(t) // no Run
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := x.h.Call(ctx, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Call = %v, want context.Canceled", err)
	}
}

func TestRunWaitsForAsyncWork(t *testing.T) {
	x := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.h.Run(ctx) }()

	gate := make(chan struct{})
	var thenRan bool
	ctxCall, cancelCall := context.WithTimeout(context.Background(), waitLimit)
	defer cancelCall()
	if err := x.h.Call(ctxCall, func() {
		s := x.connect("telnet", 1)
		x.h.Async(s, func() func() {
			<-gate
			return func() { thenRan = true }
		})
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while async work was still running")
	default:
	}
	close(gate)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the async work finished")
	}
	if !thenRan { // Run has returned: reading is safe
		t.Error("Run returned before the async continuation ran")
	}
}

// slowInputfunc registers "slow": each call runs off the loop until a token
// arrives on release, then says "slow done <arg>".
func slowInputfunc(x *harness, release <-chan string) {
	x.h.RegisterInputfunc("slow", Inputfunc{Doc: "test", Func: func(h *ServerSessionHandler, s *ServerSession, args []any, _ map[string]any) {
		arg := fmt.Sprint(args...)
		h.Async(s, func() func() {
			<-release
			return func() { s.Msg("slow done " + arg) }
		})
	}})
}

func echoMsg(text string) contract.Message { return contract.Message{Name: "echo", Args: []any{text}} }

func TestAsyncHoldsLaterInputInOrder(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}, echoMsg("a")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("b")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("c"), echoMsg("d")})
	})
	var busy bool
	var held int
	x.call(func() {
		s := x.h.SessionFromSessid(1)
		busy, held = s.busy > 0, len(s.held)
	})
	if !busy || held != 3 {
		t.Errorf("while async: busy %v, %d batches held; want busy and 3", busy, held)
	}
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Fatalf("input ran while the session was busy: %q", got)
	}
	release <- "go"
	evs := x.p.waitText(t, 1, "Echo returns: ('d',), {}")
	want := []string{"slow done 1", "Echo returns: ('a',), {}", "Echo returns: ('b',), {}",
		"Echo returns: ('c',), {}", "Echo returns: ('d',), {}"}
	if got := textsFor(t, evs, 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
	x.call(func() {
		s := x.h.SessionFromSessid(1)
		busy, held = s.busy > 0, len(s.held)
	})
	if busy || held != 0 {
		t.Errorf("after async: busy %v, %d held", busy, held)
	}
}

// A held batch that itself starts async work must keep the rest of its
// messages ahead of input that arrived after it.
func TestAsyncHeldBatchKeepsOrder(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}})
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"2"}}, echoMsg("x")})
		x.h.DataIn("telnet", 1, []contract.Message{echoMsg("y")})
	})
	release <- "first"
	x.p.waitText(t, 1, "slow done 1")
	release <- "second"
	evs := x.p.waitFor(t, "both echoes", func(evs []sentEvent) bool { return len(textsFor(t, evs, 1)) == 4 })
	want := []string{"slow done 1", "slow done 2", "Echo returns: ('x',), {}", "Echo returns: ('y',), {}"}
	if got := textsFor(t, evs, 1); !slices.Equal(got, want) {
		t.Errorf("texts = %q, want %q", got, want)
	}
}

func TestAsyncContinuationForDisconnectedSession(t *testing.T) {
	x := newHarness(t)
	release := make(chan string)
	slowInputfunc(x, release)
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.h.DataIn("telnet", 1, []contract.Message{{Name: "slow", Args: []any{"1"}}})
		x.h.DataIn("telnet", 1, []contract.Message{contract.Text("held")})
		x.h.PortalDisconnect("telnet", 1, "gone")
	})
	release <- "go"
	// Once the async goroutine is done its continuation is queued, so the
	// next Call runs after it.
	x.h.WaitAsync()
	x.call(func() {})
	if got := x.cmds.LinesOf(1); !slices.Equal(got, []string{"look"}) {
		t.Errorf("held input of a disconnected session ran: %q", got)
	}
	if got := textsFor(t, x.p.Events(), 1); len(got) != 0 {
		t.Errorf("a disconnected session was sent %q", got)
	}
}

func TestLoginWithPassword(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.start()
	x.call(func() {
		x.connect("telnet", 1)
		x.connect("telnet", 2)
		x.connect("telnet", 3)
		x.h.LoginWithPassword(x.h.SessionFromSessid(1), "Alice", "wrong")
		x.h.LoginWithPassword(x.h.SessionFromSessid(2), "Nobody", "secret")
		x.h.LoginWithPassword(x.h.SessionFromSessid(3), "  alice ", "secret")
	})
	x.p.waitText(t, 1, MsgBadLogin)
	x.p.waitText(t, 2, MsgBadLogin)
	evs := x.p.waitFor(t, "login of session 3", func(evs []sentEvent) bool { return len(logins(evs)) == 1 })
	if l := logins(evs)[0]; l.Sessid != 3 || l.UID != acc.ID || l.UName != "Alice" {
		t.Errorf("login = %v", l)
	}
	if MsgBadLogin != "Username and/or password is incorrect." {
		t.Errorf("MsgBadLogin = %q", MsgBadLogin)
	}
	var logged1, logged3 bool
	x.call(func() {
		logged1 = x.h.SessionFromSessid(1).LoggedIn
		logged3 = x.h.SessionFromSessid(3).LoggedIn
	})
	if logged1 || !logged3 {
		t.Errorf("logged in: session 1 %v, session 3 %v", logged1, logged3)
	}
}

func TestLoginWithPasswordSessionGoneMeanwhile(t *testing.T) {
	x := newHarness(t)
	x.account("Alice")
	x.start()
	// Keep every worker of the hashing pool busy so that the check waits
	// in the queue until the session is gone.
	gate := make(chan struct{})
	x.call(func() {
		for i := range hashWorkers {
			x.h.Async(x.connect("telnet", uint64(100+i)), func() func() { <-gate; return nil })
		}
		x.connect("telnet", 1)
		x.h.LoginWithPassword(x.h.SessionFromSessid(1), "Alice", "secret")
		x.h.PortalDisconnect("telnet", 1, "gone")
	})
	hashes := x.st.PasswordHashes()
	close(gate)
	x.h.WaitAsync()
	x.call(func() {})
	evs := x.p.Events()
	if got := textsFor(t, evs, 1); len(logins(evs)) != 0 || !slices.Equal(got, []string{MsgHashQueued}) {
		t.Errorf("a session gone while its password check waited was answered (texts %q): %s", got, describe(t, evs))
	}
	if n := x.st.PasswordHashes() - hashes; n != 0 {
		t.Errorf("the check of a session gone before its turn was run anyway (%d hashes)", n)
	}
	var count int
	x.call(func() { count = x.h.Count() })
	if count != 2 {
		t.Errorf("Count = %d, want the 2 sessions holding the workers", count)
	}
}

// TestConcurrentLoop posts connects, input and disconnects from many
// goroutines while Run runs; -race checks that nothing is shared unsafely.
func TestConcurrentLoop(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	x.start()

	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plugin := fmt.Sprintf("plugin%d", w%3)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			for i := range perWorker {
				id := uint64(w*perWorker + i + 1)
				d := sessData(id, plugin)
				login := i%5 == 0
				x.h.Do(func() {
					x.h.PortalConnect(plugin, d)
					if login {
						x.h.Login(x.h.SessionFromSessid(id), acc, false)
					}
				})
				x.h.Do(func() { x.h.DataIn(plugin, id, []contract.Message{contract.Text("hello"), echoMsg("e")}) })
				// Input waits until a login is saved: a session that left
				// meanwhile would lose it, so logged-in ones stay.
				if i%2 == 1 && !login {
					x.h.Do(func() { x.h.PortalDisconnect(plugin, id, "bye") })
				}
				var n int
				if err := x.h.Call(ctx, func() { n = x.h.Count() }); err != nil {
					t.Error(err)
					return
				}
				if n > workers*perWorker {
					t.Errorf("Count = %d, more than were connected", n)
					return
				}
			}
		}()
	}
	wg.Wait()
	x.h.WaitAsync()

	var count, accounts int
	var announced []uint64
	x.call(func() {
		count, accounts = x.h.Count(), x.h.AccountCount()
		for _, s := range x.h.Sessions() {
			announced = append(announced, s.Sessid)
		}
		x.h.AnnounceAll("done")
	})
	wantCount := 0
	for i := range perWorker {
		if i%2 == 0 || i%5 == 0 {
			wantCount += workers
		}
	}
	if count != wantCount || accounts != 1 {
		t.Errorf("Count %d AccountCount %d, want %d and 1", count, accounts, wantCount)
	}
	var hellos int
	for _, l := range x.cmds.Lines() {
		if l.Line == "hello" {
			hellos++
		}
	}
	if hellos != workers*perWorker {
		t.Errorf("text inputs run = %d, want %d", hellos, workers*perWorker)
	}
	x.p.waitFor(t, "the announcement to every session", func(evs []sentEvent) bool {
		n := 0
		for _, d := range dataOuts(t, evs) {
			if m := d.Msgs[0]; len(m.Args) == 1 && m.Args[0] == "done" {
				n += len(d.Sessids)
			}
		}
		return n == len(announced)
	})
}

func TestAccessors(t *testing.T) {
	x := newHarness(t)
	if x.h.Store() != x.st || x.h.Log() == nil {
		t.Error("Store or Log")
	}
	if x.h.Settings() != testSettings {
		t.Errorf("Settings = %+v", x.h.Settings())
	}
	other := &fakeCommands{}
	x.h.SetCommands(other)
	s := x.connect("telnet", 1)
	if len(other.LinesOf(1)) != 1 || len(x.cmds.Lines()) != 0 {
		t.Error("SetCommands did not replace the command handler")
	}
	if s.IsAdmin() {
		t.Error("an unlogged-in session is admin")
	}
	root, err := x.st.CreateAccount(context.Background(), "Root", "secret", true)
	if err != nil {
		t.Fatal(err)
	}
	x.h.Login(s, root, false)
	x.settle()
	if !s.IsAdmin() {
		t.Error("an admin account's session is not admin")
	}
}
