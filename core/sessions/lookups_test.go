package sessions

import (
	"slices"
	"testing"

	"github.com/portico-mud/portico/core/store"
)

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

// lookupSessions is the handler the lookup tests read, in multisession
// mode 1: Alice logged in twice (sessions 1 and 3, puppeting her
// character), Bob once (2), and a session not logged in (4).
type lookupSessions struct {
	*harness
	alice, bob     store.Account
	s1, s2, s3, s4 *ServerSession
}

func newLookupSessions(t *testing.T) lookupSessions {
	t.Helper()
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	l := lookupSessions{harness: x, alice: x.account("Alice"), bob: x.account("Bob")}
	l.s1 = x.login("telnet", 1, l.alice)
	l.s2 = x.login("websocket", 2, l.bob)
	l.s3 = x.login("ssh", 3, l.alice)
	l.s4 = x.connect("websocket", 4)
	return l
}

func TestLookups(t *testing.T) {
	x := newLookupSessions(t)
	alice, bob, s1, s3, s4 := x.alice, x.bob, x.s1, x.s3, x.s4
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

// TestGetAndGetSessions: Get is the handler read as a dict by session id;
// GetSessions lists the logged-in sessions, or all of them with
// includeUnloggedIn, oldest first, as Evennia's get_sessions.
func TestGetAndGetSessions(t *testing.T) {
	x := newLookupSessions(t)
	if x.h.Get(1) != x.s1 || x.h.Get(4) != x.s4 || x.h.Get(99) != nil || x.h.Get(0) != nil {
		t.Error("Get must return the session with that id, nil for an unknown id")
	}
	if got := sessids(x.h.GetSessions(false)); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("GetSessions(false) = %v, want the logged-in sessions [1 2 3]", got)
	}
	if got := sessids(x.h.GetSessions(true)); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("GetSessions(true) = %v, want every session [1 2 3 4]", got)
	}
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("Sessions() = %v, want GetSessions(true)", got)
	}

	x.h.Disconnect(x.s2, "bye", true)
	x.h.Disconnect(x.s3, "bye", true)
	x.settle()
	if x.h.Get(2) != nil || x.h.Get(3) != nil {
		t.Error("Get still finds disconnected sessions")
	}
	if got := sessids(x.h.GetSessions(false)); !slices.Equal(got, []uint64{1}) {
		t.Errorf("GetSessions(false) after disconnects = %v, want [1]", got)
	}
	if got := sessids(x.h.GetSessions(true)); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("GetSessions(true) after disconnects = %v, want [1 4]", got)
	}
}

// TestSessionsFromCharacter: sessions_from_character is Evennia's other
// name for sessions_from_puppet; it follows the puppet as it changes.
func TestSessionsFromCharacter(t *testing.T) {
	x := newLookupSessions(t)
	check := func(when string, char int64, want []uint64) {
		t.Helper()
		got := sessids(x.h.SessionsFromCharacter(char))
		if !slices.Equal(got, want) {
			t.Errorf("%s: SessionsFromCharacter(%d) = %v, want %v", when, char, got, want)
		}
		if puppet := sessids(x.h.SessionsFromPuppet(char)); !slices.Equal(got, puppet) {
			t.Errorf("%s: SessionsFromCharacter(%d) = %v but SessionsFromPuppet = %v", when, char, got, puppet)
		}
	}
	check("after login", x.alice.CharacterID, []uint64{1, 3})
	check("after login", x.bob.CharacterID, []uint64{2})
	check("after login", 0, nil)

	if !x.h.Unpuppet(x.s1) {
		t.Fatal("Unpuppet: session 1 had no puppet")
	}
	x.settle()
	check("after session 1 went OOC", x.alice.CharacterID, []uint64{3})
	check("after session 1 went OOC", 0, nil)
}
