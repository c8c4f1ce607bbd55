package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// The resume token (csessid) is a bearer secret: these tests check where
// it may travel (the first message on portico.v1, the URL on Evennia's
// formats only), how strong it must be, how long it lasts and which
// account's session it may bring back.

// dialPortico connects to path speaking portico.v1 and sends the first
// message with token (a string, or nil for "no token yet").
func (h *harness) dialPortico(path string, token any) *wsClient {
	h.t.Helper()
	c := h.dial(path, ProtoPortico)
	if got := c.c.Subprotocol(); got != ProtoPortico {
		h.t.Fatalf("negotiated %q, want %q", got, ProtoPortico)
	}
	c.sendSession(token)
	return c
}

// sendSession sends a portico_session message carrying token.
func (c *wsClient) sendSession(token any) {
	c.t.Helper()
	b, err := json.Marshal([]any{msgPorticoSession, []any{}, map[string]any{"csessid": token}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeText(string(b))
}

// notice is the frame a v1-style client gets for a line from the plugin.
func notice(text string) string {
	return string(v1Format{}.Encode(sdk.Text(text), renderFlags{})[0].data)
}

// TestPorticoTokenInFirstMessage: the page's token travels in the first
// message; it resumes the session, which the host never learns the token
// of; the token cannot be sent again later, and never reaches the host.
func TestPorticoTokenInFirstMessage(t *testing.T) {
	h := newHarness(t, nil)
	tok := newCsessid()
	c := h.dialPortico("/ws?cuid=c1&browser=Firefox%20140", tok)
	d := h.connected()
	if d.Csessid != "" {
		t.Fatalf("the host was given the token: csessid %q", d.Csessid)
	}
	if name := d.ProtocolFlags.Value("CLIENTNAME"); name != "Evennia Webclient (websocket:Firefox 140 [portico.v1])" || d.ProtocolFlags.Value("ISTYPING") != true {
		t.Fatalf("flags %v", d.ProtocolFlags)
	}
	id := d.Sessid
	h.send(id, sdk.Text("|rHi"))
	c.expectText(`["text",["<span class=\"color-009\">Hi</span>"],{}]`)
	c.writeText(`["text",["look"],{}]`)
	if msgs := h.dataIn(id); msgs[0].Args[0] != "look" {
		t.Fatalf("input %#v", msgs)
	}

	c.close(closePageUnload, "page unloading")
	h.connectionEnded()
	h.send(id, sdk.Text("said meanwhile"))
	c2 := h.dialPortico("/ws?cuid=c2&browser=Firefox%20140", tok)
	c2.expectResumed(tok)
	c2.expectText(`["text",["said meanwhile"],{}]`)

	// The token again, later: refused, and not passed on.
	c2.sendSession(tok)
	c2.expectText(notice(msgSessionNotFirst))
	c2.writeText(`["text",["after"],{}]`)
	if msgs := h.dataIn(id); len(msgs) != 1 || msgs[0].Args[0] != "after" {
		t.Fatalf("input %#v", msgs)
	}
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}
}

// TestPorticoURLTokenIgnored: on portico.v1 a token in the URL counts for
// nothing, and tokens from first messages and from URLs never resume each
// other's sessions.
func TestPorticoURLTokenIgnored(t *testing.T) {
	for _, path := range []string{"/ws?%s&cuid&Chrome", "/ws?csessid=%s&browser=Chrome", "/ws?%s"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, nil)
			tok := newCsessid()
			c := h.dialPortico(strings.Replace(path, "%s", tok, 1), nil)
			d := h.connected()
			if d.Csessid != "" {
				t.Fatalf("csessid %q taken from the URL", d.Csessid)
			}
			// Not resumable: a dropped connection ends the session.
			c.drop()
			if reason := h.disconnected(d.Sessid); reason != reasonLost {
				t.Fatalf("reason %q", reason)
			}
			h.dialPortico(strings.Replace(path, "%s", tok, 1), nil)
			if d2 := h.connected(); d2.Sessid == d.Sessid {
				t.Fatal("resumed by a token in the URL")
			}
		})
	}

	t.Run("kinds do not mix", func(t *testing.T) {
		h := newHarness(t, nil)
		tokA, tokB := newCsessid(), newCsessid()
		page := h.dialPortico("/ws", tokA)
		pageID := h.connected().Sessid
		// The page's token put in a URL: a new session, and the page's
		// connection is not taken over.
		h.dial("/ws?"+tokA, ProtoV1)
		if id := h.connected().Sessid; id == pageID {
			t.Fatal("a URL token resumed the page's session")
		}
		h.send(pageID, sdk.Text("still the page"))
		page.expectText(`["text",["still the page"],{}]`)
		// And the other way round: a URL session's token in a first
		// message resumes nothing either.
		url := h.dial("/ws?"+tokB, ProtoV1)
		urlID := h.connected().Sessid
		h.dialPortico("/ws", tokB)
		if id := h.connected().Sessid; id == urlID {
			t.Fatal("a first-message token resumed a URL session")
		}
		h.send(urlID, sdk.Text("still the URL"))
		url.expectText(`["text",["still the URL"],{}]`)
	})
}

// TestPorticoWeakTokenRefused: a token from the page shorter than 128 bits
// (32 hex digits), or not a hex string, is no token: the client is told,
// and its session ends with its connection.
func TestPorticoWeakTokenRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		token any
	}{
		{"31 hex digits", strings.Repeat("a1", 15) + "b"},
		{"16 hex digits, the URL form's minimum", "0123456789abcdef"},
		{"not hex", strings.Repeat("zx", 16)},
		{"placeholder", "None"},
		{"a number", 1234567890123456789},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c := h.dialPortico("/ws", tt.token)
			d := h.connected()
			c.expectText(notice(msgWeakToken))
			c.drop()
			if reason := h.disconnected(d.Sessid); reason != reasonLost {
				t.Fatalf("reason %q: the session waited to be resumed by a weak token", reason)
			}
			h.p.mu.Lock()
			n := len(h.p.clients)
			h.p.mu.Unlock()
			if n != 0 {
				t.Fatalf("%d resumable sessions", n)
			}
		})
	}
	t.Run("128 bits resumes", func(t *testing.T) {
		h := newHarness(t, nil)
		tok := "0123456789abcdef0123456789abcdef"
		c := h.dialPortico("/ws", tok)
		id := h.connected().Sessid
		c.drop()
		h.connectionEnded()
		h.dialPortico("/ws", tok).expectText(resumedFrame)
		h.noEvent()
		if h.portal.Session(id) == nil {
			t.Fatal("session gone")
		}
	})
}

// expectResumed checks that the next messages say the connection resumed
// its session, and returns the token that resumes it from now on: on
// portico.v1 the new one the server sent, which must differ from tok, on
// other formats tok.
func (c *wsClient) expectResumed(tok string) string {
	c.t.Helper()
	c.expectText(resumedFrame)
	if c.c.Subprotocol() != ProtoPortico {
		return tok
	}
	_, got := c.read()
	var msg []any
	if err := json.Unmarshal([]byte(got), &msg); err != nil || len(msg) != 3 || msg[0] != msgPorticoSession {
		c.t.Fatalf("after the resume: %q, want the new token in a %s message", got, msgPorticoSession)
	}
	kw, _ := msg[2].(map[string]any)
	next, _ := kw["csessid"].(string)
	if !tokenPattern.MatchString(next) || next == tok {
		c.t.Fatalf("new token %q (was %q): want a different one of 32 to 128 hex digits", next, tok)
	}
	return next
}

// fakeClock is the plugin's clock in tests where time must pass without
// waiting for it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tokenKinds are the two ways a token travels, each with how to open a
// connection presenting it.
var tokenKinds = []struct {
	name string
	open func(h *harness, tok string) *wsClient
}{
	{"portico.v1 first message", func(h *harness, tok string) *wsClient { return h.dialPortico("/ws", tok) }},
	{"v1.evennia.com URL", func(h *harness, tok string) *wsClient { return h.dial("/ws?"+tok, ProtoV1) }},
}

// TestResumeTokenExpires: a token is refused once the grace has passed
// since its connection was lost, by the clock, even while the grace timer
// has not fired (a busy or suspended process); the session it named ends
// then, and the connection gets a new one.
func TestResumeTokenExpires(t *testing.T) {
	for _, kind := range tokenKinds {
		t.Run(kind.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			h := newHarnessWith(t, map[string]any{"resume_grace": "1h"}, func(p *Plugin, _ *sdk.HostInfo) { p.now = clk.now })
			tok := newCsessid()
			c := kind.open(h, tok)
			id := h.connected().Sessid

			// Within the grace: resumed.
			c.drop()
			h.connectionEnded()
			clk.advance(59 * time.Minute)
			c = kind.open(h, tok)
			tok = c.expectResumed(tok)

			// Past it (the real timer, an hour away, has not fired).
			c.drop()
			h.connectionEnded()
			clk.advance(time.Hour + time.Second)
			c = kind.open(h, tok)
			if reason := h.disconnected(id); reason != reasonNotResumed {
				t.Fatalf("old session ended with %q", reason)
			}
			d := h.connected()
			if d.Sessid == id {
				t.Fatal("an expired token resumed its session")
			}
			h.send(d.Sessid, sdk.Text("a new session"))
			c.expectText(`["text",["a new session"],{}]`)
			if h.portal.Count() != 1 {
				t.Fatalf("%d sessions", h.portal.Count())
			}
		})
	}
}

// TestV1URLTokenStillResumes: Evennia's own client, offering
// v1.evennia.com with the csessid in the URL, resumes as it always did, and
// the host sees its csessid.
func TestV1URLTokenStillResumes(t *testing.T) {
	h := newHarness(t, nil)
	tok := newCsessid()
	c := h.dial("/ws?"+tok+"&cuid&Firefox", ProtoV1)
	if c.c.Subprotocol() != ProtoV1 {
		t.Fatalf("negotiated %q", c.c.Subprotocol())
	}
	d := h.connected()
	if d.Csessid != tok {
		t.Fatalf("csessid %q", d.Csessid)
	}
	c.drop()
	h.connectionEnded()
	c2 := h.dial("/ws?"+tok+"&cuid2&Firefox", ProtoV1)
	c2.expectText(resumedFrame)
	c2.writeText(`["text",["back"],{}]`)
	if msgs := h.dataIn(d.Sessid); msgs[0].Args[0] != "back" {
		t.Fatalf("input %#v", msgs)
	}
}

// TestPorticoNegotiation: portico.v1 is accepted whatever subprotocols
// says (the page must work), and it changes nothing for clients that
// offer other formats.
func TestPorticoNegotiation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		config []any
		offer  []string
		want   string
	}{
		{"offered alone", nil, []string{ProtoPortico}, ProtoPortico},
		{"not configured", []any{ProtoJSON}, []string{ProtoPortico}, ProtoPortico},
		{"configured", []any{ProtoPortico, ProtoJSON}, []string{ProtoJSON, ProtoPortico}, ProtoPortico},
		{"after the configured ones", nil, []string{ProtoPortico, ProtoV1}, ProtoV1},
		{"after mudstandards", nil, []string{ProtoPortico, ProtoJSON}, ProtoJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]any{}
			if tt.config != nil {
				raw["subprotocols"] = tt.config
			}
			h := newHarness(t, raw)
			c := h.dial("/ws", tt.offer...)
			if got := c.c.Subprotocol(); got != tt.want {
				t.Fatalf("negotiated %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPorticoFirstMessage: a first message that is not portico_session is
// input to a fresh session; a connection that sends nothing is closed
// with 1008 and the reason, with no session made for it.
func TestPorticoFirstMessage(t *testing.T) {
	// A second (not the 10 s default, for a short test): the first
	// connection's message, sent right after the dial, must arrive
	// within it even on a loaded machine.
	h := newHarnessWith(t, nil, func(p *Plugin, _ *sdk.HostInfo) { p.firstWait = time.Second })
	c := h.dial("/ws", ProtoPortico)
	c.writeText(`["text",["look"],{}]`)
	d := h.connected()
	if msgs := h.dataIn(d.Sessid); msgs[0].Args[0] != "look" {
		t.Fatalf("input %#v", msgs)
	}
	c.drop()
	if reason := h.disconnected(d.Sessid); reason != reasonLost {
		t.Fatalf("reason %q", reason)
	}

	silent := h.dial("/ws", ProtoPortico)
	if reason := silent.expectClosed(websocket.StatusPolicyViolation); reason != msgNoFirstMessage {
		t.Fatalf("close reason %q", reason)
	}
	h.connectionEnded()
	h.noEvent()
}

// TestPorticoSilentConnectionsCounted: connections still waiting for their
// first message have no session for the SDK to count, so the plugin counts
// them against connections_per_ip itself, by the address the request
// names. Behind a trusted proxy, whose own TCP connections are not counted
// (TestProxyConnectionsNotCounted), this is what bounds one client's
// silent connections; direct ones are bounded from accept as well
// (TestIdleConnectionsPerAddress).
func TestPorticoSilentConnectionsCounted(t *testing.T) {
	h := newHarnessWith(t, map[string]any{"trusted_proxies": []any{"127.0.0.1"}},
		func(_ *Plugin, host *sdk.HostInfo) { host.ConnectionsPerIP = 2 })
	silent := []*wsClient{h.dialAs("192.0.2.1"), h.dialAs("192.0.2.1")}
	third := h.dialAs("192.0.2.1")
	if reason := third.expectClosed(websocket.StatusPolicyViolation); reason != sdk.MsgTooManyConnections {
		t.Fatalf("close reason %q", reason)
	}
	h.connectionEnded()
	// One of them speaks: it has its session, and the count has room again.
	silent[0].sendSession(newCsessid())
	h.connected()
	h.dialAs("192.0.2.1").sendSession(newCsessid())
	h.connected()
}

// TestPorticoSilentConnectionsCountedPer64: connections without a session
// count by client network as sessions do (sdk.ClientNetwork): addresses
// of one IPv6 /64 share the count, and the next /64 has its own. The
// clients' addresses come from a trusted proxy's X-Forwarded-For.
func TestPorticoSilentConnectionsCountedPer64(t *testing.T) {
	h := newHarnessWith(t, map[string]any{"trusted_proxies": []any{"127.0.0.1"}},
		func(_ *Plugin, host *sdk.HostInfo) { host.ConnectionsPerIP = 2 })
	dialAs := h.dialAs
	dialAs("2001:db8:1:2::1")
	dialAs("2001:db8:1:2:ffff::9")
	// Another address of the same /64: over the limit.
	if reason := dialAs("2001:db8:1:2::3").expectClosed(websocket.StatusPolicyViolation); reason != sdk.MsgTooManyConnections {
		t.Fatalf("third connection from the /64: close reason %q", reason)
	}
	h.connectionEnded()
	// The next /64 is another address: taken, and it gets its session.
	dialAs("2001:db8:1:3::1").sendSession(newCsessid())
	if d := h.connected(); d.Address != "2001:db8:1:3::1" {
		t.Fatalf("session address %q", d.Address)
	}
}

// TestTokenBoundToAccount: the host's login binds a token to the account:
// while its session is logged in as another account, or logged out, the
// token brings nothing back (no takeover, a new session instead), and the
// session ends with its connection. Logins arrive as the real host sends
// them, over the contract.
func TestTokenBoundToAccount(t *testing.T) {
	type kind struct {
		name string
		open func(t *testing.T, addr, tok string) *wsClient
	}
	kinds := []kind{
		{"portico.v1 first message", func(t *testing.T, addr, tok string) *wsClient {
			c := dialAddr(t, addr, "/ws", ProtoPortico)
			c.sendSession(tok)
			return c
		}},
		{"v1.evennia.com URL", func(t *testing.T, addr, tok string) *wsClient {
			return dialAddr(t, addr, "/ws?"+tok, ProtoV1)
		}},
	}
	for _, k := range kinds {
		for _, change := range []string{"none", "another account", "logged out"} {
			t.Run(k.name+"/"+change, func(t *testing.T) {
				host := plugintest.Start(t, plugintest.Suite{
					New: func() sdk.Plugin { return &Plugin{} },
					Config: func(addr string) map[string]any {
						return map[string]any{"listen": addr, "resume_grace": "30s"}
					},
					Dial:        dialWebsocket, // gives the plugin an address
					ProtocolKey: ProtocolKey,
				})
				tok := newCsessid()
				first := k.open(t, host.Addr(), tok)
				id := host.AwaitConnect().GetSession().GetSessid()
				// In one frame, in order: the login, then a line the
				// client waits for, so the login has been handled.
				host.Send(loginEvent(id, 7, "Alice"), dataOut(t, id, "welcome Alice"))
				first.expectText(`["text",["welcome Alice"],{}]`)

				switch change {
				case "none":
					second := k.open(t, host.Addr(), tok)
					second.expectText(resumedFrame)
					first.expectClosed(closeReplaced)
					return
				case "another account":
					host.Send(loginEvent(id, 8, "Bob"), dataOut(t, id, "welcome Bob"))
					first.expectText(`["text",["welcome Bob"],{}]`)
				case "logged out":
					host.Send(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{
						Session: &portalpb.SessionData{Sessid: id},
						Fields:  []string{contract.FieldLoggedIn, contract.FieldUID, contract.FieldUName},
					}}}, dataOut(t, id, "logged out"))
					first.expectText(`["text",["logged out"],{}]`)
				}
				second := k.open(t, host.Addr(), tok)
				other := host.AwaitConnect().GetSession().GetSessid()
				if other == id {
					t.Fatal("the token resumed a session logged in as another account")
				}
				host.DataOut("a session of your own", other)
				second.expectText(`["text",["a session of your own"],{}]`)
				// The first connection was not taken over.
				host.DataOut("still here", id)
				first.expectText(`["text",["still here"],{}]`)
				// Nobody can resume it, so it does not wait for anyone.
				first.drop()
				if reason := host.AwaitDisconnected(id); reason != reasonLost {
					t.Fatalf("reason %q", reason)
				}
			})
		}
	}
}

func loginEvent(id uint64, uid int64, name string) *portalpb.Event {
	return &portalpb.Event{Kind: &portalpb.Event_Login{Login: &portalpb.Login{Sessid: id, Uid: uid, Uname: name}}}
}

func dataOut(t *testing.T, id uint64, text string) *portalpb.Event {
	t.Helper()
	msgs, err := wire.MessagesToPB([]contract.Message{contract.Text(text)})
	if err != nil {
		t.Fatal(err)
	}
	return &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{id}, Messages: msgs}}}
}

// dialAddr is harness.dial for a plugin the conformance kit runs.
func dialAddr(t *testing.T, addr, path string, protos ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+path, &websocket.DialOptions{Subprotocols: protos})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c, resp: resp}
}

// TestPorticoTokenRenewedOnResume: each resume gives the page a new token,
// which resumes the session from then on, while the one it presented
// resumes nothing more: a token that leaked is good for at most one
// resume, and none once the page has resumed since. Evennia's URL tokens
// are not renewed (its client would not know the new one).
func TestPorticoTokenRenewedOnResume(t *testing.T) {
	h := newHarness(t, nil)
	tok := newCsessid()
	c := h.dialPortico("/ws", tok)
	id := h.connected().Sessid
	c.drop()
	h.connectionEnded()

	c = h.dialPortico("/ws", tok)
	tok2 := c.expectResumed(tok)
	h.send(id, sdk.Text("after the resume"))
	c.expectText(`["text",["after the resume"],{}]`)
	c.drop()
	h.connectionEnded()

	// The first token brings nothing back: a new session, not resumable
	// by it either.
	stale := h.dialPortico("/ws", tok)
	if d := h.connected(); d.Sessid == id {
		t.Fatal("a token that was renewed resumed the session")
	}
	h.noEvent()
	// The new one does, and is renewed in turn.
	c = h.dialPortico("/ws", tok2)
	tok3 := c.expectResumed(tok2)
	if tok3 == tok {
		t.Fatal("renewed to the first token again")
	}
	h.send(id, sdk.Text("still the session"))
	c.expectText(`["text",["still the session"],{}]`)
	stale.drop()
	h.connectionEnded()

	// Evennia's client keeps its URL token: no new one is sent.
	url := newCsessid()
	v1 := h.dial("/ws?"+url, ProtoV1)
	vid := h.connected().Sessid
	v1.drop()
	h.connectionEnded()
	v1 = h.dial("/ws?"+url, ProtoV1)
	v1.expectText(resumedFrame)
	h.send(vid, sdk.Text("next"))
	v1.expectText(`["text",["next"],{}]`)
}
