package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/identity"
)

// Record is one certificate in issued.json or revoked.json.
type Record struct {
	// Name is the plugin block the certificate was issued to.
	Name string `json:"name"`
	// Serial is the certificate's serial number, in hexadecimal.
	Serial string `json:"serial"`
	// At is when it was issued (issued.json) or revoked (revoked.json).
	At time.Time `json:"at"`
	// NotAfter is when the certificate expires (issued.json only).
	NotAfter time.Time `json:"not_after,omitzero"`
}

// recordFile is the JSON form of issued.json and revoked.json: an object,
// so that fields can be added later without breaking older readers.
type recordFile struct {
	Certificates []Record `json:"certificates"`
}

// serialHex is how serials are written in the record files and compared.
func serialHex(n *big.Int) string { return n.Text(16) }

// Issue writes a new client certificate for the plugin block name into
// outDir (created 0700, or made 0700 if it exists): cert.pem, key.pem
// (0600) and ca.pem, the files an edge's --identity DIR holds. The
// certificate's common name is name, it is for client authentication only
// and valid for DefaultValidity; its
// serial is recorded in issued.json as issued to name, so that Revoke can
// refuse it. Issue refuses to overwrite any of the three files: an edge's
// key is never replaced by accident.
func (a *Authority) Issue(name, outDir string) error {
	if err := config.CheckPluginName(name); err != nil {
		return fmt.Errorf("pki: issue: %w", err)
	}
	outs := []string{identity.CertFile, identity.KeyFile, identity.CAFile}
	for _, f := range outs {
		p := filepath.Join(outDir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("pki: issue %s: %s already exists; remove it or choose another directory", name, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pki: issue %s: %w", name, err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: issue %s: generate key: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(DefaultValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := sign(tmpl, a.ca, key.Public(), a.caKey)
	if err != nil {
		return err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return err
	}
	// Recorded before it is written: a certificate that exists is always
	// one Revoke can find, even if writing it fails half way.
	rec := Record{Name: name, Serial: serialHex(tmpl.SerialNumber), At: now.UTC(), NotAfter: tmpl.NotAfter.UTC()}
	err = a.locked(func() error {
		return updateRecords(a.path(issuedFile), func(rs []Record) []Record { return append(rs, rec) })
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("pki: issue %s: %w", name, err)
	}
	// The directory holds the edge's key: whatever mode it had before,
	// only its owner may read it.
	if err := os.Chmod(outDir, 0o700); err != nil {
		return fmt.Errorf("pki: issue %s: %w", name, err)
	}
	contents := [][]byte{pemBlock("CERTIFICATE", der), kp, a.caPEM}
	modes := []os.FileMode{0o644, 0o600, 0o644}
	var written []string
	for i, f := range outs {
		p := filepath.Join(outDir, f)
		if err := writeNew(p, contents[i], modes[i]); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return fmt.Errorf("pki: issue %s: %w", name, err)
		}
		written = append(written, p)
	}
	return nil
}

// writeNew writes a file that must not exist yet (O_EXCL): two issues to
// one directory at once cannot overwrite each other's key.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	// The umask may have taken bits off; certificates are meant readable.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Revoke refuses, from the next handshake on, every certificate issued to
// name so far, and records that in revoked.json. A certificate issued to
// name afterwards is accepted. Revoking a name again is not an error (it
// finds nothing new to revoke, and the callbacks run again, closing any
// connection that somehow survived). The OnRevoke callbacks run after the
// revocation is stored.
func (a *Authority) Revoke(name string) error {
	var n int
	err := a.locked(func() error {
		issued, err := readRecords(a.path(issuedFile))
		if err != nil {
			return err
		}
		var serials []string
		for _, r := range issued {
			if r.Name == name {
				serials = append(serials, r.Serial)
			}
		}
		n = len(serials)
		if n == 0 {
			return fmt.Errorf("pki: no certificate was issued to %s", name)
		}
		now := time.Now().UTC()
		err = updateRecords(a.path(revokedFile), func(rs []Record) []Record {
			for _, s := range serials {
				if !slices.ContainsFunc(rs, func(r Record) bool { return r.Serial == s }) {
					rs = append(rs, Record{Name: name, Serial: s, At: now})
				}
			}
			return rs
		})
		if err != nil {
			return err
		}
		// This process sees its own revocation at once, whatever the
		// file's modification time says.
		return a.revoke.reload()
	})
	if err != nil {
		return err
	}
	a.subsMu.Lock()
	subs := slices.Clone(a.subs)
	a.subsMu.Unlock()
	for _, f := range subs {
		f(name)
	}
	return nil
}

// OnRevoke adds f to the functions called, in the order added, after each
// successful Revoke made through this Authority (not one made by another
// process). The running host uses it to close a revoked edge's live
// connection at once, rather than at its next handshake. f runs on the
// goroutine that called Revoke, and must not call Revoke.
func (a *Authority) OnRevoke(f func(name string)) {
	a.subsMu.Lock()
	defer a.subsMu.Unlock()
	a.subs = append(a.subs, f)
}

// Issued returns the certificates issued so far, oldest first.
func (a *Authority) Issued() ([]Record, error) { return readRecords(a.path(issuedFile)) }

// Revoked returns the certificates revoked so far, oldest first, as
// revoked.json holds them now (including revocations by other processes).
func (a *Authority) Revoked() ([]Record, error) { return readRecords(a.path(revokedFile)) }

// readRecords reads a record file; a missing one holds no records.
func readRecords(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var rf recordFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("pki: read %s: %w", path, err)
	}
	return rf.Certificates, nil
}

// updateRecords rewrites a record file with f applied to its records. The
// caller holds the directory's lock, so that no other process's update is
// lost between the read and the write.
func updateRecords(path string, f func([]Record) []Record) error {
	rs, err := readRecords(path)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(recordFile{Certificates: f(rs)}, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}
