package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// The host key is what SSH clients remember (known_hosts): a new one at
// every start would make every client warn of a man in the middle. So it is
// generated once, stored, and loaded at every later start.

// loadHostKey returns the signer for path. When generate is set and the
// file does not exist, a new ed25519 key is generated and stored there
// first (the folder made 0700, the file 0600).
func loadHostKey(path string, generate bool, log *slog.Logger) (gossh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && generate {
		if err := generateHostKey(path); err != nil {
			return nil, err
		}
		log.Info("ssh: generated a host key", "file", path)
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: host key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("ssh: host key file is readable by others; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key %s: %w", path, err)
	}
	return signer, nil
}

// generateHostKey writes a new ed25519 key in OpenSSH's format to path,
// and its public half to path.pub. The key is written to a temporary file
// and linked into place, so that two processes starting at once cannot
// both write one: the second link fails, and that process loads the
// first one's key.
func generateHostKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ssh: host key dir: %w", err)
	}
	// MkdirAll leaves an existing folder's mode alone; a folder it made
	// follows the umask. The key's own folder is private either way.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("ssh: host key dir: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("ssh: generate host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "portico ssh host key")
	if err != nil {
		return fmt.Errorf("ssh: encode host key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hostkey-*")
	if err != nil {
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process won; its key is the one
		}
		return fmt.Errorf("ssh: write host key: %w", err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("ssh: host public key: %w", err)
	}
	// The .pub file is for operators publishing the fingerprint; the key
	// itself is all the plugin needs, so a failure here is not fatal.
	_ = os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(sshPub), 0o644)
	return nil
}
