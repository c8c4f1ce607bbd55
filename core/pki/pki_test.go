package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/identity"
	"github.com/portico-mud/portico/sdk/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// open opens a fresh authority in a temporary directory.
func open(t *testing.T) *Authority {
	t.Helper()
	a, err := Open(filepath.Join(t.TempDir(), "data", "pki"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// issue issues name's identity into a fresh directory and loads it as an
// edge would.
func issue(t *testing.T, a *Authority, name string) *tls.Config {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := a.Issue(name, dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := identity.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// handshake runs one TLS handshake over loopback TCP between a server with
// srv and a client with cli, and returns the server's error and, when it
// succeeded, the connection state the server saw. The client reads after
// its handshake so that a refusal the server sends (in TLS 1.3 the server
// judges the client's certificate after the client has finished) reaches it.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		cs  tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		tc := tls.Server(c, srv)
		err = tc.Handshake()
		done <- result{cs: tc.ConnectionState(), err: err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	tc := tls.Client(c, cli)
	if err := tc.Handshake(); err == nil {
		// Ends when the server closes the connection, with or without an
		// alert.
		_, _ = io.Copy(io.Discard, tc)
	}
	r := <-done
	return r.cs, r.err
}

func serverConfig(t *testing.T, a *Authority) *tls.Config {
	t.Helper()
	cfg, err := a.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestHandshakeWithIssuedCertificate: an edge with an identity from Issue
// is accepted over TLS 1.3, verifies the host as portico-host, and the
// host learns its block name from the certificate.
func TestHandshakeWithIssuedCertificate(t *testing.T) {
	a := open(t)
	cs, err := handshake(t, serverConfig(t, a), issue(t, a, "telnet-eu"))
	if err != nil {
		t.Fatalf("handshake with an issued certificate: %v", err)
	}
	if cs.Version != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", cs.Version)
	}
	name, err := PeerName(cs)
	if err != nil || name != "telnet-eu" {
		t.Errorf("PeerName = %q, %v; want telnet-eu", name, err)
	}
}

// TestHandshakeRefused: the host refuses an edge whose certificate comes
// from another portico's CA, an edge with no certificate, and a client
// that offers only TLS 1.2.
func TestHandshakeRefused(t *testing.T) {
	a := open(t)
	other := open(t)
	srv := serverConfig(t, a)

	foreign := issue(t, other, "telnet")
	// The foreign edge trusts our host (it has our CA), so only its own
	// certificate can be what is refused.
	foreign.RootCAs = a.roots
	if _, err := handshake(t, srv, foreign); err == nil {
		t.Error("a certificate from another CA was accepted")
	}

	none := issue(t, a, "telnet")
	none.Certificates = nil
	if _, err := handshake(t, srv, none); err == nil {
		t.Error("a client with no certificate was accepted")
	}

	old := issue(t, a, "irc")
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if _, err := handshake(t, srv, old); err == nil {
		t.Error("a TLS 1.2 client was accepted")
	}
}

// TestEdgeRefusesAnotherHost: an edge verifies the host against its own
// ca.pem: a host with another CA's certificate is refused by the edge.
func TestEdgeRefusesAnotherHost(t *testing.T) {
	a := open(t)
	other := open(t)
	cli := issue(t, a, "telnet")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		_ = tls.Server(c, serverConfig(t, other)).Handshake()
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		c.Close()
		t.Error("the edge accepted a host certificate from another CA")
	}
	<-srvDone
}

// TestRevoke: a revoked certificate is refused at the next handshake of a
// server config made before the revocation; a certificate issued to the
// same name afterwards is accepted; the callbacks learn the name.
func TestRevoke(t *testing.T) {
	a := open(t)
	srv := serverConfig(t, a)
	first := issue(t, a, "telnet-eu")
	if _, err := handshake(t, srv, first); err != nil {
		t.Fatalf("before revoke: %v", err)
	}
	var got []string
	a.OnRevoke(func(name string) { got = append(got, "1:"+name) })
	a.OnRevoke(func(name string) { got = append(got, "2:"+name) })
	if err := a.Revoke("telnet-eu"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1:telnet-eu,2:telnet-eu" {
		t.Errorf("OnRevoke callbacks saw %q, want both, in order, with telnet-eu", got)
	}
	_, err := handshake(t, srv, first)
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("after revoke: %v, want a refusal saying revoked", err)
	}
	if _, err := handshake(t, srv, issue(t, a, "telnet-eu")); err != nil {
		t.Errorf("a certificate issued after the revocation: %v", err)
	}
	// Revoking again also covers the new certificate.
	if err := a.Revoke("telnet-eu"); err != nil {
		t.Fatal(err)
	}
	rs, err := a.Revoked()
	if err != nil || len(rs) != 2 || rs[0].Name != "telnet-eu" || rs[0].Serial == rs[1].Serial {
		t.Errorf("revoked.json holds %+v, %v; want the two telnet-eu serials", rs, err)
	}
}

// TestRevokeByAnotherProcess: a revocation written by another Authority on
// the same directory (as `portico portal revoke` with no host to ask does)
// reaches a running server's next handshake, without a restart.
func TestRevokeByAnotherProcess(t *testing.T) {
	a := open(t)
	srv := serverConfig(t, a)
	cli := issue(t, a, "telnet")
	if _, err := handshake(t, srv, cli); err != nil {
		t.Fatalf("before revoke: %v", err)
	}
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	called := false
	a.OnRevoke(func(string) { called = true })
	if err := b.Revoke("telnet"); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, srv, cli); err == nil {
		t.Error("a certificate revoked through another Authority was still accepted")
	}
	if called {
		t.Error("a's OnRevoke ran for a revocation made through b")
	}
}

// TestRevokeUnknown: revoking a name nothing was issued to says so, and
// runs no callback.
func TestRevokeUnknown(t *testing.T) {
	a := open(t)
	issue(t, a, "telnet")
	a.OnRevoke(func(name string) { t.Errorf("OnRevoke(%q) after a failed revoke", name) })
	err := a.Revoke("ssh")
	if err == nil || err.Error() != "pki: no certificate was issued to ssh" {
		t.Errorf("Revoke(ssh) = %v", err)
	}
}

// TestFileModes: the directory and its parents are 0700, keys are 0600,
// in the authority's directory and in an issued identity.
func TestFileModes(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data", "pki")
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "edge", "id")
	if err := a.Issue("telnet", out); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		filepath.Join(root, "data"):     0o700 | os.ModeDir,
		dir:                             0o700 | os.ModeDir,
		filepath.Join(dir, caKeyFile):   0o600,
		filepath.Join(dir, hostKeyFile): 0o600,
		filepath.Join(dir, caFile):      0o644,
		filepath.Join(dir, hostFile):    0o644,
		filepath.Join(dir, issuedFile):  0o600,
		out:                             0o700 | os.ModeDir,
		filepath.Join(out, "key.pem"):   0o600,
		filepath.Join(out, "cert.pem"):  0o644,
		filepath.Join(out, "ca.pem"):    0o644,
	}
	for p, m := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != m {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), m)
		}
	}
}

// TestIssuedCertificate: the certificate is a client certificate for name,
// valid for a year, signed by the CA, with a serial recorded in issued.json.
func TestIssuedCertificate(t *testing.T) {
	a := open(t)
	out := filepath.Join(t.TempDir(), "id")
	if err := a.Issue("websocket", out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as a client certificate: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("an edge's certificate verifies as a server certificate")
	}
	if cert.Subject.CommonName != "websocket" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < DefaultValidity || life > DefaultValidity+time.Hour {
		t.Errorf("valid for %v, want about a year", life)
	}
	if a.ca.Subject.CommonName != CAName || a.ca.NotAfter.Sub(a.ca.NotBefore) < caValidity {
		t.Errorf("CA %q valid %v", a.ca.Subject.CommonName, a.ca.NotAfter.Sub(a.ca.NotBefore))
	}
	rs, err := a.Issued()
	if err != nil || len(rs) != 1 || rs[0].Name != "websocket" || rs[0].Serial != serialHex(cert.SerialNumber) {
		t.Errorf("issued.json holds %+v, %v", rs, err)
	}
	ca, err := os.ReadFile(filepath.Join(out, "ca.pem"))
	if err != nil || !bytes.Equal(ca, a.CAPEM()) {
		t.Errorf("ca.pem is not the authority's CA (%v)", err)
	}
}

// TestIssueRefusesOverwrite: a second issue into a directory that holds an
// identity is refused, naming the file, and leaves the first one as it was.
func TestIssueRefusesOverwrite(t *testing.T) {
	a := open(t)
	out := filepath.Join(t.TempDir(), "id")
	if err := a.Issue("telnet", out); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "key.pem"))
	err := a.Issue("telnet", out)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(out, "cert.pem")+" already exists") {
		t.Fatalf("second issue: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "key.pem"))
	if !bytes.Equal(before, after) {
		t.Error("the second issue changed key.pem")
	}
	// A single leftover file is enough to refuse.
	out2 := filepath.Join(t.TempDir(), "id")
	if err := os.MkdirAll(out2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out2, "key.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Issue("telnet", out2); err == nil || !strings.Contains(err.Error(), "key.pem already exists") {
		t.Errorf("issue over a key.pem: %v", err)
	}
	if rs, _ := a.Issued(); len(rs) != 1 {
		t.Errorf("refused issues were recorded: %+v", rs)
	}
}

// TestIssueBadName: only a plugin block name can be issued a certificate.
func TestIssueBadName(t *testing.T) {
	a := open(t)
	for _, name := range []string{"", "Telnet", "9telnet", "tel net", "../x", strings.Repeat("a", 33)} {
		if err := a.Issue(name, filepath.Join(t.TempDir(), "id")); err == nil || !strings.Contains(err.Error(), "not a plugin name") {
			t.Errorf("Issue(%q) = %v", name, err)
		}
	}
}

// TestOpenConcurrently: several processes opening a new directory at once
// end with one CA and one host certificate, and each one's certificates
// are accepted by the others' servers.
func TestOpenConcurrently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	const n = 8
	as := make([]*Authority, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { as[i], errs[i] = Open(dir) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if !bytes.Equal(as[i].CAPEM(), as[0].CAPEM()) {
			t.Fatalf("Open %d made another CA", i)
		}
		if !bytes.Equal(as[i].host.Certificate[0], as[0].host.Certificate[0]) {
			t.Fatalf("Open %d made another host certificate", i)
		}
	}
	if _, err := handshake(t, serverConfig(t, as[0]), issue(t, as[n-1], "telnet")); err != nil {
		t.Errorf("a certificate from one Open with another's server: %v", err)
	}
}

// TestReopen: opening an existing directory keeps its CA, so identities
// issued earlier still work after a host restart.
func TestReopen(t *testing.T) {
	a := open(t)
	cli := issue(t, a, "telnet")
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, serverConfig(t, b), cli); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

// TestPeerNameNeedsVerifiedChain: a connection state with no verified
// client certificate gives no name.
func TestPeerNameNeedsVerifiedChain(t *testing.T) {
	if _, err := PeerName(tls.ConnectionState{}); err == nil {
		t.Error("PeerName of a connection without a certificate succeeded")
	}
}

// TestRevokeRefusesResumedSession: an edge that resumes a TLS session
// (with a ticket from before the revocation) is refused too, and the name
// of a resumed session is still known.
func TestRevokeRefusesResumedSession(t *testing.T) {
	a := open(t)
	srv := serverConfig(t, a)
	cli := issue(t, a, "telnet")
	cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if _, err := handshake(t, srv, cli); err != nil {
		t.Fatal(err)
	}
	cs, err := handshake(t, srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	if !cs.DidResume {
		t.Fatal("the second handshake did not resume: the test shows nothing")
	}
	if name, err := PeerName(cs); err != nil || name != "telnet" {
		t.Errorf("PeerName of a resumed session = %q, %v", name, err)
	}
	if err := a.Revoke("telnet"); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, srv, cli); err == nil {
		t.Error("a revoked edge resumed its session")
	}
}

// TestOpenRefusesMismatchedHost: a host.pem that the CA did not sign (one
// copied from another data directory) is refused, naming the file, rather
// than served to edges that would all refuse it.
func TestOpenRefusesMismatchedHost(t *testing.T) {
	a := open(t)
	other := open(t)
	for _, f := range []string{hostFile, hostKeyFile} {
		b, err := os.ReadFile(filepath.Join(other.Dir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.Dir(), f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(a.Dir())
	if err == nil || !strings.Contains(err.Error(), filepath.Join(a.Dir(), hostFile)+" does not verify") {
		t.Errorf("Open with another CA's host.pem: %v", err)
	}
	// Removing it, as the error says, gives a new one.
	if err := os.Remove(filepath.Join(a.Dir(), hostFile)); err != nil {
		t.Fatal(err)
	}
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, serverConfig(t, b), issue(t, b, "telnet")); err != nil {
		t.Errorf("after replacing host.pem: %v", err)
	}
}

// TestIssueTightensExistingDir: an --out directory that already exists
// with a looser mode is made 0700: it holds the edge's key.
func TestIssueTightensExistingDir(t *testing.T) {
	a := open(t)
	out := filepath.Join(t.TempDir(), "id")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.Issue("telnet", out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("%s is %v after issue, want 0700", out, fi.Mode().Perm())
	}
}
