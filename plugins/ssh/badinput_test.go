package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

// expectServerCloses fails unless the server closes nc within d.
func expectServerCloses(t *testing.T, nc net.Conn, d time.Duration) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("the server did not close the connection within %v", d)
			}
			return
		}
	}
}

// TestBadInputNeverStopsThePlugin throws what a hostile or broken client
// might at the plugin, then checks a normal player is served as before.
func TestBadInputNeverStopsThePlugin(t *testing.T) {
	h := startPlugin(t, map[string]any{"login_timeout": "500ms"})

	// Connect and leave at once; leave in the middle of the handshake;
	// send a version and then garbage; send garbage without a version.
	h.rawDial().Close()
	nc := h.rawDial()
	if _, err := nc.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + 13)
	}
	nc = h.rawDial()
	_, _ = nc.Write(append([]byte("SSH-2.0-evil\r\n"), garbage...))
	expectServerCloses(t, nc, waitFor)
	nc = h.rawDial()
	_, _ = nc.Write(garbage)
	expectServerCloses(t, nc, waitFor)

	// A client that says its version and then nothing is cut off at the
	// login timeout.
	nc = h.rawDial()
	if _, err := nc.Write([]byte("SSH-2.0-slow\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expectServerCloses(t, nc, waitFor)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a stalled handshake lasted %v with a 500ms login timeout", d)
	}

	// A client that logs in but never asks for a shell: the same.
	client, err := gossh.Dial("tcp", h.addr, clientConfig("idle", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("a logged-in connection without a session was never closed")
	}

	// An enormous paste and control bytes over a terminal.
	c := mustDial(t, h.addr, clientConfig("mallory", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	if _, err := c.stdin.Write([]byte(strings.Repeat("A", 1<<20) + "\r")); err != nil {
		t.Fatal(err)
	}
	c.expect(t, sdk.MsgTooLong)
	var ctl []byte
	for b := range 256 {
		if b != '\r' && b != '\n' && b != 0x03 && b != 0x04 && b != 0x1c && b != 0x15 && b != 0x17 {
			ctl = append(ctl, byte(b))
		}
	}
	if _, err := c.stdin.Write(append(ctl, '\r')); err != nil {
		t.Fatal(err)
	}
	msgs := h.awaitInput(id)
	text, _ := msgs[0].FirstString()
	for _, r := range text {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("control character %U reached the game in %q", r, text)
		}
	}
	c.Send("still here")
	h.awaitText(id, "still here")

	// A player arriving now is served as usual.
	ok, err := dialClient(h.addr, clientConfig("alice", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	_, okID := h.awaitConnect()
	h.send(okID, sdk.Text("Welcome"))
	ok.expect(t, "Welcome")
}

func TestManyConcurrentConnections(t *testing.T) {
	h := startPlugin(t, nil)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := dialClient(h.addr, clientConfig(fmt.Sprintf("p%d", i), gossh.Password("x")), xterm, "")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Send(fmt.Sprintf("hello from %d", i)); err != nil {
				errs <- err
				return
			}
			if err := c.Expect(fmt.Sprintf("hello from %d\r\n", i), waitFor); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	for len(texts) < n {
		ev := h.next("input or connect")
		// Barriers from clients hanging up (see awaitDisconnected) are
		// not the lines typed.
		for _, m := range ev.GetDataIn().GetMessages() {
			if m.GetName() == "text" && len(m.GetStrArgs()) == 1 {
				texts[m.GetStrArgs()[0]] = true
			}
		}
	}
	deadline := time.Now().Add(waitFor)
	for h.p.open.Load() != 0 || h.portal.Count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %d sessions left after every client left", h.p.open.Load(), h.portal.Count())
		}
		time.Sleep(10 * time.Millisecond) // another process's state: polled
	}
}

func TestMaxConnections(t *testing.T) {
	h := startPlugin(t, map[string]any{"max_connections": 2})
	a, err := dialClient(h.addr, clientConfig("a", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dialClient(h.addr, clientConfig("b", gossh.Password("x")), xterm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dialClient(h.addr, clientConfig("c", gossh.Password("x")), xterm, ""); err == nil {
		t.Fatal("a third connection was accepted with max_connections 2")
	}
	a.Close()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := dialClient(h.addr, clientConfig("c", gossh.Password("x")), xterm, "")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the plugin counts the close out asynchronously
	}
}

func TestMaxSessionsPerConnection(t *testing.T) {
	h := startPlugin(t, map[string]any{"max_sessions": 2})
	client, err := gossh.Dial("tcp", h.addr, clientConfig("multi", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := range 2 {
		if _, err := openSession(client, xterm, ""); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, err := client.NewSession(); err == nil || !strings.Contains(err.Error(), "too many sessions") {
		t.Fatalf("a third session: %v", err)
	}
}

func TestEnvFloodIsBounded(t *testing.T) {
	h := startPlugin(t, nil)
	client, err := gossh.Dial("tcp", h.addr, clientConfig("env", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range 300 {
		if err := sess.Setenv(fmt.Sprintf("V%d", i), strings.Repeat("x", 1000)); err != nil {
			refused++
		}
	}
	if refused != 300-maxEnvRequests {
		t.Fatalf("%d env requests refused, want %d", refused, 300-maxEnvRequests)
	}
	// The session still works.
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	h.awaitConnect()
}

// TestUnansweredKeepalivesClose: a client that stops answering (here, one
// whose SSH library is stalled) is closed after three keepalives.
func TestUnansweredKeepalivesClose(t *testing.T) {
	h := startPlugin(t, map[string]any{"keepalive": "100ms"})
	nc := h.rawDial()
	// The client's global requests (keepalives among them) are never
	// read: its connection stalls at the first keepalive, as a dead
	// peer's would.
	cc, chans, _, err := gossh.NewClientConn(nc, h.addr, clientConfig("ghost", gossh.Password("x")))
	if err != nil {
		t.Fatal(err)
	}
	// NewClient's request handler gets a channel that stays silent until
	// the test ends (nil would block that goroutine for ever).
	silent := make(chan *gossh.Request)
	t.Cleanup(func() { close(silent) })
	client := gossh.NewClient(cc, chans, silent)
	t.Cleanup(func() { client.Close() })
	if _, err := openSession(client, xterm, ""); err != nil {
		t.Fatal(err)
	}
	h.awaitConnect()
	deadline := time.Now().Add(waitFor)
	for h.p.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a client that stopped answering keepalives was never closed")
		}
		time.Sleep(20 * time.Millisecond) // the plugin's connection count: polled
	}
}

// TestAnsweredKeepalivesKeepTheConnection: a live client answers, and its
// session goes on.
func TestAnsweredKeepalivesKeepTheConnection(t *testing.T) {
	h := startPlugin(t, map[string]any{"keepalive": "50ms"})
	c := mustDial(t, h.addr, clientConfig("live", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	time.Sleep(500 * time.Millisecond) // ten keepalive periods: there is no event to wait for
	c.Send("still here")
	h.awaitText(id, "still here")
}

func TestMaxTimeoutClosesConnections(t *testing.T) {
	h := startPlugin(t, map[string]any{"max_timeout": "300ms"})
	c := mustDial(t, h.addr, clientConfig("brief", gossh.Password("x")), xterm, "")
	_, id := h.awaitConnect()
	if err := c.ExpectClosed(waitFor); err != nil {
		t.Fatal(err)
	}
	h.awaitDisconnected(id)
}
