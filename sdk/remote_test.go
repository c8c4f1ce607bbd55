package sdk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/edge"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

func TestParseFlags(t *testing.T) {
	f, err := ParseFlags("p", nil)
	if err != nil || f != (Flags{}) {
		t.Fatalf("no arguments (go-plugin's launch): %+v, %v", f, err)
	}
	f, err = ParseFlags("p", []string{"--connect", "h:7400", "--identity", "/x"})
	if err != nil || f.Connect != "h:7400" || f.Identity != "/x" {
		t.Fatalf("both flags: %+v, %v", f, err)
	}
	for _, bad := range [][]string{{"--connect", "h:7400"}, {"--identity", "/x"}, {"--connect", "nohost", "--identity", "/x"},
		{"extra"}, {"--nope"}} {
		if _, err := ParseFlags("p", bad); err == nil || !strings.Contains(err.Error(), "p:") {
			t.Errorf("%q: want an error naming the program, got %v", bad, err)
		}
	}
}

// testPKI makes a CA, a host certificate for "portico-host" and an edge's
// client certificate, as core/pki does.
func testPKI(t *testing.T) (host, client *tls.Config) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	host = &tls.Config{Certificates: []tls.Certificate{leaf(2, "portico-host", x509.ExtKeyUsageServerAuth)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{leaf(3, "edge1", x509.ExtKeyUsageClientAuth)},
		RootCAs: pool, ServerName: "portico-host", MinVersion: tls.VersionTLS13}
	return host, client
}

// remoteHost is a minimal host for a remote plugin: it accepts one
// connection at a time and speaks the contract over it.
type remoteHost struct {
	t  *testing.T
	ln net.Listener
}

func (h *remoteHost) accept() *edge.Conn {
	h.t.Helper()
	type res struct {
		c   *edge.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		conn, err := h.ln.Accept()
		if err != nil {
			ch <- res{err: err}
			return
		}
		if err := conn.(*tls.Conn).Handshake(); err != nil {
			conn.Close()
			ch <- res{err: err}
			return
		}
		c, err := edge.Accept(conn, "edge1")
		ch <- res{c, err}
	}()
	r := wait(h.t, ch, "the plugin's connection")
	if r.err != nil {
		h.t.Fatal(r.err)
	}
	return r.c
}

// openData opens the data link and proves the host with secret.
func openData(t *testing.T, c *edge.Conn, secret []byte) (net.Conn, *wire.FrameReader) {
	t.Helper()
	st, err := c.OpenData()
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(testTimeout))
	if _, err := st.Write(wire.AppendHello(nil, wire.DataLinkVersion, secret)); err != nil {
		t.Fatal(err)
	}
	rd := wire.NewFrameReader(st)
	if typ, _, err := rd.Next(); err != nil || typ != wire.FrameHello {
		t.Fatalf("no hello from the plugin: %v %v", typ, err)
	}
	return st, rd
}

// nextEvent reads the data link to the next event.
func nextEvent(t *testing.T, rd *wire.FrameReader) *portalpb.Event {
	t.Helper()
	for {
		typ, body, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if typ != wire.FrameEvents {
			continue
		}
		evs, err := wire.ParseEvents(body)
		if err != nil || len(evs) == 0 {
			t.Fatalf("events: %v %v", evs, err)
		}
		return evs[0]
	}
}

// TestServeRemote: a plugin dials its host over mutual TLS, serves the
// portal service and its data link over the one connection, keeps its
// session when the connection drops (the client is told the server is
// restarting), redials, and a host on the new connection finds the
// session and the input typed meanwhile; the host's Shutdown ends it.
func TestServeRemote(t *testing.T) {
	hostTLS, clientTLS := testPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", hostTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := &remoteHost{t: t, ln: ln}
	plugin := &gracePlugin{shutdown: make(chan struct{})}
	logged := &lockedLog{}
	srv := NewServer(plugin, slog.New(slog.NewTextHandler(logged, nil)))
	served := make(chan error, 1)
	go func() { served <- srv.ServeRemote(ln.Addr().String(), clientTLS) }()
	defer srv.Close()

	ctx := testCtx(t)
	c := h.accept()
	instance := c.Instance
	token, err := edge.NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	client := portalpb.NewPortalClient(c.GRPC)
	resp, err := client.Configure(ctx, &portalpb.ConfigureRequest{Host: &portalpb.HostInfo{
		SessidStart: 1, SessidCount: 100, ReattachGraceMs: 10_000, ReattachToken: token[:]}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetProtocolKey() != "grace" || resp.GetDataPath() != edge.DataPath || len(resp.GetDataSecret()) == 0 {
		t.Fatalf("configure answer: %v", resp)
	}
	data, rd := openData(t, c, resp.GetDataSecret())
	conn := &graceConn{done: make(chan struct{}), told: make(chan struct{}, 1)}
	sess, err := srv.Portal().NewSession(ctx, conn, "grace", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	sess.Connect()
	if ev := nextEvent(t, rd); ev.GetConnect() == nil {
		t.Fatalf("want the session's connect, got %v", ev)
	}
	data.Close()

	// The host goes away without a word.
	c.Close()
	wait(t, conn.told, "the client being told the server is restarting")
	conn.mu.Lock()
	told := conn.sent[0]
	conn.mu.Unlock()
	if told != MsgHostLost {
		t.Fatalf("client told %q, want %q", told, MsgHostLost)
	}
	sess.DataIn(Text("still here?"))

	// The plugin redials; the next host finds the session and the input.
	c = h.accept()
	defer c.Close()
	// Its hello presents the token the host gave it, not its own id.
	if c.Instance != token {
		t.Errorf("the redial's hello said %s, want the host's reattach token %s (its own id was %s)",
			c.Instance.Fingerprint(), token.Fingerprint(), instance.Fingerprint())
	}
	client = portalpb.NewPortalClient(c.GRPC)
	resp, err = client.Configure(ctx, &portalpb.ConfigureRequest{Host: &portalpb.HostInfo{
		SessidStart: 101, SessidCount: 100, ReattachGraceMs: 10_000}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := client.Sessions(ctx, &portalpb.SessionsRequest{})
	if err != nil || len(ss.GetSessions()) != 1 || ss.GetSessions()[0].GetSessid() != sess.ID() {
		t.Fatalf("sessions after the redial: %v %v", ss, err)
	}
	data, rd = openData(t, c, resp.GetDataSecret())
	defer data.Close()
	if ev := nextEvent(t, rd); ev.GetDataIn() == nil || ev.GetDataIn().GetMessages()[0].GetStrArgs()[0] != "still here?" {
		t.Fatalf("want the input typed while the host was away, got %v", ev)
	}
	if _, err := client.Shutdown(ctx, &portalpb.ShutdownRequest{Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, served, "ServeRemote to return"); err != nil {
		t.Fatal(err)
	}
	if conn.closed != "bye" {
		t.Fatalf("client closed with %q", conn.closed)
	}
	// The instance id proves the process on a redial: it is never logged,
	// only its fingerprint.
	if logged.lines(instance.String()) != 0 || logged.lines("instance="+instance.Fingerprint()) == 0 {
		t.Errorf("the plugin's log has its instance id, or no fingerprint of it (%s)", instance.Fingerprint())
	}
}

// TestServeRemoteNoHost: a plugin that never reaches a host gives up after
// the grace, as a local plugin whose host never linked does.
func TestServeRemoteNoHost(t *testing.T) {
	_, clientTLS := testPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	srv := NewServer(&gracePlugin{shutdown: make(chan struct{})}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer srv.Close()
	lost := make(chan struct{})
	srv.OnHostLost = func() { close(lost) }
	srv.mu.Lock()
	srv.awaitFirstLinkLocked(300 * time.Millisecond)
	srv.mu.Unlock()
	served := make(chan error, 1)
	go func() { served <- srv.ServeRemote(addr, clientTLS) }()
	wait(t, lost, "the plugin giving up")
	if err := wait(t, served, "ServeRemote to return"); err != nil {
		t.Fatal(err)
	}
}
