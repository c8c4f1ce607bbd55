package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// dialFrom opens a websocket to path from the loopback address local,
// offering protos, so that a test can play several clients' addresses.
func (h *harness) dialFrom(local, path string, protos ...string) *wsClient {
	h.t.Helper()
	c, err := h.tryDialFrom(local, path, protos...)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// tryDialFrom is dialFrom returning the dial's error.
func (h *harness) tryDialFrom(local, path string, protos ...string) (*wsClient, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.ws+path, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: d.DialContext}},
		Subprotocols: protos,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", path, local, err)
	}
	c.SetReadLimit(1 << 20)
	h.t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: h.t, c: c, resp: resp}, nil
}

// queueLimits are a host's limits under which an address's second
// connection within a second waits for its turn.
var queueLimits = sdk.HostInfo{ServerName: "TestGame", Limits: sdk.Limits{MaxInputLength: hostMaxInput,
	ConnectionRate: 1, ConnectionQueueWait: 10 * time.Second}}

// queueTurn is the time between turns in tests that time them, or that
// must act while a client waits: one connection every 3 s per address
// (sdk.NewTestPortalWithRate), so that a loaded machine has seconds to
// spare either way, where at the host's slowest rate, one a second, it
// had fractions of one.
const queueTurn = 3 * time.Second

// newQueueHarness is a harness under queueLimits with one connection per
// queueTurn per address.
func newQueueHarness(t *testing.T, raw map[string]any) *harness {
	t.Helper()
	return newHarnessRate(t, raw, func(_ *Plugin, host *sdk.HostInfo) { *host = queueLimits }, 1/queueTurn.Seconds())
}

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
	h := newQueueHarness(t, nil)
	h.dialFrom("127.0.0.2", "/")
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("first session from %s", d.Address)
	}
	// The second from that address waits queueTurn for its turn.
	h.dialFrom("127.0.0.2", "/")
	h.awaitCount(2)
	start := time.Now()
	h.dialFrom("127.0.0.3", "/")
	d := h.connected()
	if !strings.HasPrefix(d.Address, "127.0.0.3:") || time.Since(start) > queueTurn/2 {
		t.Fatalf("first connect after the queued one: from %s after %v; want 127.0.0.3 at once", d.Address, time.Since(start))
	}
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("then from %s, want the queued one", d.Address)
	}
}

// TestSameCsessidWhileQueued: two connections with one csessid, the first
// queued for its turn while the second, from another address, gets in and
// makes the session. When the first's turn comes it finds that session
// open from another network, so the second's connection is pinged: dead,
// the first resumes the session (as if it had come second) and its own
// goes, unannounced; alive, the first keeps a new session of its own,
// told why. One session for the token either way.
func TestSameCsessidWhileQueued(t *testing.T) {
	for _, alive := range []bool{false, true} {
		t.Run(map[bool]string{false: "other dead", true: "other alive"}[alive], func(t *testing.T) {
			h := newQueueHarness(t, map[string]any{"ping_timeout": "300ms"})
			h.dialFrom("127.0.0.2", "/")
			h.connected()
			csessid := newCsessid()
			queued := h.dialFrom("127.0.0.2", "/ws?"+csessid)
			h.awaitCount(2)
			other := h.dialFrom("127.0.0.3", "/ws?"+csessid)
			id := h.connected().Sessid
			if alive {
				other.pong()
			}
			queued.expectQueued()
			if !alive {
				queued.expectText(resumedFrame)
				h.connectionEnded() // the other, dropped
				if h.portal.Count() != 2 || h.portal.Session(id) == nil {
					t.Fatalf("%d sessions (session %d there: %v), want the first and the shared one", h.portal.Count(), id, h.portal.Session(id) != nil)
				}
				h.noEvent() // no second Connect, and no Disconnected of a session the host never knew
				return
			}
			queued.expectText(notice(msgInUseElsewhere))
			if d := h.connected(); d.Sessid == id || d.Csessid != "" {
				t.Fatalf("the queued one's session: %d, csessid %q; want a new one without the token", d.Sessid, d.Csessid)
			}
			h.send(id, sdk.Text("still yours"))
			other.expectText(`["text",["still yours"],{}]`)
			if h.portal.Count() != 3 {
				t.Fatalf("%d sessions, want 3", h.portal.Count())
			}
		})
	}
}

// queuedPrefix starts the SDK's message to a client that must wait its
// turn, as v1.evennia.com and portico.v1 carry it.
const queuedPrefix = `["text",["TestGame DoS protection is active. You are queued to connect in `

// expectQueued checks that the next message tells the client it waits its
// turn, and returns when it came.
func (c *wsClient) expectQueued() time.Time {
	c.t.Helper()
	_, got := c.read()
	if !strings.HasPrefix(got, queuedPrefix) {
		c.t.Fatalf("got %q, want the queued message %s...", got, queuedPrefix)
	}
	return time.Now()
}

// awaitCountIs waits until the portal holds exactly n sessions.
func (h *harness) awaitCountIs(n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for h.portal.Count() != n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d sessions, want %d", h.portal.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueuedClientHangsUp: a client that leaves while it waits its turn in
// its address's connection queue gives its place up at once, however it
// leaves, so that the next client from that address gets the turn it
// would have had; the one that left never reaches the host. With one turn
// every queueTurn, the client queued second would otherwise wait for the
// one that left to be let in first, queueTurn later.
func TestQueuedClientHangsUp(t *testing.T) {
	tests := []struct {
		name string
		// dial connects the client that will leave; leave makes it go
		// and checks what it saw.
		dial  func(h *harness) *wsClient
		leave func(c *wsClient)
	}{
		{"connection dropped",
			func(h *harness) *wsClient { return h.dialFrom("127.0.0.2", "/ws?"+newCsessid()) },
			func(c *wsClient) { c.drop() }},
		{"close frame 1001",
			func(h *harness) *wsClient { return h.dialFrom("127.0.0.2", "/ws?"+newCsessid()) },
			// close waits for the server's answer, which needs someone
			// reading the connection.
			func(c *wsClient) { c.close(websocket.StatusGoingAway, "") }},
		{"portico.v1 page unloads (4000)",
			func(h *harness) *wsClient {
				c := h.dialFrom("127.0.0.2", "/ws", ProtoPortico)
				c.sendSession(newCsessid())
				return c
			},
			func(c *wsClient) { c.close(closePageUnload, "page unloading") }},
		{"websocket_close",
			func(h *harness) *wsClient { return h.dialFrom("127.0.0.2", "/ws?"+newCsessid()) },
			func(c *wsClient) {
				c.writeText(`["websocket_close",[],{}]`)
				c.expectClosed(websocket.StatusNormalClosure)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newQueueHarness(t, nil)
			start := time.Now() // no later than the first one's token was taken
			h.dialFrom("127.0.0.2", "/")
			h.connected()
			leaving := tt.dial(h)
			h.awaitCount(2)
			// The next one from that address queues behind it.
			csessid := newCsessid()
			next := h.dialFrom("127.0.0.2", "/ws?"+csessid)
			h.awaitCount(3)
			tt.leave(leaving)
			h.connectionEnded()
			h.awaitCountIs(2)
			d := h.connected()
			if d.Csessid != csessid {
				t.Fatalf("the next connect is from %s (csessid %q), want the one queued behind the client that left", d.Address, d.Csessid)
			}
			// Its turn is one queueTurn after the first one's, where
			// behind the one that left it would have been two.
			if after := time.Since(start); after > queueTurn+queueTurn/2 {
				t.Fatalf("the next client got in %v after the first; want its place moved up to about %v", after, queueTurn)
			}
			next.expectQueued()
			h.noEvent() // the one that left never reached the host
		})
	}
}

// TestQueuedClientSeesQueuedMessage: the message that says how long a
// client must wait reaches it while it waits, not once it is let in.
func TestQueuedClientSeesQueuedMessage(t *testing.T) {
	h := newQueueHarness(t, nil)
	start := time.Now() // no later than the first one's token was taken
	h.dialFrom("127.0.0.2", "/")
	h.connected()
	queued := h.dialFrom("127.0.0.2", "/")
	at := queued.expectQueued()
	connected := h.connected()
	if !strings.HasPrefix(connected.Address, "127.0.0.2:") {
		t.Fatalf("connect from %s", connected.Address)
	}
	// Its turn comes queueTurn after the first one's token was taken.
	if got := at.Sub(start); got > queueTurn*2/3 {
		t.Fatalf("the queued message came %v after the first connection; want it at once, well before the turn at %v", got, queueTurn)
	}
	if got := time.Since(start); got < queueTurn*9/10 {
		t.Fatalf("let in %v after the first connection, before its turn at %v", got, queueTurn)
	}
	h.send(connected.Sessid, sdk.Text("Welcome"))
	queued.expectText(`["text",["Welcome"],{}]`)
}

// TestQueuedInputKept: what a client sends while it waits its turn is
// kept, in order, for its session; past earlyMessages messages the rest is
// dropped and the player told how many.
func TestQueuedInputKept(t *testing.T) {
	h := newQueueHarness(t, nil)
	h.dialFrom("127.0.0.2", "/")
	h.connected()
	queued := h.dialFrom("127.0.0.2", "/", ProtoPortico)
	queued.sendSession(newCsessid())
	queued.expectQueued()
	sent := earlyMessages + 3
	for i := range sent {
		queued.writeText(fmt.Sprintf(`["text",["say %d"],{}]`, i))
	}
	d := h.connected()
	for i := range earlyMessages {
		msgs := h.dataIn(d.Sessid)
		if len(msgs) != 1 || msgs[0].Args[0] != fmt.Sprintf("say %d", i) {
			t.Fatalf("input %d: %#v", i, msgs)
		}
	}
	queued.expectText(notice(fmt.Sprintf(msgEarlyDropped, 3)))
	// And input after the wait goes as usual.
	queued.writeText(`["text",["look"],{}]`)
	if msgs := h.dataIn(d.Sessid); msgs[0].Args[0] != "look" {
		t.Fatalf("input after the wait: %#v", msgs)
	}
}

// TestQueuedPastSessionIDWait: the plugin's own bound on waiting for a
// session id does not cut short a client's wait in the connection queue,
// which connection_queue_wait bounds.
func TestQueuedPastSessionIDWait(t *testing.T) {
	h := newHarnessWith(t, nil, func(p *Plugin, host *sdk.HostInfo) {
		*host = queueLimits
		p.idWait = 200 * time.Millisecond
	})
	h.dialFrom("127.0.0.2", "/")
	h.connected()
	queued := h.dialFrom("127.0.0.2", "/")
	queued.expectQueued()
	if d := h.connected(); !strings.HasPrefix(d.Address, "127.0.0.2:") {
		t.Fatalf("connect from %s", d.Address)
	}
}

// TestQueueTooLongRefused: a client whose wait would be longer than
// connection_queue_wait is told so once, in its own format, and closed
// with 1008; no session is left for it.
func TestQueueTooLongRefused(t *testing.T) {
	h := newHarnessWith(t, nil, func(_ *Plugin, host *sdk.HostInfo) {
		*host = queueLimits
		host.Limits.ConnectionQueueWait = 1500 * time.Millisecond
	})
	h.dialFrom("127.0.0.2", "/")
	h.connected()
	queued := h.dialFrom("127.0.0.2", "/")
	queued.expectQueued()
	refused := h.dialFrom("127.0.0.2", "/")
	_, first := refused.read()
	ctx, cancel := contextWithWait()
	defer cancel()
	_, more, err := refused.c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
		t.Fatalf("after %q: %q, %v; want the close, 1008", first, more, err)
	}
	if !strings.Contains(ce.Reason, "too busy") || first != notice(ce.Reason) {
		t.Fatalf("refused with %q after %q; want the reason, then the close", ce.Reason, first)
	}
	h.connected() // the queued one
	h.awaitCountIs(2)
}
