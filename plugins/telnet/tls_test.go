package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
)

// dialTLS connects to the plugin's TLS listener and returns the
// certificate it served.
func dialTLS(t *testing.T, p *Plugin) (*tls.Conn, []byte) {
	t.Helper()
	d := &net.Dialer{Timeout: waitFor}
	c, err := tls.DialWithDialer(d, "tcp", p.tlsLn.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.ConnectionState().PeerCertificates[0].Raw
}

func TestTLSGeneratedPair(t *testing.T) {
	dataDir := t.TempDir()
	raw := map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0"}
	p, portal, err := configure(t, raw, sdk.HostInfo{DataDir: dataDir, Limits: sdk.Limits{MaxInputLength: 100}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dataDir, "telnet-tls")
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatalf("no generated certificate: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key: %v, mode %v; want 0600", err, fi.Mode())
	}
	col := collect(portal)
	defer col.stop(t)

	handshakes, failed := ownFigure(portal, "tls_handshakes"), ownFigure(portal, "tls_handshakes_failed")
	c, served := dialTLS(t, p)
	ev := col.next(t)
	if got := ownFigure(portal, "tls_handshakes"); got != handshakes+1 {
		t.Errorf("figure tls_handshakes = %v after a handshake, want %v", got, handshakes+1)
	}
	s := ev.GetConnect().GetSession()
	if s.GetProtocolKey() != "telnet/ssl" {
		t.Fatalf("protocol_key over TLS = %q, want telnet/ssl", s.GetProtocolKey())
	}
	// The same telnet inside: offers, then lines.
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	got := make([]byte, len(connectOffers))
	if _, err := ioReadFull(c, got); err != nil || string(got) != connectOffers {
		t.Fatalf("offers over TLS = %q, %v", got, err)
	}
	if _, err := c.Write([]byte("look\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, s.GetSessid(), "look")
	// Plain telnet on the other port is still plain.
	plain, _ := dialClient(t, p, col)
	plain.Close()

	// A client that speaks no TLS on the TLS port fails its handshake.
	bad, err := net.DialTimeout("tcp", p.tlsLn.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Write([]byte("look\r\n\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(waitFor); ownFigure(portal, "tls_handshakes_failed") != failed+1; {
		if time.Now().After(deadline) {
			t.Fatalf("figure tls_handshakes_failed = %v after a failed handshake, want %v",
				ownFigure(portal, "tls_handshakes_failed"), failed+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	bad.Close()

	// A second start finds the pair and serves the same certificate.
	p2, _, err := configure(t, raw, sdk.HostInfo{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	_, served2 := dialTLS(t, p2)
	if !bytes.Equal(served, served2) {
		t.Fatal("a restarted plugin generated a new certificate")
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "cert.pem")); !bytes.Equal(again, certPEM) {
		t.Fatal("the certificate file changed")
	}
}

func TestTLSConfiguredPair(t *testing.T) {
	// A pair made the way the plugin makes one, given as files.
	dir := t.TempDir()
	if err := ensureSelfSigned(filepath.Join(dir, "pair")); err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0",
		"tls_cert": filepath.Join(dir, "pair", "cert.pem"), "tls_key": filepath.Join(dir, "pair", "key.pem")}
	dataDir := t.TempDir()
	p, _, err := configure(t, raw, sdk.HostInfo{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	dialTLS(t, p)
	if _, err := os.Stat(filepath.Join(dataDir, "telnet-tls")); err == nil {
		t.Fatal("a pair was generated although one was configured")
	}
}

func TestMSSPPorts(t *testing.T) {
	raw := map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0", "mssp": map[string]any{"genre": "Fantasy"}}
	p, portal, err := configure(t, raw, sdk.HostInfo{DataDir: t.TempDir(), ServerName: "Game", Version: "9"})
	if err != nil {
		t.Fatal(err)
	}
	col := collect(portal)
	defer col.stop(t)
	c, _ := dialClient(t, p, col)
	if _, err := c.Write([]byte(iac + do + optMSSP)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(got, []byte(iac+se)) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reading MSSP: %v (have %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	table := string(got)
	for _, want := range []string{
		"\x01NAME\x02Game\x01", "\x01CODEBASE\x02Portico 9\x01",
		fmt.Sprintf("\x01PORT\x02%d\x01", listenPort(p.ln)), fmt.Sprintf("\x01SSL\x02%d\x01", listenPort(p.tlsLn)),
		"\x01GENRE\x02Fantasy" + iac + se,
	} {
		if !strings.Contains(table, want) {
			t.Errorf("MSSP table lacks %q:\n%q", want, table)
		}
	}
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// awaitTLSCount waits until the TLS listener counts n connections from
// network.
func awaitTLSCount(t *testing.T, p *Plugin, network string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for p.tlsConns.Count(network) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d TLS connections counted from %s, want %d", p.tlsConns.Count(network), network, n)
		}
		time.Sleep(5 * time.Millisecond) // counted in the accept loop and at close: polled
	}
}

// TestTLSHandshakesPerAddress: connections that have not finished their
// TLS handshake have no session for the SDK to count, yet each holds a
// socket and a goroutine for up to 10 s. One address holds at most
// connections_per_ip of the TLS listener's connections; more are closed at
// once, before any handshake, while another address connects and plays.
// A connection is counted out once when it closes.
func TestTLSHandshakesPerAddress(t *testing.T) {
	host := sdk.HostInfo{DataDir: t.TempDir(), Limits: sdk.Limits{MaxInputLength: 100, ConnectionsPerIP: 3}}
	portal := sdk.NewTestPortalWith(testLogger(), host)
	p := &Plugin{}
	if _, err := p.Configure(context.Background(), sdk.Config{
		Raw: map[string]any{"listen": "127.0.0.1:0", "tls_listen": "127.0.0.1:0"}, Host: host}, portal); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	col := collect(portal)
	defer col.stop(t)
	addr := p.tlsLn.Addr().String()

	// Idle connections that never start a handshake. Dialled one after
	// the other, they are accepted in that order: the first three are
	// within the limit.
	var held []net.Conn
	for range 3 {
		held = append(held, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))
	}
	var over []net.Conn
	for range 20 {
		over = append(over, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))
	}
	for i, nc := range over {
		if !conntest.ClosedWithin(nc, waitFor) {
			t.Fatalf("idle TLS connection %d from one address, past connections_per_ip 3, is still open", 3+i+1)
		}
	}
	for i, nc := range held {
		if conntest.ClosedWithin(nc, conntest.StillOpen) {
			t.Fatalf("idle TLS connection %d, within the limit, was closed", i+1)
		}
	}
	awaitTLSCount(t, p, "127.0.0.2", 3)

	// Another address is not held back: it connects and plays.
	d := &net.Dialer{Timeout: waitFor, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS from another address: %v", err)
	}
	defer c.Close()
	s := col.next(t).GetConnect().GetSession()
	if !strings.HasPrefix(s.GetAddress(), "127.0.0.3:") || s.GetProtocolKey() != ProtocolKeyTLS {
		t.Fatalf("Connect %v, want telnet/ssl from 127.0.0.3", s)
	}
	if _, err := c.Write([]byte("look\r\n")); err != nil {
		t.Fatal(err)
	}
	expectDataIn(t, col, s.GetSessid(), "look")

	// One held connection goes: its address has room for one, once.
	held[0].Close()
	awaitTLSCount(t, p, "127.0.0.2", 2)
	held = held[1:]
	held = append(held, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))
	awaitTLSCount(t, p, "127.0.0.2", 3)
	if nc := conntest.DialFrom(t, "127.0.0.2", addr, waitFor); !conntest.ClosedWithin(nc, waitFor) {
		t.Fatal("a fourth connection was taken after one of three closed")
	}
	// All gone: nothing stays counted.
	for _, nc := range held {
		nc.Close()
	}
	c.Close()
	awaitTLSCount(t, p, "127.0.0.2", 0)
	awaitTLSCount(t, p, "127.0.0.3", 0)
}

// ownFigure returns the plugin's own counter name as the host would be
// sent it (0 before it is counted).
func ownFigure(portal *sdk.Portal, name string) float64 {
	for _, f := range portal.Figures().GetCounters() {
		if f.GetName() == name {
			return f.GetValue()
		}
	}
	return 0
}
