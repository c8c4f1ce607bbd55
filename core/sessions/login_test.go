package sessions

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

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

// TestLoginOneShotKeepsOtherSessions: in mode 0 a session its plugin marks
// one-shot (`ssh host who`) logs in beside the account's open session,
// which stays; a later ordinary login still disconnects the others.
func TestLoginOneShotKeepsOtherSessions(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.login("ssh", 1, acc)
	d := sessData(2, "ssh")
	d.ServerData[contract.ServerDataOneShot] = true
	x.h.PortalConnect("ssh", d)
	x.h.Login(x.h.SessionFromSessid(2), acc, true)
	x.settle()
	if got := sessids(x.h.SessionsFromAccount(acc.ID)); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("Alice's sessions = %v, want the open one and the one-shot", got)
	}
	if ds := disconnects(x.p.Events()); len(ds) != 0 {
		t.Fatalf("a one-shot login disconnected: %s", describe(t, ds))
	}
	x.login("telnet", 3, acc)
	if got := sessids(x.h.SessionsFromAccount(acc.ID)); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("after an ordinary login Alice's sessions = %v, want only 3", got)
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

// TestLoginStoreDownSaysSo: a login the store cannot check (the database is
// down) is answered with MsgLoginUnavailable, not "incorrect", on both
// paths (the connect command and credentials a plugin sends with its
// connect), the failure is logged, and it never counts against the login
// throttle: more attempts than limits.login_failures allows are all
// answered the same way, never "Too many login failures".
func TestLoginStoreDownSaysSo(t *testing.T) {
	broken, err := store.Open(t.TempDir()+"/down.db", store.Options{Argon2: store.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Close(); err != nil { // every query now fails
		t.Fatal(err)
	}
	x := newHarnessOn(t, broken)
	x.start()
	limits := contract.Limits{LoginFailures: 2, AddressLoginFailures: 3, LoginFailureWindow: time.Minute,
		AccountLoginFailures: 3, AccountLoginFailureWindow: time.Minute}
	tries := 5
	x.call(func() {
		x.h.SetSettings(Settings{ServerName: "T", Limits: limits})
		for i := 1; i <= tries; i++ {
			x.connect("telnet", uint64(i))
			x.h.LoginWithPassword(x.h.SessionFromSessid(uint64(i)), "Alice", "secret")
		}
		x.h.PortalConnectWithCredentials("ssh", sessData(100, "ssh"), Credentials{Name: "Alice", Password: "secret"})
	})
	for i := 1; i <= tries; i++ {
		x.p.waitText(t, uint64(i), MsgLoginUnavailable)
	}
	x.p.waitText(t, 100, MsgLoginUnavailable)
	x.h.WaitAsync()
	x.call(func() {})
	evs := x.p.Events()
	for i := 1; i <= tries; i++ {
		for _, txt := range textsFor(t, evs, uint64(i)) {
			if txt == MsgBadLogin || txt == MsgLoginThrottled {
				t.Errorf("session %d was told %q while the store was down", i, txt)
			}
		}
	}
	if ls := logins(evs); len(ls) != 0 {
		t.Errorf("logins while the store was down: %v", ls)
	}
	if !strings.Contains(x.log.String(), "login: authenticate") || !strings.Contains(x.log.String(), "connect: authenticate") {
		t.Errorf("the store's failure was not logged on both paths:\n%s", x.log.String())
	}
}
