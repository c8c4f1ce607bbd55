package main

import (
	"testing"

	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

func newTestKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	return newSigner(t).PublicKey()
}

func TestCredentialsFromTheMethodThatSucceeded(t *testing.T) {
	keyA, keyB := newTestKey(t), newTestKey(t)
	pw, _ := passwordCallback(nil, []byte("sekrit"))
	verifiedA, _ := verifiedKeyCallback(nil, keyA, nil, "ssh-ed25519")
	for _, tc := range []struct {
		name   string
		perms  *gossh.Permissions
		ctxKey gossh.PublicKey
		want   sdk.Credentials
		ok     bool
	}{
		{"password", pw, nil, sdk.Credentials{Name: "alice", Password: "sekrit"}, true},
		// CVE-2024-45337: the client offered key A (gliderlabs kept it in
		// the context) but logged in with a password. A proves nothing.
		{"queried key then password", pw, keyA, sdk.Credentials{Name: "alice", Password: "sekrit"}, true},
		{"verified key", verifiedA, keyA, sdk.Credentials{Name: "alice", PublicKey: keyA.Marshal()}, true},
		// The context and the verified key disagree: trust neither.
		{"verified key, other key in context", verifiedA, keyB, sdk.Credentials{}, false},
		{"verified key, none in context", verifiedA, nil, sdk.Credentials{}, false},
		{"keyboard-interactive", &gossh.Permissions{Extensions: map[string]string{
			extMethod: methodKeyboard, extPassword: "pw2"}}, nil, sdk.Credentials{Name: "alice", Password: "pw2"}, true},
		{"keyboard-interactive, no answer", &gossh.Permissions{Extensions: map[string]string{
			extMethod: methodKeyboard, extPassword: ""}}, nil, sdk.Credentials{}, false},
		// gliderlabs' shared Permissions (no method recorded): nothing.
		{"no method", &gossh.Permissions{}, keyA, sdk.Credentials{}, false},
		{"no permissions", nil, keyA, sdk.Credentials{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := credentials(tc.perms, "alice", tc.ctxKey)
			if ok != tc.ok || got.Name != tc.want.Name || got.Password != tc.want.Password ||
				string(got.PublicKey) != string(tc.want.PublicKey) {
				t.Fatalf("credentials = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCredentialNamesAreSafe(t *testing.T) {
	pw, _ := passwordCallback(nil, []byte("p\xffw"))
	got, ok := credentials(pw, "al\xffice"+string(make([]byte, 1000)), nil)
	if !ok || len(got.Name) > maxCredentialName+3 || got.Password != "p\uFFFDw" {
		t.Fatalf("credentials %q %q", got.Name, got.Password)
	}
}
