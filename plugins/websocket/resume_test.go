package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// resumed is the first thing a resumed connection hears.
const resumedFrame = `["text",["` + msgResumed + `"],{}]`

// TestResumeKeepsSession: a connection that drops (no close frame, the
// page's 4000, a browser's 1001 as it reloads a page) comes back with its
// csessid within the grace and has the same session, still logged in;
// what was said meanwhile is delivered.
func TestResumeKeepsSession(t *testing.T) {
	for _, end := range []string{"dropped", "page unload 4000", "reload 1001", "other code 4321"} {
		t.Run(end, func(t *testing.T) {
			h := newHarness(t, nil)
			csessid := newCsessid()
			c := h.dial("/ws?" + csessid + "&cuid&Firefox%20140")
			id := h.connected().Sessid
			sess := h.portal.Session(id)
			sess.Update(func(d *sdk.SessionData) { d.LoggedIn, d.UID, d.UName = true, 7, "Alice" })

			switch end {
			case "dropped":
				c.drop()
			case "page unload 4000":
				c.close(closePageUnload, "page unloading")
			case "reload 1001":
				c.close(websocket.StatusGoingAway, "")
			default:
				c.close(4321, "")
			}
			h.connectionEnded()
			h.send(id, sdk.Text("Bob says, \"are you there?\""))

			c2 := h.dial("/ws?" + csessid + "&cuid2&Firefox%20140")
			c2.expectText(resumedFrame)
			c2.expectText(`["text",["Bob says, &quot;are you there?&quot;"],{}]`)
			c2.writeText(`["text",["say back"],{}]`)
			// The next event is this input: no Disconnected, no second
			// Connect came before it.
			if msgs := h.dataIn(id); msgs[0].Args[0] != "say back" {
				t.Fatalf("input %#v", msgs)
			}
			if h.portal.Count() != 1 || !sess.LoggedIn() || h.portal.Session(id) != sess {
				t.Fatalf("sessions %d, logged in %v", h.portal.Count(), sess.LoggedIn())
			}
		})
	}
}

// TestResumeSyncsAddressAndFormat: a resume from another address or with
// another wire format tells the host what changed.
func TestResumeSyncsAddressAndFormat(t *testing.T) {
	h := newHarness(t, nil)
	csessid := newCsessid()
	c := h.dial("/ws?" + csessid)
	id := h.connected().Sessid
	c.drop()
	h.connectionEnded()
	c2 := h.dial("/ws?"+csessid, ProtoGMCP)
	c2.expect(websocket.MessageBinary, msgResumed+"\r\n")
	select {
	case sync := <-h.syncs:
		if sync.GetSession().GetSessid() != id {
			t.Fatalf("sync of session %d", sync.GetSession().GetSessid())
		}
		flags := h.portal.Session(id).Flag("CLIENTNAME")
		if flags != "Evennia Webclient (websocket [gmcp.mudstandards.org])" {
			t.Fatalf("CLIENTNAME after resume %v", flags)
		}
	case <-timeAfter():
		t.Fatal("no sync after a resume with another format")
	}
}

// TestResumeGraceExpires: a session whose connection does not come back
// in time ends, and the csessid then gets a new session.
func TestResumeGraceExpires(t *testing.T) {
	h := newHarness(t, map[string]any{"resume_grace": "150ms"})
	csessid := newCsessid()
	c := h.dial("/ws?" + csessid)
	id := h.connected().Sessid
	c.drop()
	if reason := h.disconnected(id); reason != reasonNotResumed {
		t.Fatalf("reason %q", reason)
	}
	h.dial("/ws?" + csessid)
	if d := h.connected(); d.Sessid == id || d.Csessid != csessid {
		t.Fatalf("after the grace: session %d csessid %q", d.Sessid, d.Csessid)
	}
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}
}

// TestCleanCloseEndsAtOnce: 1000 ends the session at once, as in Evennia;
// nothing is left waiting for a resume. (1001 does not: see
// TestResumeKeepsSession.)
func TestCleanCloseEndsAtOnce(t *testing.T) {
	for _, code := range []websocket.StatusCode{websocket.StatusNormalClosure} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			h := newHarness(t, nil)
			csessid := newCsessid()
			c := h.dial("/ws?" + csessid)
			id := h.connected().Sessid
			c.close(code, "")
			if reason := h.disconnected(id); reason != reasonClientClosed {
				t.Fatalf("reason %q", reason)
			}
			if h.p.lookup(resumeKey{token: csessid, inURL: true}) != nil {
				t.Fatal("a cleanly closed session is still resumable")
			}
			h.dial("/ws?" + csessid)
			if d := h.connected(); d.Sessid == id {
				t.Fatal("a cleanly closed session was resumed")
			}
		})
	}
}

// TestTakeover: a second connection with a live session's csessid from
// the same client network (the page opened again, in a duplicated tab)
// takes the session at once, even while the first answers pings; the
// first is closed with 4001 and the reason. (From another network, see
// TestTakeoverFromElsewhere.)
func TestTakeover(t *testing.T) {
	h := newHarness(t, nil)
	csessid := newCsessid()
	first := h.dialFrom("127.0.0.2", "/ws?"+csessid)
	id := h.connected().Sessid
	first.pong() // alive: it answers pings
	second := h.dialFrom("127.0.0.2", "/ws?"+csessid)
	second.expectText(resumedFrame)
	if reason := first.expectClosed(closeReplaced); reason != msgReplaced {
		t.Fatalf("close reason %q", reason)
	}
	h.send(id, sdk.Text("to the new tab"))
	second.expectText(`["text",["to the new tab"],{}]`)
	second.writeText(`["text",["look"],{}]`)
	if msgs := h.dataIn(id); msgs[0].Args[0] != "look" {
		t.Fatalf("input %#v", msgs)
	}
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}
}

// TestTakeoverFromElsewhere: a token presented from another client
// network does not take a session whose connection is open and alive (a
// token that leaked from a URL into a proxy's log must not take a logged-in
// player's session at any time): the open connection is pinged, answers
// within ping_timeout and keeps its session, and the newcomer gets a new
// session of its own, told why, that the token does not resume. A
// connection that does not answer is dead: the session is taken over, as
// a player whose network changed under the page needs.
func TestTakeoverFromElsewhere(t *testing.T) {
	kinds := []struct {
		name string
		open func(h *harness, local, tok string) *wsClient
	}{
		{"v1.evennia.com URL", func(h *harness, local, tok string) *wsClient {
			return h.dialFrom(local, "/ws?"+tok, ProtoV1)
		}},
		{"portico.v1 first message", func(h *harness, local, tok string) *wsClient {
			c := h.dialFrom(local, "/ws", ProtoPortico)
			c.sendSession(tok)
			return c
		}},
	}
	const pingTimeout = 300 * time.Millisecond
	for _, k := range kinds {
		t.Run(k.name+"/alive", func(t *testing.T) {
			h := newHarness(t, map[string]any{"ping_timeout": pingTimeout.String()})
			tok := newCsessid()
			first := k.open(h, "127.0.0.2", tok)
			id := h.connected().Sessid
			first.pong()
			start := time.Now()
			second := k.open(h, "127.0.0.3", tok)
			d := h.connected()
			if d.Sessid == id {
				t.Fatal("a token from another address took over a live session")
			}
			if d.Csessid != "" {
				t.Fatalf("the newcomer's session has the token: csessid %q", d.Csessid)
			}
			second.expectText(notice(msgInUseElsewhere))
			if took := time.Since(start); took > waitFor-time.Second {
				t.Fatalf("the newcomer waited %v", took)
			}
			// The player keeps the session and its connection.
			h.send(id, sdk.Text("still yours"))
			first.expectText(`["text",["still yours"],{}]`)
			first.writeText(`["text",["look"],{}]`)
			if msgs := h.dataIn(id); msgs[0].Args[0] != "look" {
				t.Fatalf("input %#v", msgs)
			}
			// The newcomer's session is not resumable by the token.
			second.drop()
			if reason := h.disconnected(d.Sessid); reason != reasonLost {
				t.Fatalf("the newcomer's session ended with %q", reason)
			}
			if h.portal.Count() != 1 {
				t.Fatalf("%d sessions", h.portal.Count())
			}
		})
		t.Run(k.name+"/dead", func(t *testing.T) {
			h := newHarness(t, map[string]any{"ping_timeout": pingTimeout.String()})
			tok := newCsessid()
			first := k.open(h, "127.0.0.2", tok) // never reads: no pong
			id := h.connected().Sessid
			start := time.Now()
			second := k.open(h, "127.0.0.3", tok)
			second.expectResumed(tok)
			if took := time.Since(start); took < pingTimeout/2 {
				t.Fatalf("taken over after %v, before the ping could time out", took)
			}
			h.connectionEnded() // the dead one, dropped
			h.send(id, sdk.Text("to the new network"))
			second.expectText(`["text",["to the new network"],{}]`)
			ctx, cancel := contextWithWait()
			defer cancel()
			for {
				if _, _, err := first.c.Read(ctx); err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						t.Fatal("the dead connection is still open")
					}
					break
				}
			}
			h.noEvent() // no new session, no end of this one
			if h.portal.Count() != 1 || h.portal.Session(id) == nil {
				t.Fatalf("%d sessions", h.portal.Count())
			}
		})
	}
}

// TestNoResumeWithout: without a usable csessid, or with resume_grace 0,
// a dropped connection ends its session at once.
func TestNoResumeWithout(t *testing.T) {
	for _, tt := range []struct {
		name, query string
		raw         map[string]any
	}{
		{"no csessid", "", nil},
		{"placeholder csessid", "None&x&Chrome", nil},
		{"short csessid", "abc123", nil},
		{"resume off", newCsessid(), map[string]any{"resume_grace": 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.raw)
			c := h.dial("/ws?" + tt.query)
			d := h.connected()
			if tt.raw == nil && d.Csessid != "" {
				t.Fatalf("csessid %q kept", d.Csessid)
			}
			c.drop()
			if reason := h.disconnected(d.Sessid); reason != reasonLost {
				t.Fatalf("reason %q", reason)
			}
		})
	}
}

// TestPasswordPromptShownAgain: a page that resumes while a password is
// asked for is asked again, with echo off, so it shows a password field.
func TestPasswordPromptShownAgain(t *testing.T) {
	h := newHarness(t, nil)
	csessid := newCsessid()
	c := h.dial("/ws?" + csessid)
	id := h.connected().Sessid
	h.send(id, sdk.Message{Name: "prompt", Args: []any{"Password: "}, Kwargs: opts(map[string]any{"echo": false})})
	c.expectText(`["prompt",["Password: "],{"options":{"echo":false}}]`)
	c.close(closePageUnload, "")
	h.connectionEnded()
	c2 := h.dial("/ws?" + csessid)
	c2.expectText(resumedFrame)
	c2.expectText(`["prompt",["Password: "],{"options":{"echo":false}}]`)

	// Once the password is in, a resume does not ask again.
	h.send(id, sdk.Message{Name: "text", Args: []any{""}, Kwargs: opts(map[string]any{"echo": true})})
	c2.expectText(`["text",[""],{"options":{"echo":true}}]`)
	c2.drop()
	h.connectionEnded()
	c3 := h.dial("/ws?" + csessid)
	c3.expectText(resumedFrame)
	h.send(id, sdk.Text("next"))
	c3.expectText(`["text",["next"],{}]`)
}

// TestOutputBufferBounded: output for a detached session is bounded by
// output_buffer; the oldest goes, and the player is told how much.
func TestOutputBufferBounded(t *testing.T) {
	h := newHarness(t, map[string]any{"output_buffer": 2000})
	csessid := newCsessid()
	c := h.dial("/ws?" + csessid)
	id := h.connected().Sessid
	c.drop()
	h.connectionEnded()
	line := strings.Repeat("x", 68) // 100 bytes held with the overhead
	for i := range 50 {
		h.send(id, sdk.Text(fmt.Sprintf("%s%02d", line, i)))
	}
	c2 := h.dial("/ws?" + csessid)
	c2.expectText(resumedFrame)
	_, lost := c2.read()
	if !strings.Contains(lost, "messages of output were lost") {
		t.Fatalf("no notice of lost output: %s", lost)
	}
	var got []string
	for {
		_, m := c2.read()
		got = append(got, m)
		if strings.Contains(m, line+"49") {
			break
		}
	}
	if len(got) >= 50 || len(got) < 10 {
		t.Fatalf("%d messages delivered of 50 with a 2000-byte buffer", len(got))
	}
	var n int
	if _, err := fmt.Sscanf(lost, `["text",["(%d messages`, &n); err != nil || n+len(got) != 50 {
		t.Fatalf("lost %d (%v) + delivered %d != 50: %s", n, err, len(got), lost)
	}
}

// TestShutdownEndsWaitingSessions: sessions waiting for a resume end when
// the plugin stops; connected clients get the reason and a 1000 close.
func TestShutdownEndsWaitingSessions(t *testing.T) {
	h := newHarness(t, nil)
	waiting := h.dial("/ws?" + newCsessid())
	h.connected()
	waiting.drop()
	h.connectionEnded()
	live := h.dial("/ws?" + newCsessid())
	liveID := h.connected().Sessid
	// What the SDK does when the host shuts the plugin down.
	for _, s := range h.portal.All() {
		if s.ID() == liveID {
			h.portal.Disconnect(s, "Server is shutting down.")
		}
	}
	live.expectText(`["text",["Server is shutting down."],{}]`)
	live.expectClosed(websocket.StatusNormalClosure)
	ctx, cancel := contextWithWait()
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	h.p.mu.Lock()
	n := len(h.p.clients)
	h.p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d resumable sessions after shutdown", n)
	}
}
