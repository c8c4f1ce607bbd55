package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHostKeyGeneratedOnceAndReused(t *testing.T) {
	dataDir := t.TempDir()
	c := defaultConfig()
	path, generate := c.hostKeyPath(dataDir)
	if !generate || path != filepath.Join(dataDir, "ssh", "ssh_host_ed25519_key") {
		t.Fatalf("key path %s (generate %v)", path, generate)
	}
	first, err := loadHostKey(path, generate, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if first.PublicKey().Type() != gossh.KeyAlgoED25519 {
		t.Fatalf("generated a %s key", first.PublicKey().Type())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if pk, _, _, _, err := gossh.ParseAuthorizedKey(pub); err != nil ||
		gossh.FingerprintSHA256(pk) != gossh.FingerprintSHA256(first.PublicKey()) {
		t.Fatalf("the .pub file does not hold the key: %v %q", err, pub)
	}
	for range 3 {
		again, err := loadHostKey(path, generate, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		if a, b := gossh.FingerprintSHA256(again.PublicKey()), gossh.FingerprintSHA256(first.PublicKey()); a != b {
			t.Fatalf("reloaded key %s differs from the generated %s", a, b)
		}
	}
}

func TestHostKeyConcurrentStartsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh", hostKeyFile)
	const n = 8
	prints := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := loadHostKey(path, true, testLogger())
			if err != nil {
				t.Error(err)
				return
			}
			prints[i] = gossh.FingerprintSHA256(s.PublicKey())
		})
	}
	wg.Wait()
	for _, p := range prints {
		if p != prints[0] {
			t.Fatalf("concurrent starts got different keys: %v", prints)
		}
	}
}

func TestHostKeyFromConfig(t *testing.T) {
	dataDir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "mine"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	c := defaultConfig()
	c.HostKey = "mine" // relative to the data dir
	path, generate := c.hostKeyPath(dataDir)
	if generate {
		t.Fatal("a configured key must not be generated")
	}
	s, err := loadHostKey(path, generate, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := gossh.NewSignerFromKey(priv)
	if gossh.FingerprintSHA256(s.PublicKey()) != gossh.FingerprintSHA256(want.PublicKey()) {
		t.Fatal("loaded a different key than configured")
	}

	c.HostKey = filepath.Join(dataDir, "missing")
	path, generate = c.hostKeyPath(dataDir)
	if _, err := loadHostKey(path, generate, testLogger()); err == nil {
		t.Fatal("a missing configured key was not an error")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a missing configured key was generated")
	}
	if err := os.WriteFile(filepath.Join(dataDir, "junk"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadHostKey(filepath.Join(dataDir, "junk"), false, testLogger()); err == nil {
		t.Fatal("a file that is not a key was accepted")
	}
}
