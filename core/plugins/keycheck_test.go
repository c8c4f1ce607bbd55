package plugins

import (
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/portalpb"
	"golang.org/x/crypto/ssh"
)

// TestKeyCheckAnswers: the host answers a plugin's KeyCheck from the
// accounts' keys: yes for the key registered to the account named, no for
// another account or another key, and no for every key from a plugin not
// trusted with key logins (plugins.<name>.trust_key_logins).
func TestKeyCheckAnswers(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "portico.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acc, err := st.CreateAccount(t.Context(), "Alice", "alicepass1", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(t.Context(), "Bob", "bobpass1", false); err != nil {
		t.Fatal(err)
	}
	key, stray := newKey(t), newKey(t)
	if _, err := st.AddSSHKey(t.Context(), acc.ID, string(ssh.MarshalAuthorizedKey(key))); err != nil {
		t.Fatal(err)
	}
	g := newGrantsRig(t, st)
	r := g.runner("ssh", true)
	ask := func(id uint64, name string, k ssh.PublicKey) {
		r.handleFrame(t.Context(), &portalpb.Frame{Events: []*portalpb.Event{{Kind: &portalpb.Event_KeyCheck{
			KeyCheck: &portalpb.KeyCheck{Id: id, Name: name, PublicKey: k.Marshal()}}}}})
	}
	answers := func() map[uint64]bool {
		out := map[uint64]bool{}
		if err := r.outbox.Flush(func(f *portalpb.Frame) error {
			for _, ev := range f.GetEvents() {
				if kc := ev.GetKeyChecked(); kc != nil {
					out[kc.GetId()] = kc.GetAccepted()
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}

	ask(1, "Alice", key)
	if got := answers(); len(got) != 1 || got[1] {
		t.Fatalf("untrusted plugin: answers %v, want 1 declined", got)
	}
	r.trustKeys.Store(true)
	ask(2, "Alice", key)
	ask(3, " alice ", key)
	ask(4, "Bob", key)
	ask(5, "Alice", stray)
	ask(6, "Nobody", key)
	want := map[uint64]bool{2: true, 3: true, 4: false, 5: false, 6: false}
	got := answers()
	for id, w := range want {
		if a, ok := got[id]; !ok || a != w {
			t.Errorf("question %d: answered %v (%v), want %v", id, a, ok, w)
		}
	}
}

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
