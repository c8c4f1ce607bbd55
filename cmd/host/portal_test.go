package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// The end-to-end tests of `portico portal issue` and `portico portal
// revoke`, with the real binary. The connections of remote plugins, and
// their closing on a revocation, are the remote transport's tests.

// portalConfig writes a config whose data directory does not exist yet,
// with server.portal_listen on port, and returns its path.
func portalConfig(t *testing.T, port int) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, fmt.Sprintf(`server:
  data_dir: data/new
  portal_listen: "127.0.0.1:%d"
plugins:
  telnet-eu:
    remote: true
    protocol: telnet
`, port))
	return path
}

// pemCert reads the one certificate of a PEM file.
func pemCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode([]byte(readFile(t, path)))
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantMode fails the test unless path has mode want.
func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

// revokedSerials reads the serials in <pki>/revoked.json.
func revokedSerials(t *testing.T, pkiDir string) []string {
	t.Helper()
	var rf struct {
		Certificates []pki.Record `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(pkiDir, "revoked.json"))), &rf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rf.Certificates {
		out = append(out, r.Serial)
	}
	return out
}

// TestPortalIssueBeforeAnyHost: `portico portal issue` with no host and no
// data directory creates the directory and the CA (0700, keys 0600),
// writes an identity that the CA verifies as telnet-eu's client
// certificate, prints the edge's command line with portal_listen's
// address, and refuses to write into the same directory again.
func TestPortalIssueBeforeAnyHost(t *testing.T) {
	port := conntest.FreePort(t)
	cfg := portalConfig(t, port)
	out := filepath.Join(t.TempDir(), "edge", "id")
	stdout, stderr, code, _ := runCLI(t, nil, "portal", "issue", "telnet-eu", "--out", out, "--config", cfg)
	if code != 0 {
		t.Fatalf("portal issue: exit %d\n%s%s", code, stdout, stderr)
	}
	want := fmt.Sprintf("portico-telnet --connect 127.0.0.1:%d --identity %s", port, out)
	if !strings.Contains(stdout, want) || !strings.Contains(stdout, filepath.Join(out, "key.pem")) {
		t.Errorf("portal issue printed:\n%s\nwant the files and %q", stdout, want)
	}
	pkiDir := filepath.Join(filepath.Dir(cfg), "data", "new", "pki")
	wantMode(t, filepath.Join(filepath.Dir(cfg), "data"), 0o700|os.ModeDir)
	wantMode(t, pkiDir, 0o700|os.ModeDir)
	wantMode(t, filepath.Join(pkiDir, "ca-key.pem"), 0o600)
	wantMode(t, filepath.Join(pkiDir, "host-key.pem"), 0o600)
	wantMode(t, out, 0o700|os.ModeDir)
	wantMode(t, filepath.Join(out, "key.pem"), 0o600)

	ca := pemCert(t, filepath.Join(pkiDir, "ca.pem"))
	if readFile(t, filepath.Join(pkiDir, "ca.pem")) != readFile(t, filepath.Join(out, "ca.pem")) {
		t.Error("the identity's ca.pem is not the host's CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	cert := pemCert(t, filepath.Join(out, "cert.pem"))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the issued certificate does not verify as a client certificate of the CA: %v", err)
	}
	if cert.Subject.CommonName != "telnet-eu" {
		t.Errorf("certificate CN %q, want telnet-eu", cert.Subject.CommonName)
	}
	host := pemCert(t, filepath.Join(pkiDir, "host.pem"))
	if _, err := host.Verify(x509.VerifyOptions{Roots: roots, DNSName: pki.HostName}); err != nil {
		t.Errorf("host.pem does not verify as %s: %v", pki.HostName, err)
	}

	keyBefore := readFile(t, filepath.Join(out, "key.pem"))
	stdout, stderr, code, _ = runCLI(t, nil, "portal", "issue", "telnet-eu", "--out", out, "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("a second issue into the same directory: exit %d\n%s%s", code, stdout, stderr)
	}
	if readFile(t, filepath.Join(out, "key.pem")) != keyBefore {
		t.Error("the refused issue changed key.pem")
	}
	_, stderr, code, _ = runCLI(t, nil, "portal", "issue", "Telnet", "--out", t.TempDir(), "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "not a plugin name") {
		t.Errorf("issue to a bad name: exit %d, %s", code, stderr)
	}
}

// TestPortalRevokeWithoutHost: with no host running, revoke writes the
// revocation into the data directory; a name nothing was issued to is an
// error saying so.
func TestPortalRevokeWithoutHost(t *testing.T) {
	cfg := portalConfig(t, conntest.FreePort(t))
	out := filepath.Join(t.TempDir(), "id")
	if stdout, stderr, code, _ := runCLI(t, nil, "portal", "issue", "telnet-eu", "--out", out, "--config", cfg); code != 0 {
		t.Fatalf("portal issue: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code, _ := runCLI(t, nil, "portal", "revoke", "telnet-eu", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "no host is running") {
		t.Fatalf("portal revoke: exit %d\n%s%s", code, stdout, stderr)
	}
	pkiDir := filepath.Join(filepath.Dir(cfg), "data", "new", "pki")
	serial := pemCert(t, filepath.Join(out, "cert.pem")).SerialNumber.Text(16)
	if got := revokedSerials(t, pkiDir); len(got) != 1 || got[0] != serial {
		t.Errorf("revoked.json holds %v, want [%s]", got, serial)
	}
	_, stderr, code, _ = runCLI(t, nil, "portal", "revoke", "ghost", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "pki: no certificate was issued to ghost") {
		t.Errorf("revoke ghost: exit %d, %s", code, stderr)
	}
}

// TestPortalRevokeThroughHost: with a host running (portal_listen set, so
// it opened its Authority at start), revoke goes through the control
// socket: the host's own Authority revokes (its OnRevoke callback logs the
// plugin), the revocation is in revoked.json, and the host's Authority's
// next handshake refuses the certificate.
func TestPortalRevokeThroughHost(t *testing.T) {
	h := startHostWith(t, hostOptions{server: fmt.Sprintf("  portal_listen: \"127.0.0.1:%d\"\n", conntest.FreePort(t))})
	out := filepath.Join(t.TempDir(), "id")
	mustPortico(t, h, "", "--identity "+out, "portal", "issue", "telnet-eu", "--out", out)
	msg := mustPortico(t, h, "", "the running host refuses it from now on", "portal", "revoke", "telnet-eu")
	if strings.Contains(msg, "no host is running") {
		t.Errorf("revoke did not go through the running host:\n%s", msg)
	}
	waitLog(t, h, "plugin=telnet-eu")
	if !strings.Contains(h.logText(), "portal: certificates revoked") {
		t.Errorf("the host's Authority did not report the revocation:\n%s", h.logText())
	}
	pkiDir := filepath.Join(h.dir, "data", "pki")
	serial := pemCert(t, filepath.Join(out, "cert.pem")).SerialNumber
	if got := revokedSerials(t, pkiDir); len(got) != 1 || got[0] != serial.Text(16) {
		t.Errorf("revoked.json holds %v, want [%s]", got, serial.Text(16))
	}
	a, err := pki.Open(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	if revoked, err := a.IsRevoked(serial); err != nil || !revoked {
		t.Errorf("IsRevoked = %v, %v after the host revoked it", revoked, err)
	}
	// Unknown names are refused by the host, with the Authority's words.
	if out, ok := portico(t, h, "", "portal", "revoke", "ghost"); ok || !strings.Contains(out, "pki: no certificate was issued to ghost") {
		t.Errorf("revoke ghost through the host: ok %v\n%s", ok, out)
	}
}
