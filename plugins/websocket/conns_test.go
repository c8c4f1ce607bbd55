package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest/conntest"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// What one address can hold before it has a session: every TCP
// connection counts against the host's connections_per_ip from accept, and
// the limit is the current host's.

// getKeepAlive fetches the page over nc and leaves the connection open
// and idle, as a browser keeps it for its next request.
func getKeepAlive(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	defer nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: game.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /: %s, close %v; want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
}

// awaitConns waits until the plugin counts n connections from network.
func (h *harness) awaitConns(network string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for h.p.conns.Count(network) != n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d connections counted from %s, want %d", h.p.conns.Count(network), network, n)
		}
		time.Sleep(5 * time.Millisecond) // counted in the accept loop and at close: polled
	}
}

// tellWait is how long a connection over its address's limit is kept to
// be told so, in these tests.
const tellWait = 500 * time.Millisecond

// TestIdleConnectionsPerAddress: HTTP connections that never send their
// request (each held up to the server's 10 s header timeout) and idle
// keep-alive ones (up to 2 minutes) have no session for the SDK to count.
// One address holds at most connections_per_ip connections of any kind;
// more are closed within tellWait (a few are kept that long to be told
// why: a websocket gets the reason and 1008, a page request 503 and the
// reason), while another address gets the page and plays. Each connection
// is counted out once, when it closes.
func TestIdleConnectionsPerAddress(t *testing.T) {
	h := newHarnessWith(t, nil, func(p *Plugin, host *sdk.HostInfo) {
		host.ConnectionsPerIP = 3
		p.tellWait = tellWait
	})
	addr := strings.TrimPrefix(h.http, "http://")

	// Dialled one after the other, they are accepted in that order: these
	// three are within the limit.
	held := []net.Conn{conntest.DialFrom(t, "127.0.0.2", addr, waitFor), conntest.DialFrom(t, "127.0.0.2", addr, waitFor)}
	keepAlive := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
	getKeepAlive(t, keepAlive)
	held = append(held, keepAlive)
	var over []net.Conn
	for range 20 {
		over = append(over, conntest.DialFrom(t, "127.0.0.2", addr, waitFor))
	}
	for i, nc := range over {
		if !conntest.ClosedWithin(nc, waitFor) {
			t.Fatalf("idle connection %d from one address, past connections_per_ip 3, is still open", 3+i+1)
		}
	}
	for i, nc := range held {
		if conntest.ClosedWithin(nc, conntest.StillOpen) {
			t.Fatalf("idle connection %d, within the limit, was closed", i+1)
		}
	}
	// A websocket past the limit is told why, as the SDK tells a client
	// it refuses, and no session is made for it; a page request gets 503.
	refused := h.dialFrom("127.0.0.2", "/")
	refused.expectText(notice(sdk.MsgTooManyConnections))
	if reason := refused.expectClosed(websocket.StatusPolicyViolation); reason != sdk.MsgTooManyConnections {
		t.Fatalf("close reason %q", reason)
	}
	page := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
	_ = page.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(page, "GET / HTTP/1.1\r\nHost: game.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(page), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), sdk.MsgTooManyConnections) {
		t.Fatalf("the page past the limit: %s %q", resp.Status, body)
	}
	h.noEvent()
	h.awaitConns("127.0.0.2", 3)

	// Another address is not held back.
	if resp, body := h.get("/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "webclient.js") {
		t.Fatalf("the page from 127.0.0.1: %s", resp.Status)
	}
	c := h.dialFrom("127.0.0.3", "/")
	d := h.connected()
	if !strings.HasPrefix(d.Address, "127.0.0.3:") {
		t.Fatalf("session from %s, want 127.0.0.3", d.Address)
	}
	h.send(d.Sessid, sdk.Text("hello"))
	c.expectText(`["text",["hello"],{}]`)

	// One held connection goes: room for exactly one more, a websocket.
	held[0].Close()
	h.awaitConns("127.0.0.2", 2)
	h.dialFrom("127.0.0.2", "/")
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("session from %s, want 127.0.0.2", d.Address)
	}
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", addr, waitFor), waitFor) {
		t.Fatal("a fourth connection was taken after one of three closed")
	}
	// All gone: nothing stays counted.
	for _, nc := range held[1:] {
		nc.Close()
	}
	c.drop()
	h.connectionEnded()
	h.awaitConns("127.0.0.3", 0)
	h.awaitConns("127.0.0.2", 1) // the websocket
}

// TestProxyConnectionsNotCounted: behind a trusted proxy every client's
// TCP connection comes from the proxy's address, which is therefore not
// counted (the clients it names are, from the handshake on); a peer that
// is no trusted proxy still is.
func TestProxyConnectionsNotCounted(t *testing.T) {
	h := newHarnessWith(t, map[string]any{"trusted_proxies": []any{"127.0.0.1"}},
		func(p *Plugin, host *sdk.HostInfo) {
			host.ConnectionsPerIP = 2
			p.tellWait = tellWait
		})
	addr := strings.TrimPrefix(h.http, "http://")
	var proxied []net.Conn
	for range 5 {
		proxied = append(proxied, conntest.DialFrom(t, "127.0.0.1", addr, waitFor))
	}
	direct := []net.Conn{conntest.DialFrom(t, "127.0.0.2", addr, waitFor), conntest.DialFrom(t, "127.0.0.2", addr, waitFor)}
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", addr, waitFor), waitFor) {
		t.Fatal("a third connection from 127.0.0.2, no proxy, was taken with connections_per_ip 2")
	}
	for i, nc := range append(proxied, direct...) {
		if conntest.ClosedWithin(nc, conntest.StillOpen) {
			t.Fatalf("connection %d was closed", i+1)
		}
	}
	if got := h.p.conns.Count("127.0.0.1"); got != 0 {
		t.Fatalf("the proxy's connections counted: %d", got)
	}
	// A client through the proxy plays.
	h.dialAs("192.0.2.7").sendSession(newCsessid())
	if d := h.connected(); d.Address != "192.0.2.7" {
		t.Fatalf("session address %q", d.Address)
	}
}

// dialAs opens a portico.v1 websocket through a trusted proxy at
// 127.0.0.1 for the client address client, named in X-Forwarded-For.
func (h *harness) dialAs(client string) *wsClient {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.ws+"/ws", &websocket.DialOptions{
		Subprotocols: []string{ProtoPortico},
		HTTPHeader:   http.Header{"X-Forwarded-For": {client}},
	})
	if err != nil {
		h.t.Fatalf("dial as %s: %v", client, err)
	}
	h.t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: h.t, c: c, resp: resp}
}

// TestLimitsFollowReattach: a host that reattaches (a reload) configures
// the SDK again, which does not call the plugin's Configure again; a new
// connections_per_ip applies all the same, to connections without a
// session yet (pending, here through a proxy) and to every TCP connection
// (from accept).
func TestLimitsFollowReattach(t *testing.T) {
	p := &Plugin{tellWait: tellWait}
	srv := sdk.NewServer(p, testLogger())
	cfg, err := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "trusted_proxies": []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	configure := func(perIP int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if _, err := srv.Configure(ctx, &portalpb.ConfigureRequest{ConfigJson: cfg, Host: &portalpb.HostInfo{
			ServerName: "TestGame", MaxInputLength: hostMaxInput, SessidStart: next, SessidCount: 100,
			ReattachGraceMs: time.Hour.Milliseconds(), ConnectionsPerIp: uint32(perIP)}}); err != nil {
			t.Fatalf("Configure: %v", err)
		}
		next += 100
	}
	configure(1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := srv.Shutdown(ctx, &portalpb.ShutdownRequest{}); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	addr := p.Addr().String()
	h := &harness{t: t, p: p, ws: "ws://" + addr, http: "http://" + addr}
	portal := srv.Portal()

	// Connections without a session, counted by the address the proxy
	// names: one, then the next is refused.
	h.dialAs("192.0.2.1")
	if reason := h.dialAs("192.0.2.1").expectClosed(websocket.StatusPolicyViolation); reason != sdk.MsgTooManyConnections {
		t.Fatalf("second silent connection with connections_per_ip 1: close reason %q", reason)
	}
	// Direct connections, counted from accept: one.
	direct := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", addr, waitFor), waitFor) {
		t.Fatal("a second connection from 127.0.0.2 was taken with connections_per_ip 1")
	}

	// Reattached with 3: two more silent ones, one of which then speaks
	// and has its session, and one more direct.
	configure(3)
	h.dialAs("192.0.2.1")
	h.dialAs("192.0.2.1").sendSession(newCsessid())
	deadline := time.Now().Add(waitFor)
	for portal.Count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want the one that spoke", portal.Count())
		}
		time.Sleep(5 * time.Millisecond) // the session is made in the plugin's goroutine: polled
	}
	more := conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
	if conntest.ClosedWithin(more, conntest.StillOpen) || conntest.ClosedWithin(direct, conntest.StillOpen) {
		t.Fatal("a second connection from 127.0.0.2 was closed with connections_per_ip 3")
	}
	conntest.DialFrom(t, "127.0.0.2", addr, waitFor)
	if !conntest.ClosedWithin(conntest.DialFrom(t, "127.0.0.2", addr, waitFor), waitFor) {
		t.Fatal("a fourth connection from 127.0.0.2 was taken with connections_per_ip 3")
	}
}
