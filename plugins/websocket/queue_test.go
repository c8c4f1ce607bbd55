package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// dialFrom opens a websocket to path from the loopback address local, so
// that a test can play several clients' addresses.
func (h *harness) dialFrom(local, path string) *wsClient {
	h.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.ws+path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	h.t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: h.t, c: c, resp: resp}
}

// queueLimits are a host's limits under which an address's second
// connection within a second waits for its turn.
var queueLimits = sdk.HostInfo{ServerName: "TestGame", Limits: sdk.Limits{MaxInputLength: hostMaxInput,
	ConnectionRate: 1, ConnectionQueueWait: 10 * time.Second}}

// awaitCount waits until the portal holds n sessions (a queued
// connection's session exists while it waits).
func (h *harness) awaitCount(n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for h.portal.Count() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d sessions, want %d", h.portal.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueuedClientHoldsNobody: a client waiting its turn in its address's
// connection queue does not keep a client from another address waiting
// (the plugin does not wait in NewSession under a lock of its own).
func TestQueuedClientHoldsNobody(t *testing.T) {
	h := newHarnessWith(t, nil, func(_ *Plugin, host *sdk.HostInfo) { *host = queueLimits })
	h.dialFrom("127.0.0.2", "/")
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("first session from %s", d.Address)
	}
	// The second from that address waits a second for its turn.
	h.dialFrom("127.0.0.2", "/")
	h.awaitCount(2)
	start := time.Now()
	h.dialFrom("127.0.0.3", "/")
	d := h.connected()
	if !strings.HasPrefix(d.Address, "127.0.0.3:") || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("first connect after the queued one: from %s after %v; want 127.0.0.3 at once", d.Address, time.Since(start))
	}
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("then from %s, want the queued one", d.Address)
	}
}

// TestSameCsessidWhileQueued: two connections with one csessid, the first
// queued for its turn while the second gets in and makes the session: when
// the first's turn comes it resumes that session (the newest connection
// wins, as for any resume) and its own goes, unannounced. One session.
func TestSameCsessidWhileQueued(t *testing.T) {
	h := newHarnessWith(t, nil, func(_ *Plugin, host *sdk.HostInfo) { *host = queueLimits })
	h.dialFrom("127.0.0.2", "/")
	h.connected()
	csessid := newCsessid()
	queued := h.dialFrom("127.0.0.2", "/ws?"+csessid)
	h.awaitCount(2)
	other := h.dialFrom("127.0.0.3", "/ws?"+csessid)
	id := h.connected().Sessid
	queued.expectText(resumedFrame)
	other.expectClosed(closeReplaced)
	h.connectionEnded()
	if h.portal.Count() != 2 || h.portal.Session(id) == nil {
		t.Fatalf("%d sessions (session %d there: %v), want the first and the shared one", h.portal.Count(), id, h.portal.Session(id) != nil)
	}
	h.noEvent() // no second Connect, and no Disconnected of a session the host never knew
}
