package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeIdentity writes a self-signed certificate as cert.pem and ca.pem,
// with its key as key.pem: enough for Load, which checks the files, not
// the chain.
func writeIdentity(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "telnet"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := map[string][]byte{CertFile: cert, CAFile: cert,
		KeyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoad: a complete identity gives a TLS 1.3 client config that names
// the host portico-host and trusts ca.pem alone.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeIdentity(t, dir)
	cfg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ServerName != HostName || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("config: min %x, server name %q, %d certificates, roots %v",
			cfg.MinVersion, cfg.ServerName, len(cfg.Certificates), cfg.RootCAs)
	}
	if HostName != "portico-host" {
		t.Errorf("HostName = %q", HostName)
	}
}

// TestLoadNamesTheFile: each missing or broken file is named in the error,
// since the operator copied it by hand.
func TestLoadNamesTheFile(t *testing.T) {
	for _, f := range []string{CertFile, KeyFile, CAFile} {
		dir := t.TempDir()
		writeIdentity(t, dir)
		p := filepath.Join(dir, f)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.HasPrefix(err.Error(), "identity: read "+p+": ") {
			t.Errorf("without %s: %v", f, err)
		}
	}
	dir := t.TempDir()
	writeIdentity(t, dir)
	if err := os.WriteFile(filepath.Join(dir, CAFile), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, CAFile)) {
		t.Errorf("with a broken ca.pem: %v", err)
	}
	dir = t.TempDir()
	writeIdentity(t, dir)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("junk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, KeyFile)) {
		t.Errorf("with a broken key.pem: %v", err)
	}
}
