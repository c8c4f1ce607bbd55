package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	"github.com/portico-mud/portico/sdk/portalpb"
	gossh "golang.org/x/crypto/ssh"
)

// Connections still logging in (startups.go): at most connections_per_ip
// per address, counted out exactly once, and closed at login_grace unless
// authenticated.

// sshFrom logs in over SSH from src; it opens no session.
func sshFrom(src, addr string, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	d := net.Dialer{Timeout: waitFor, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cc, chans, reqs, err := gossh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return gossh.NewClient(cc, chans, reqs), nil
}

// serverGreeting reads what the server says first on nc: its SSH version
// line, or nothing (err) when it closed the connection.
func serverGreeting(nc net.Conn) (string, error) {
	_ = nc.SetReadDeadline(time.Now().Add(waitFor))
	defer nc.SetReadDeadline(time.Time{})
	return bufio.NewReaderSize(nc, 256).ReadString('\n')
}

// expectGreeted fails unless the server took nc and sent its version.
func expectGreeted(t *testing.T, nc net.Conn) {
	t.Helper()
	line, err := serverGreeting(nc)
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-"+serverVersion) {
		t.Fatalf("no SSH version from the server: %q, %v", line, err)
	}
}

// expectRefused fails unless the server closed nc at once without a byte:
// no version exchange, so no key exchange.
func expectRefused(t *testing.T, nc net.Conn) {
	t.Helper()
	line, err := serverGreeting(nc)
	if line != "" || !isClosed(err) {
		t.Fatalf("a connection over the limit got %q, %v; want it closed without a byte", line, err)
	}
}

// isClosed reports whether err is the peer closing the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// awaitClosed reads nc until the server closes it and returns how long
// that took.
func awaitClosed(t *testing.T, nc net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	_ = nc.SetReadDeadline(start.Add(waitFor))
	b := make([]byte, 512)
	for {
		_, err := nc.Read(b)
		if isClosed(err) {
			return time.Since(start)
		}
		if err != nil {
			t.Fatalf("the server did not close the connection: %v", err)
		}
	}
}

// awaitStartups waits until addr's count of connections logging in is
// want, and the plugin's count of open connections is open.
func awaitStartups(t *testing.T, h *harness, addr string, want int, open int64) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for h.p.startups.perAddr.Count(addr) != want || h.p.open.Load() != open {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections from %s logging in, %d open; want %d and %d",
				h.p.startups.perAddr.Count(addr), addr, h.p.open.Load(), want, open)
		}
		time.Sleep(5 * time.Millisecond) // the plugin counts closes out in its own goroutines: polled
	}
}

// TestStartupsPerAddress: one address holds at most connections_per_ip
// connections that have not logged in; one more is closed before the SSH
// version exchange, while another address logs in and a session of the
// first address already in the game carries on.
func TestStartupsPerAddress(t *testing.T) {
	h := startPluginWith(t, t.TempDir(), nil, 3)
	// In the game before the flood: it does not count as logging in.
	first, err := dialClient(h.addr, clientConfig("first", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, firstID := h.awaitConnect()
	awaitStartups(t, h, "127.0.0.1", 0, 1)

	var held []net.Conn
	for range 3 {
		nc := conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor)
		expectGreeted(t, nc)
		held = append(held, nc)
	}
	awaitStartups(t, h, "127.0.0.1", 3, 4)
	expectRefused(t, conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor))
	if _, err := sshFrom("127.0.0.1", h.addr, clientConfig("more", gossh.Password("x"))); err == nil {
		t.Fatal("a fourth connection from 127.0.0.1 logged in with connections_per_ip 3")
	}

	// Another address logs in and plays.
	client, err := sshFrom("127.0.0.2", h.addr, clientConfig("other", gossh.Password("x")))
	if err != nil {
		t.Fatalf("a client from 127.0.0.2 could not log in: %v", err)
	}
	other, err := openSession(client, xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, otherID := h.awaitConnect()
	if !strings.HasPrefix(c.GetSession().GetAddress(), "127.0.0.2:") {
		t.Fatalf("session address %q", c.GetSession().GetAddress())
	}
	other.Send("hello from elsewhere")
	h.awaitText(otherID, "hello from elsewhere")
	first.Send("still here")
	h.awaitText(firstID, "still here")

	// One of the held connections goes: its address has room for one.
	held[0].Close()
	awaitStartups(t, h, "127.0.0.1", 2, 4)
	expectGreeted(t, conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor))
	awaitStartups(t, h, "127.0.0.1", 3, 5)
}

// TestLoginGraceClosesUnauthenticated: a connection that has not
// authenticated within login_grace is closed and counted out, once; one
// that authenticated in time is past it and opens its session later.
func TestLoginGraceClosesUnauthenticated(t *testing.T) {
	// Two seconds: the witness's whole SSH handshake and authentication
	// must fit in it (a loaded machine can take a good part of a second),
	// and so must the test's check that the idle connection is counted
	// in; the idle one's close is still well within waitFor.
	const grace = 2 * time.Second
	h := startPluginWith(t, t.TempDir(), map[string]any{"login_grace": grace.String(), "login_timeout": "30s"}, 4)
	// Authenticated, no session yet: still logging in, but past the
	// grace. It witnesses that the idle connection is counted out once.
	authed, err := sshFrom("127.0.0.1", h.addr, clientConfig("patient", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer authed.Close()
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// Timed from before the dial: the plugin's timer starts after it, so
	// the close comes no sooner than grace later, however slow the
	// machine.
	dialed := time.Now()
	idle := conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor)
	expectGreeted(t, idle)
	awaitStartups(t, h, "127.0.0.1", 2, 2)
	awaitClosed(t, idle)
	if took := time.Since(dialed); took < grace {
		t.Fatalf("closed %v after the dial, before login_grace %v", took, grace)
	}
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// A longer grace than the idle one had has passed since the witness
	// authenticated: its session opens all the same.
	sess, err := openSession(authed, xterm, "")
	if err != nil {
		t.Fatalf("an authenticated connection was cut at login_grace: %v", err)
	}
	defer sess.Close()
	h.awaitConnect()
	awaitStartups(t, h, "127.0.0.1", 0, 1)
}

// TestStartupsCountedOutOnce: every way a connection stops logging in
// counts it out exactly once. A witness connection logging in throughout
// shows a second count-out: the address's count would drop below it.
func TestStartupsCountedOutOnce(t *testing.T) {
	h := startPluginWith(t, t.TempDir(), map[string]any{"login_timeout": "30s"}, 3)
	witness, err := sshFrom("127.0.0.1", h.addr, clientConfig("witness", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// A failed handshake: an overlong version line.
	nc := conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor)
	expectGreeted(t, nc)
	awaitStartups(t, h, "127.0.0.1", 2, 2)
	if _, err := nc.Write([]byte(strings.Repeat("x", 300))); err != nil {
		t.Fatal(err)
	}
	awaitClosed(t, nc)
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// A client that hangs up before the handshake.
	nc = conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor)
	expectGreeted(t, nc)
	awaitStartups(t, h, "127.0.0.1", 2, 2)
	nc.Close()
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// Logged in, a session, the session's end and the connection's.
	c, err := dialClient(h.addr, clientConfig("player", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	_, id := h.awaitConnect()
	awaitStartups(t, h, "127.0.0.1", 1, 2)
	h.disconnect(id, "bye")
	if err := c.ExpectClosed(waitFor); err != nil {
		t.Fatal(err)
	}
	c.Close()
	awaitStartups(t, h, "127.0.0.1", 1, 1)

	// The address still has exactly its limit: two more, not three.
	expectGreeted(t, conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor))
	expectGreeted(t, conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor))
	expectRefused(t, conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor))
	awaitStartups(t, h, "127.0.0.1", 3, 3)

	witness.Close()
	awaitStartups(t, h, "127.0.0.1", 2, 2)
}

// TestLoginTimeoutCountsOut: an authenticated connection that opens no
// session is closed at login_timeout and counted out.
func TestLoginTimeoutCountsOut(t *testing.T) {
	// The handshake and authentication must fit in login_timeout (it
	// runs from the TCP accept): two seconds leave a loaded machine room.
	h := startPluginWith(t, t.TempDir(), map[string]any{"login_timeout": "2s"}, 2)
	client, err := sshFrom("127.0.0.1", h.addr, clientConfig("idle", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	awaitStartups(t, h, "127.0.0.1", 1, 1)
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("a connection without a session outlived login_timeout")
	}
	awaitStartups(t, h, "127.0.0.1", 0, 0)
}

// TestShutdownClosesConnectionsLoggingIn: Shutdown closes connections
// still in the handshake, which gliderlabs' Close does not know of.
func TestShutdownClosesConnectionsLoggingIn(t *testing.T) {
	h := startPluginWith(t, t.TempDir(), nil, 2)
	nc := conntest.DialFrom(t, "127.0.0.1", h.addr, waitFor)
	expectGreeted(t, nc)
	awaitStartups(t, h, "127.0.0.1", 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := awaitClosed(t, nc); took > waitFor/2 {
		t.Fatalf("closed after %v", took)
	}
	awaitStartups(t, h, "127.0.0.1", 0, 0)
}

// TestBadLoginGraceIsRefused: Configure takes a good login_grace and
// refuses a bad one, naming the key.
func TestBadLoginGraceIsRefused(t *testing.T) {
	configure := func(v any) error {
		p := &Plugin{}
		_, err := p.Configure(context.Background(), sdk.Config{
			Raw:  map[string]any{"listen": "127.0.0.1:0", "login_grace": v},
			Host: sdk.HostInfo{DataDir: t.TempDir()}}, sdk.NewTestPortal(testLogger()))
		if err == nil {
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return err
	}
	if err := configure("5s"); err != nil {
		t.Fatalf("login_grace 5s: %v", err)
	}
	for _, v := range []any{"0", 0, "-1s", "soon"} {
		err := configure(v)
		if err == nil {
			t.Fatalf("login_grace %v was accepted", v)
		}
		if !strings.Contains(err.Error(), "login_grace") || strings.Contains(err.Error(), "unknown key") {
			t.Fatalf("login_grace %v: error %q does not name the key as a bad value", v, err)
		}
	}
}

// TestRefusedSessionClosesItsConnection: a connection whose session the
// SDK's per-address limit refuses is told so and closed, not left to
// linger uncounted (it no longer counts as logging in).
func TestRefusedSessionClosesItsConnection(t *testing.T) {
	s := suite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	h := plugintest.StartWith(t, s, plugintest.HostOptions{ConnectionsPerIP: 1})
	first, err := dialClient(h.Addr(), clientConfig("first", gossh.Password("")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	h.AwaitConnect()

	client, err := gossh.Dial("tcp", h.Addr(), clientConfig("second", gossh.Password("")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	second, err := openSession(client, xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	second.expect(t, sdk.MsgTooManyConnections)
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(lingerAfterLast / 2):
		t.Fatal("the connection of a refused session was left open")
	}
}

// TestStartupsLimitFollowsReattach: the per-address limit on connections
// logging in is the current host's connections_per_ip. A host that
// reattaches (a reload) configures the SDK again, which does not call the
// plugin's Configure again; the new limit applies all the same, raised or
// lowered.
func TestStartupsLimitFollowsReattach(t *testing.T) {
	p := &Plugin{}
	srv := sdk.NewServer(p, testLogger())
	cfg, err := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "login_timeout": "30s", "login_grace": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	next := uint64(1)
	configure := func(perIP int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if _, err := srv.Configure(ctx, &portalpb.ConfigureRequest{ConfigJson: cfg, Host: &portalpb.HostInfo{
			ServerName: "TestGame", DataDir: dataDir, MaxInputLength: 100, SessidStart: next, SessidCount: 100,
			ReattachGraceMs: time.Hour.Milliseconds(), ConnectionsPerIp: uint32(perIP)}}); err != nil {
			t.Fatalf("Configure: %v", err)
		}
		next += 100
	}
	configure(2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if _, err := srv.Shutdown(ctx, &portalpb.ShutdownRequest{}); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	addr := p.Addr().String()
	var held []net.Conn
	for range 2 {
		nc := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
		expectGreeted(t, nc)
		held = append(held, nc)
	}
	expectRefused(t, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))

	// Reattached with a higher limit: two more.
	configure(4)
	for range 2 {
		nc := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
		expectGreeted(t, nc)
		held = append(held, nc)
	}
	expectRefused(t, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))

	// And with a lower one: with two of the four gone, still none.
	configure(1)
	held[0].Close()
	held[1].Close()
	deadline := time.Now().Add(waitFor)
	for p.startups.perAddr.Count("127.0.0.2") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted, want 2", p.startups.perAddr.Count("127.0.0.2"))
		}
		time.Sleep(5 * time.Millisecond) // counted out in the plugin's goroutines: polled
	}
	expectRefused(t, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))
	// Another address has its own count, at the new limit.
	expectGreeted(t, conntest.DialFrom(t, "127.0.0.3", addr, waitFor))
	expectRefused(t, conntest.DialFrom(t, "127.0.0.3", addr, waitFor))
}
