package sessions

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestPortalConnectWithCredentials: an SSH login with the right password
// or a registered key arrives logged in without the connection screen; a
// wrong password gets Evennia's message and the screen; an unknown key
// just the screen; a plugin's own login claim counts for nothing. A
// registered key from a plugin not trusted with key logins (it need only
// know the public key) is refused and logged; a password from it counts.
func TestPortalConnectWithCredentials(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.h.Store().AddSSHKey(t.Context(), acc.ID, string(ssh.MarshalAuthorizedKey(key))); err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(other)
	// Two sessions of Alice log in: keep both (mode 1).
	settings := x.h.Settings()
	settings.MultisessionMode = 1
	x.h.SetSettings(settings)
	x.start()
	x.call(func() {
		x.h.PortalConnectWithCredentials("ssh", sessData(1, "ssh"), Credentials{Name: "alice", Password: "secret"})
		x.h.PortalConnectWithCredentials("ssh", sessData(2, "ssh"), Credentials{Name: "Alice", Password: "wrong"})
		x.h.PortalConnectWithCredentials("ssh", sessData(3, "ssh"), Credentials{Name: "Alice", PublicKey: key.Marshal(), KeyTrusted: true})
		x.h.PortalConnectWithCredentials("ssh", sessData(4, "ssh"), Credentials{Name: "Alice", PublicKey: otherKey.Marshal(), KeyTrusted: true})
		claim := sessData(5, "ssh")
		claim.LoggedIn, claim.UID = true, acc.ID
		x.h.PortalConnectWithCredentials("ssh", claim, Credentials{Name: "Alice", Password: "wrong"})
		x.h.PortalConnectWithCredentials("evil", sessData(6, "evil"), Credentials{Name: "Alice", PublicKey: key.Marshal()})
		x.h.PortalConnectWithCredentials("evil", sessData(7, "evil"), Credentials{Name: "Alice", Password: "secret"})
	})
	x.p.waitText(t, 2, MsgBadLogin)
	x.p.waitText(t, 5, MsgBadLogin)
	evs := x.p.waitFor(t, "three logins", func(evs []sentEvent) bool { return len(logins(evs)) == 3 })
	var ids []uint64
	for _, l := range logins(evs) {
		ids = append(ids, l.Sessid)
		if l.UID != acc.ID {
			t.Errorf("login %v not as Alice", l)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{1, 3, 7}) {
		t.Fatalf("logged in sessions %v, want [1 3 7]", ids)
	}
	// Every check has finished and posted its continuation; let the loop
	// run them.
	x.h.WaitAsync()
	x.call(func() {})
	looks := map[uint64]bool{}
	for _, l := range x.cmds.Lines() {
		if l.Line == "look" {
			looks[l.Sessid] = true
		}
	}
	// Logged-in sessions look at where they are; the others see the
	// connection screen (the unlogged-in look). Every one of them looks once.
	for id := uint64(1); id <= 7; id++ {
		if !looks[id] {
			t.Errorf("session %d never got look", id)
		}
	}
	var logged []bool
	x.call(func() {
		for id := uint64(1); id <= 7; id++ {
			logged = append(logged, x.h.SessionFromSessid(id).LoggedIn)
		}
	})
	if !slices.Equal(logged, []bool{true, false, true, false, false, false, true}) {
		t.Fatalf("logged in = %v", logged)
	}
	log := x.log.String()
	if want := `msg="refused login claim" plugin=evil sessid=6 name=Alice`; !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	if n := strings.Count(log, "refused login claim"); n != 1 {
		t.Errorf("%d refused claims logged, want 1 (session 6):\n%s", n, log)
	}
}

// TestPortalConnectUntrustedClaim: a session arriving logged in as an
// account the host does not trust for that (not a bot) gets the login
// screen, not the account.
func TestPortalConnectUntrustedClaim(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.h.SetTrustLogin(func(_ string, uid int64) bool { return uid == 999 })
	d := sessData(7, "evil")
	d.LoggedIn, d.UID = true, acc.ID
	x.h.PortalConnect("evil", d)
	s := x.h.SessionFromSessid(7)
	if s == nil || s.LoggedIn || s.Account != nil {
		t.Fatalf("untrusted login claim honoured: %+v", s)
	}
	if len(logins(x.p.Events())) != 0 {
		t.Fatal("a Login event was sent")
	}
}
