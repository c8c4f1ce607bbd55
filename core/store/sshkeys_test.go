package store_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/portico-mud/portico/core/store"
	"golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(ssh.MarshalAuthorizedKey(k))
}

func TestSSHKeys(t *testing.T) { store.EachBackend(t, testSSHKeys) }

func testSSHKeys(t *testing.T, db store.TestDB) {
	s := openAt(t, db.Location)
	ctx := testCtx(t)
	alice, err := s.CreateAccount(ctx, "Alice", "secret-1", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateAccount(ctx, "Bob", "secret-2", false)
	if err != nil {
		t.Fatal(err)
	}
	key, line := newKey(t)
	k, err := s.AddSSHKey(ctx, alice.ID, line[:len(line)-1]+" alice@laptop")
	if err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint != ssh.FingerprintSHA256(key) || k.Comment != "alice@laptop" {
		t.Fatalf("added %+v", k)
	}
	if _, err := s.AddSSHKey(ctx, bob.ID, line); !errors.Is(err, store.ErrKeyTaken) {
		t.Fatalf("same key for another account: %v, want ErrKeyTaken", err)
	}
	for _, bad := range []string{"", "not a key", "ssh-ed25519 !!!!", line + " extra\nssh-rsa AAAA"} {
		if _, err := s.AddSSHKey(ctx, alice.ID, bad); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("AddSSHKey(%q) = %v, want ErrBadKey", bad, err)
		}
	}
	keys, err := s.SSHKeys(ctx, alice.ID)
	if err != nil || len(keys) != 1 || keys[0].Fingerprint != k.Fingerprint {
		t.Fatalf("keys %+v, %v", keys, err)
	}

	got, err := s.AuthenticateKey(ctx, "alice", key.Marshal())
	if err != nil || got.ID != alice.ID {
		t.Fatalf("AuthenticateKey = %+v, %v", got, err)
	}
	if _, err := s.AuthenticateKey(ctx, "Bob", key.Marshal()); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("key of Alice logs in Bob: %v", err)
	}
	other, _ := newKey(t)
	if _, err := s.AuthenticateKey(ctx, "Alice", other.Marshal()); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := s.AuthenticateKey(ctx, "Alice", []byte("garbage")); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("garbage key: %v", err)
	}

	if err := s.RemoveSSHKey(ctx, bob.ID, k.Fingerprint); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Bob removed Alice's key: %v", err)
	}
	if err := s.RemoveSSHKey(ctx, alice.ID, k.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateKey(ctx, "Alice", key.Marshal()); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("removed key still logs in: %v", err)
	}
}
