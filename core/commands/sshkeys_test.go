package commands_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestSSHKeysCommand(t *testing.T) {
	e := newEnv(t, 0)
	e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + " alice@laptop"
	fp := ssh.FingerprintSHA256(key)

	e.loginAs(1, "Alice", "secret1")
	e.send(1, "@sshkeys")
	if got := e.last(1); !strings.Contains(got, "You have no SSH keys.") {
		t.Fatalf("empty list = %q", got)
	}
	e.send(1, "@sshkeys add "+line)
	if got := e.last(1); got != "Key "+fp+" added. You can now log in over SSH with it." {
		t.Fatalf("add = %q", got)
	}
	e.send(1, "@sshkeys")
	if got := e.last(1); !strings.Contains(got, fp) || !strings.Contains(got, "alice@laptop") || !strings.Contains(got, "ssh-ed25519") {
		t.Fatalf("list = %q", got)
	}
	e.send(1, "@sshkeys add not-a-key")
	if got := e.last(1); !strings.Contains(got, "Not an SSH public key") {
		t.Fatalf("bad key = %q", got)
	}

	e.loginAs(2, "Bob", "secret2")
	e.send(2, "@sshkeys add "+line)
	if got := e.last(2); !strings.Contains(got, "already registered") {
		t.Fatalf("Bob adding Alice's key = %q", got)
	}
	e.send(2, "@sshkeys remove "+fp)
	if got := e.last(2); got != `You have no key "`+fp+`".` {
		t.Fatalf("Bob removing Alice's key = %q", got)
	}
	e.send(1, "@sshkeys remove "+fp)
	if got := e.last(1); got != "Key "+fp+" removed." {
		t.Fatalf("remove = %q", got)
	}
}

func TestReservedNames(t *testing.T) {
	e := newEnv(t, 0)
	e.connect(1)
	e.send(1, "create Admin secretpassword")
	e.waitText(1, "The name 'Admin' is reserved. Please choose another.")
	e.send(1, "create root secretpassword")
	e.waitText(1, "The name 'root' is reserved. Please choose another.")
}
