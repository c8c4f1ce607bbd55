package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// TestSubprotocolChoice: the server picks from the client's offer in its
// own order of preference; no offer or no match is v1.evennia.com. Each
// choice is then spoken both ways.
func TestSubprotocolChoice(t *testing.T) {
	tests := []struct {
		name   string
		config []any // subprotocols; nil keeps the default
		offer  []string
		want   string // negotiated header, "" for none
		format string
	}{
		{"no offer", nil, nil, "", ProtoV1},
		{"v1 offered", nil, []string{ProtoV1}, ProtoV1, ProtoV1},
		{"server order wins", nil, []string{ProtoTerminal, ProtoGMCP, ProtoJSON}, ProtoJSON, ProtoJSON},
		{"gmcp over v1", nil, []string{ProtoV1, ProtoGMCP}, ProtoGMCP, ProtoGMCP},
		{"terminal", nil, []string{ProtoTerminal, ProtoV1}, ProtoTerminal, ProtoTerminal},
		{"unknown only", nil, []string{"chat.example.org"}, "", ProtoV1},
		{"configured order", []any{ProtoV1, ProtoTerminal}, []string{ProtoTerminal, ProtoV1}, ProtoV1, ProtoV1},
		{"not configured", []any{ProtoV1}, []string{ProtoJSON}, "", ProtoV1},
		{"v1 left out is still taken", []any{ProtoJSON}, []string{ProtoV1, ProtoGMCP}, ProtoV1, ProtoV1},
		{"nothing configured", []any{}, []string{ProtoJSON, ProtoV1}, ProtoV1, ProtoV1},
	}
	for _, tt := range tests {
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
			if got := c.resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Fatalf("Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
			d := h.connected()
			wantName := "Evennia Webclient (websocket [" + tt.format + "])"
			if d.ProtocolFlags.Value("CLIENTNAME") != wantName || d.ProtocolKey != "websocket" {
				t.Fatalf("session %q flags %v, want CLIENTNAME %q", d.ProtocolKey, d.ProtocolFlags, wantName)
			}
			if oob := d.ProtocolFlags.Value("OOB"); oob != (tt.format != ProtoTerminal) {
				t.Fatalf("OOB flag %v for %s", oob, tt.format)
			}
			h.send(d.Sessid, sdk.Text("|rHi"), sdk.Message{Name: "logged_in"})
			switch tt.format {
			case ProtoV1:
				c.expectText(`["text",["<span class=\"color-009\">Hi</span>"],{}]`)
				c.expectText(`["logged_in",[],{"options":{}}]`)
				c.writeText(`["text",["look"],{}]`)
			case ProtoJSON:
				c.expect(websocket.MessageBinary, "\x1b[1m\x1b[31mHi\x1b[0m\r\n")
				c.expectText(`{"proto":"gmcp","id":"Logged.In","data":""}`)
				c.write(websocket.MessageBinary, "look\n")
			case ProtoGMCP:
				c.expect(websocket.MessageBinary, "\x1b[1m\x1b[31mHi\x1b[0m\r\n")
				c.expectText(`Logged.In`)
				c.write(websocket.MessageBinary, "look\n")
			case ProtoTerminal:
				c.expect(websocket.MessageBinary, "\x1b[1m\x1b[31mHi\x1b[0m\r\n")
				// logged_in has no way to a terminal: the next message
				// is the next text.
				h.send(d.Sessid, sdk.Text("next"))
				c.expect(websocket.MessageBinary, "next\r\n")
				c.writeText("look\n")
			}
			msgs := h.dataIn(d.Sessid)
			if len(msgs) != 1 || msgs[0].Name != "text" || msgs[0].Args[0] != "look" {
				t.Fatalf("input reached the host as %#v", msgs)
			}
		})
	}
}

// TestConnectData: the session arrives with Evennia's websocket data: its
// csessid, and CLIENTNAME naming the browser the page reported.
func TestConnectData(t *testing.T) {
	h := newHarness(t, nil)
	id := newCsessid()
	h.dial("/ws?" + id + "&0f0f0f0f&HeadlessChrome%20156")
	d := h.connected()
	if d.Csessid != id || !strings.HasPrefix(d.Address, "127.0.0.1:") {
		t.Fatalf("csessid %q address %q", d.Csessid, d.Address)
	}
	want := map[string]any{
		"CLIENTNAME": "Evennia Webclient (websocket:HeadlessChrome 156 [v1.evennia.com])",
		"UTF-8":      true, "OOB": true, "TRUECOLOR": true, "XTERM256": true, "ANSI": true, "ISTYPING": true,
		"ENCODING": "utf-8",
	}
	for k, v := range want {
		if d.ProtocolFlags.Value(k) != v {
			t.Errorf("flag %s = %v, want %v", k, d.ProtocolFlags.Value(k), v)
		}
	}
}

// TestUpgradeAtRoot: Evennia's own client connects at /, not /ws.
func TestUpgradeAtRoot(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/?" + newCsessid())
	d := h.connected()
	c.writeText(`["text",["look"],{}]`)
	if msgs := h.dataIn(d.Sessid); msgs[0].Args[0] != "look" {
		t.Fatalf("input %#v", msgs)
	}
}

// TestV1Input: what a v1 client sends reaches the host as inputfunc calls;
// text is split into lines and checked against the host's line limit.
func TestV1Input(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/ws")
	id := h.connected().Sessid

	c.writeText(`["client_options",[],{"screenwidth":120,"screenheight":40}]`)
	msgs := h.dataIn(id)
	if msgs[0].Name != "client_options" || msgs[0].Kwargs["screenwidth"] != int64(120) {
		t.Fatalf("client_options reached the host as %#v", msgs)
	}
	c.writeText(`["text",["north\nsay hi\u0007 there"],{"cmdid":1}]`)
	msgs = h.dataIn(id)
	if len(msgs) != 2 || msgs[0].Args[0] != "north" || msgs[1].Args[0] != "say hi there" || msgs[1].Kwargs["cmdid"] != int64(1) {
		t.Fatalf("text reached the host as %#v", msgs)
	}
	c.writeText(`["text",["` + strings.Repeat("x", hostMaxInput+1) + `"],{}]`)
	c.expectText(`["text",["` + sdk.MsgTooLong + `"],{}]`)
	c.writeText(`["text",[""],{}]`)
	if msgs = h.dataIn(id); msgs[0].Args[0] != "" {
		t.Fatalf("an empty line reached the host as %#v", msgs)
	}
}

// TestMalformedFrames: bad input gets a clear message to that client and
// nothing else: the connection stays, the host hears nothing of it, and an
// unknown inputfunc is the host's to answer.
func TestMalformedFrames(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/ws?" + newCsessid())
	id := h.connected().Sessid
	html := func(s string) string { // the v1 text frame of a plugin message
		return `["text",["` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, "&quot;"), "\n", "<br>") + `"],{}]`
	}
	for _, tt := range []struct {
		typ  websocket.MessageType
		in   string
		want string
	}{
		{websocket.MessageText, `["text",["look"]`, msgNotJSON},
		{websocket.MessageText, `look`, msgNotJSON},
		{websocket.MessageText, `{"cmd":"look"}`, msgV1Shape},
		{websocket.MessageText, `["text",["look"]]`, msgV1Shape},
		{websocket.MessageText, `[42,["look"],{}]`, msgV1Shape},
		{websocket.MessageText, `["text",["look"],"kwargs"]`, msgV1Shape},
		{websocket.MessageText, `["",[],{}]`, msgBadFuncName},
		{websocket.MessageBinary, `["text",["look"],{}]`, msgV1Binary},
		{websocket.MessageText, "[\"text\",[\"caf\xe9\"],{}]", sdk.MsgBadUTF8},
	} {
		c.write(tt.typ, tt.in)
		c.expectText(html(tt.want))
	}
	// Unknown inputfuncs are passed on: the host's default inputfunc
	// decides what the player hears.
	c.writeText(`["no_such_inputfunc",[1],{"a":"b"}]`)
	msgs := h.dataIn(id)
	if msgs[0].Name != "no_such_inputfunc" || msgs[0].Kwargs["a"] != "b" {
		t.Fatalf("unknown inputfunc reached the host as %#v", msgs)
	}
	// Still connected, still the same session: nothing else reached the
	// host in between.
	c.writeText(`["text",["look"],{}]`)
	if msgs := h.dataIn(id); msgs[0].Args[0] != "look" {
		t.Fatalf("input after bad frames: %#v", msgs)
	}
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}

	// The same for the JSON envelope format, whose messages to the player
	// are ANSI text.
	j := h.dial("/ws", ProtoJSON)
	jid := h.connected().Sessid
	j.writeText(`not json`)
	j.expect(websocket.MessageBinary, msgNotJSON+"\r\n")
	j.writeText(`["text",["look"],{}]`)
	j.expect(websocket.MessageBinary, msgJSONShape+"\r\n")
	j.write(websocket.MessageBinary, "look\n")
	if msgs := h.dataIn(jid); msgs[0].Args[0] != "look" {
		t.Fatalf("input after bad frames: %#v", msgs)
	}
}

// TestOversizedMessage: a message over max_message_size closes the
// connection with 1009; without a csessid to resume by, the session ends.
func TestOversizedMessage(t *testing.T) {
	h := newHarness(t, map[string]any{"max_message_size": 1024})
	c := h.dial("/ws")
	id := h.connected().Sessid
	c.writeText(`["text",["` + strings.Repeat("x", 2000) + `"],{}]`)
	c.expectClosed(websocket.StatusMessageTooBig)
	if reason := h.disconnected(id); reason != reasonLost {
		t.Fatalf("reason %q", reason)
	}
}

// TestDefaultMessageLimit: by default a message may carry a line of the
// host's max_input_length in four-byte characters; one that does, but has
// too many characters, is refused with Evennia's message, not a close.
func TestDefaultMessageLimit(t *testing.T) {
	h := newHarness(t, nil)
	if h.p.settings().maxMsg != 4*hostMaxInput+1024 {
		t.Fatalf("max message %d", h.p.settings().maxMsg)
	}
	c := h.dial("/ws")
	id := h.connected().Sessid
	c.writeText(`["text",["` + strings.Repeat("😀", hostMaxInput) + `"],{}]`)
	msgs := h.dataIn(id)
	if got := msgs[0].Args[0].(string); got != strings.Repeat("😀", hostMaxInput) {
		t.Fatalf("text %q", got)
	}
	c.writeText(`["text",["` + strings.Repeat("😀", hostMaxInput+1) + `"],{}]`)
	c.expectText(`["text",["` + sdk.MsgTooLong + `"],{}]`)
}

// TestCommandRate: past command_rate a second, input is dropped and the
// client told, once.
func TestCommandRate(t *testing.T) {
	h := newHarness(t, map[string]any{"command_rate": 5})
	c := h.dial("/ws")
	id := h.connected().Sessid
	for range 20 {
		c.writeText(`["text",["look"],{}]`)
	}
	c.expectText(`["text",["` + MsgTooFast + `"],{}]`)
	c.close(websocket.StatusNormalClosure, "")
	passed := 0
	for {
		ev := h.next()
		if ev.GetDisconnected() != nil {
			break
		}
		if ev.GetDataIn().GetSessid() != id {
			t.Fatalf("unexpected event %v", ev)
		}
		passed++
	}
	// Five at once, and a sixth if the test was slow enough to earn one.
	if passed < 5 || passed > 6 {
		t.Fatalf("%d of 20 messages passed at 5 a second", passed)
	}
}

// TestWebsocketClose: ["websocket_close",[],{}] ends the session at once
// and the server closes with 1000; the csessid resumes nothing after it.
func TestWebsocketClose(t *testing.T) {
	h := newHarness(t, nil)
	csessid := newCsessid()
	c := h.dial("/ws?" + csessid)
	id := h.connected().Sessid
	c.writeText(`["websocket_close",[],{}]`)
	if reason := h.disconnected(id); reason != reasonClientClosed {
		t.Fatalf("reason %q", reason)
	}
	c.expectClosed(websocket.StatusNormalClosure)
	h.dial("/ws?" + csessid)
	if d := h.connected(); d.Sessid == id {
		t.Fatal("a closed session was resumed")
	}
}

// TestHostDisconnects: a session the host ends shows its reason and closes
// with 1000, the code that tells a page not to reconnect by itself.
func TestHostDisconnects(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/ws?" + newCsessid())
	id := h.connected().Sessid
	h.send(id, sdk.Text("Last words."))
	h.portal.Disconnect(h.portal.Session(id), "Quitting. Hope to see you again, soon.")
	c.expectText(`["text",["Last words."],{}]`)
	c.expectText(`["text",["Quitting. Hope to see you again, soon."],{}]`)
	if reason := c.expectClosed(websocket.StatusNormalClosure); reason != "Quitting. Hope to see you again, soon." {
		t.Fatalf("close reason %q", reason)
	}
}

// TestPasswordEcho: the host's echo option reaches a v1 client, which is
// how the page knows to hide what is typed.
func TestPasswordEcho(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial("/ws")
	id := h.connected().Sessid
	h.send(id, sdk.Message{Name: "prompt", Args: []any{"Password: "}, Kwargs: opts(map[string]any{"echo": false})})
	c.expectText(`["prompt",["Password: "],{"options":{"echo":false}}]`)
	h.send(id, sdk.Message{Name: "text", Args: []any{""}, Kwargs: opts(map[string]any{"echo": true})})
	c.expectText(`["text",[""],{"options":{"echo":true}}]`)
}

// TestPing: a client that answers pings stays connected; one that does
// not is dropped (and its session waits for a resume).
func TestPing(t *testing.T) {
	h := newHarness(t, map[string]any{"ping_interval": "30ms", "ping_timeout": "200ms"})
	pings := make(chan struct{}, 16)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	good, _, err := websocket.Dial(ctx, h.ws+"/ws", &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pings <- struct{}{}:
			default:
			}
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer good.CloseNow()
	id := h.connected().Sessid
	// The client answers pings only while it reads.
	readCtx := good.CloseRead(context.Background())
	for range 3 {
		select {
		case <-pings:
		case <-readCtx.Done():
			t.Fatal("the server dropped a client that answers pings")
		case <-time.After(waitFor):
			t.Fatal("no ping")
		}
	}
	if h.portal.Session(id) == nil {
		t.Fatal("session gone")
	}

	// A client that never reads never answers.
	mute := h.dial("/ws?" + newCsessid())
	muteID := h.connected().Sessid
	_ = mute
	if code := h.connectionEnded(); code != -1 {
		t.Fatalf("a silent client's connection ended with %d", code)
	}
	if h.portal.Session(muteID) == nil {
		t.Fatal("a dropped connection with a csessid ended its session at once")
	}
}

// TestOrigins: a page from another site may not open a websocket here
// unless allowed_origins names it (a host pattern on any of its ports);
// the page's own host may, on any port (Evennia serves its page on another
// port than the websocket); clients that send no Origin (MUD clients)
// always may.
func TestOrigins(t *testing.T) {
	h := newHarness(t, map[string]any{"allowed_origins": []any{"game.example"}})
	dial := func(origin string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(ctx, h.ws+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
		}
		return resp, err
	}
	for _, o := range []string{"https://evil.example", "http://localhost:1"} {
		if resp, err := dial(o); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin %s: %v %v", o, resp, err)
		}
	}
	for _, o := range []string{"", "https://game.example", "http://game.example:8080", h.http, "http://127.0.0.1:1"} {
		if _, err := dial(o); err != nil {
			t.Fatalf("origin %q refused: %v", o, err)
		}
		h.connected()
	}
}
