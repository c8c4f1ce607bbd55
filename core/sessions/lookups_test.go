package sessions

import (
	"slices"
	"testing"
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
