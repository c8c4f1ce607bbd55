package main

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

const (
	badUTF8Line = sdk.MsgBadUTF8 + "\r\n"
	tooLongLine = sdk.MsgTooLong + "\r\n"
)

var transports = []transport{overTCP, overPipe}

// connectOffers is what the server sends a new client, byte for byte:
// Evennia's offers (DO LINEMODE, WILL SGA, DO NAWS, DO TTYPE, WILL MCCP2,
// WILL MSSP, WILL MSDP, WILL GMCP, WILL MXP) with WILL EOR and WILL CHARSET
// added before MCCP2.
const connectOffers = iac + do + "\x22" + iac + will + "\x03" + iac + do + "\x1f" + iac + do + "\x18" +
	iac + will + "\x19" + iac + will + "\x2a" + iac + will + "\x56" + iac + will + "\x46" +
	iac + will + "\x45" + iac + will + "\xc9" + iac + will + "\x5b"

func TestConnect(t *testing.T) {
	if got := string(defaultPolicy().offerBytes); got != connectOffers {
		t.Fatalf("offers = %q, want %q", got, connectOffers)
	}
	// The harness has read and checked the offers already.
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	s := h.connect.GetSession()
	if s.GetProtocolKey() != "telnet" {
		t.Errorf("protocol_key = %q, want telnet", s.GetProtocolKey())
	}
	if want := h.client.LocalAddr().String(); s.GetAddress() != want {
		t.Errorf("address = %q, want the client's %q", s.GetAddress(), want)
	}
	if h.id == 0 {
		t.Error("session id 0")
	}
	if h.portal.Count() != 1 {
		t.Errorf("portal has %d sessions, want 1", h.portal.Count())
	}
	// After the offers, nothing more until the client says something.
	h.expectOutput("")
}

func TestInput(t *testing.T) {
	tests := []struct {
		name   string
		writes []string // each one client Write
		want   []string // text inputs reaching the host, in order
		out    string   // bytes the client gets back
	}{
		{name: "crlf", writes: []string{"look\r\n"}, want: []string{"look"}},
		{name: "every line end", writes: []string{"a\nb\rc\r\n"}, want: []string{"a", "b", "c"}},
		{name: "lf cr is one line end", writes: []string{"a\n\rb\r\n"}, want: []string{"a", "b"}},
		{name: "empty line", writes: []string{"\r\n"}, want: []string{""}},
		{name: "line split across writes", writes: []string{"lo", "ok\r\n"}, want: []string{"look"}},
		{name: "several lines in one write, one split", writes: []string{"one\r\ntw", "o\r\nthree\r\n"},
			want: []string{"one", "two", "three"}},
		{name: "cr lf split across writes", writes: []string{"look\r", "\nsay hi\r\n"}, want: []string{"look", "say hi"}},
		{name: "lf cr split across writes", writes: []string{"look\n", "\rsay hi\r\n"}, want: []string{"look", "say hi"}},
		{name: "cr nul is a bare cr", writes: []string{"look\r\x00say hi\r\n"}, want: []string{"look", "say hi"}},
		{name: "iac nop inside a line", writes: []string{"lo" + iac + nop + "ok\r\n"}, want: []string{"look"}},
		{name: "lone iac at the end of a write", writes: []string{"lo" + iac, nop + "ok\r\n"}, want: []string{"look"}},
		// NEW-ENVIRON (39) is an option this server refuses.
		{name: "iac and verb split from the option", writes: []string{"lo" + iac + will, "\x27ok\r\n"},
			want: []string{"look"}, out: iac + dont + "\x27"},
		{name: "other commands removed", writes: []string{iac + "\xf6" + "lo" + iac + "\xf9" + "ok" + iac + "\xef" + "\r\n"},
			want: []string{"look"}},
		{name: "stray se and non-commands removed", writes: []string{"lo" + iac + se + "o" + iac + "\x41" + "k\r\n"},
			want: []string{"look"}},
		{name: "subnegotiation swallowed", writes: []string{"lo" + iac + sb + "\x18\x00xterm" + iac + se + "ok\r\n"},
			want: []string{"look"}},
		// An option without a handler (NEW-ENVIRON): read and dropped.
		{name: "subnegotiation split across writes",
			writes: []string{iac + sb + "\x27\x00USER", "\x01x" + iac, iac + "more" + iac, se + "look\r\n"},
			want:   []string{"look"}},
		{name: "subnegotiation with line ends inside", writes: []string{iac + sb + "\x18a\r\nb\r\n" + iac + se + "look\r\n"},
			want: []string{"look"}},
		{name: "iac iac is byte 255, invalid alone", writes: []string{iac + iac + "\r\n"}, out: badUTF8Line},
		{name: "iac iac split across writes", writes: []string{"x" + iac, iac + "y\r\n", "look\r\n"},
			want: []string{"look"}, out: badUTF8Line},
		{name: "invalid utf-8", writes: []string{"caf\xe9\r\n", "caf\xc3\xa9\r\n"}, want: []string{"café"}, out: badUTF8Line},
		{name: "utf-8 split across writes", writes: []string{"caf\xc3", "\xa9\r\n"}, want: []string{"café"}},
		{name: "escape and control characters stripped",
			writes: []string{"\x1b[31mred\x1b[0m\x07 \x7fbell\x08\r\n"}, want: []string{"[31mred[0m bell"}},
		{name: "tab kept, c1 stripped", writes: []string{"a\tb\xc2\x9b2Jc\r\n"}, want: []string{"a\tb2Jc"}},
		{name: "lone nul is idle", writes: []string{"\x00\r\n"}, want: []string{"idle"}},
		{name: "nul with text is stripped", writes: []string{"lo\x00ok\r\n"}, want: []string{"look"}},
		{name: "lone nul after lf", writes: []string{"look\n\x00\n"}, want: []string{"look", "idle"}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.String()+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, Config{MaxLineLength: 6000}, tr)
				h.write(tt.writes...)
				h.expectText(tt.want...)
				h.expectOutput(tt.out)
			})
		}
	}
}

func TestInputTooLong(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000}, tr)
			// 100 KB in one write, and the same again in many small ones.
			h.write(strings.Repeat("x", 100_000)+"\r\n", "look\r\n")
			h.expectText("look")
			h.expectOutput(tooLongLine)
			for range 100 {
				h.write(strings.Repeat("y", 1000))
			}
			h.write("\r\nsay hi\r\n")
			h.expectText("say hi")
			h.expectOutput(tooLongLine)
		})
	}
}

func TestInputLengthInCharacters(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 5}, overPipe)
	h.write("12345\r\n", "ééééé\r\n", "€€€€€\r\n", "123456\r\n", "éééééé\r\n", "ok\r\n")
	h.expectText("12345", "ééééé", "€€€€€", "ok")
	h.expectOutput(tooLongLine + tooLongLine)
	// Past the splitter's byte bound (4 bytes a character, plus 4) the line
	// is cut off while it arrives, and still refused once.
	h.write(strings.Repeat("z", 5*4+5), strings.Repeat("z", 100), "\r\n", "ok\r\n")
	h.expectText("ok")
	h.expectOutput(tooLongLine)
}

// TestNegotiation covers the Q method as a client sees it (the harness's
// client has not answered the connect offers). 39 (NEW-ENVIRON), 0
// (BINARY), 32 (TSPEED) and 35 (XDISPLOC) are options this server refuses.
func TestNegotiation(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		out    string
		// again is what the same writes get a second time.
		again string
	}{
		{name: "do unknown refused once", writes: []string{iac + do + "\x27", iac + do + "\x27", iac + do + "\x27" + iac + do + "\x27"},
			out: iac + wont + "\x27"},
		{name: "will unknown refused once", writes: []string{iac + will + "\x27", iac + will + "\x27"},
			out: iac + dont + "\x27"},
		{name: "do and will of one option each answered", writes: []string{iac + do + "\x27" + iac + will + "\x27" + iac + do + "\x27"},
			out: iac + wont + "\x27" + iac + dont + "\x27"},
		{name: "several options in order", writes: []string{iac + do + "\x00" + iac + will + "\x20" + iac + do + "\x27" + iac + will + "\x23"},
			out: iac + wont + "\x00" + iac + dont + "\x20" + iac + wont + "\x27" + iac + dont + "\x23"},
		// A client's DO ECHO would have the server echo typing: refused.
		{name: "do echo refused once", writes: []string{iac + do + echo, iac + dont + echo, iac + do + echo},
			out: iac + wont + echo},
		{name: "will echo refused once", writes: []string{iac + will + echo, iac + will + echo}, out: iac + dont + echo},
		// WONT and DONT for options that are off need no answer; WONT
		// NAWS refuses our DO NAWS, which needs none either.
		{name: "wont and dont unanswered", writes: []string{iac + wont + "\x27" + iac + dont + "\x27" + iac + wont + "\x1f"}},
		// Evennia #2044: a DONT for an option never offered ends nothing.
		{name: "unexpected dont ignored", writes: []string{iac + dont + "\x27", iac + dont + "\x01", iac + dont + "\x22"}},
		{name: "no second answer after wont", writes: []string{iac + will + "\x27", iac + wont + "\x27", iac + will + "\x27"},
			out: iac + dont + "\x27"},
		{name: "lone iac before the verb", writes: []string{iac, do + "\x27"}, out: iac + wont + "\x27"},
		{name: "verb before the option", writes: []string{iac + do, "\x27"}, out: iac + wont + "\x27"},
		// Answers to our offers are not answered again.
		{name: "offers accepted silently", writes: []string{iac + do + "\x03", iac + do + "\x19", iac + will + "\x1f"}},
		{name: "offers refused silently", writes: []string{iac + dont + "\x03" + iac + dont + "\x56" + iac + wont + "\x18"}},
		// Agreed, then turned off by the client: the Q method confirms once.
		{name: "dont after agreement confirmed", writes: []string{iac + do + "\x03", iac + dont + "\x03"},
			out: iac + wont + "\x03", again: iac + will + "\x03" + iac + wont + "\x03"},
		{name: "subnegotiations nobody asked for unanswered", writes: []string{
			iac + sb + "\x18\x00XTERM" + iac + se,
			iac + sb + "\x2a\x02UTF-8" + iac + se,
			iac + sb + "\x27\x01USER" + iac + se,
		}},
		{name: "unterminated subnegotiation then do", writes: []string{iac + sb + "\x18junk" + iac + do + "\x27"},
			out: iac + wont + "\x27"},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.String()+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, Config{MaxLineLength: 6000}, tr)
				h.write(tt.writes...)
				h.expectOutput(tt.out)
				// Asked again later: no loop, no second refusal.
				h.write(tt.writes...)
				h.expectOutput(tt.again)
			})
		}
	}
}

func TestOutputText(t *testing.T) {
	tests := []struct {
		name string
		msgs []sdk.Message
		want string
	}{
		{name: "line end added", msgs: []sdk.Message{sdk.Text("hello")}, want: "hello\r\n"},
		{name: "lf becomes cr lf", msgs: []sdk.Message{sdk.Text("a\nb")}, want: "a\r\nb\r\n"},
		{name: "ending lf, no extra line", msgs: []sdk.Message{sdk.Text("hello\n")}, want: "hello\r\n"},
		{name: "ending cr lf kept", msgs: []sdk.Message{sdk.Text("hello\r\n")}, want: "hello\r\n"},
		{name: "blank lines kept", msgs: []sdk.Message{sdk.Text("a\n\nb\n")}, want: "a\r\n\r\nb\r\n"},
		{name: "empty text is an empty line", msgs: []sdk.Message{sdk.Text("")}, want: "\r\n"},
		{name: "bare cr is cr nul", msgs: []sdk.Message{sdk.Text("50%\r100%")}, want: "50%\r\x00100%\r\n"},
		{name: "ending bare cr takes the added lf", msgs: []sdk.Message{sdk.Text("50%\r")}, want: "50%\r\n"},
		{name: "raw ending bare cr takes the added lf", msgs: []sdk.Message{withOptions("text", "50%\r", map[string]any{"raw": true})},
			want: "50%\r\n"},
		{name: "several messages, one write", msgs: []sdk.Message{sdk.Text("one"), sdk.Text("two\n")},
			want: "one\r\ntwo\r\n"},
		{name: "u+00ff is utf-8, no iac", msgs: []sdk.Message{sdk.Text("ÿ")}, want: "\xc3\xbf\r\n"},
		{name: "raw 0xff doubled", msgs: []sdk.Message{withOptions("text", "a\xffb\xff", map[string]any{"raw": true})},
			want: "a" + iac + iac + "b" + iac + iac + "\r\n"},
		// Rendered text is valid UTF-8, so no IAC can reach the wire
		// unescaped from it: an invalid byte becomes U+FFFD.
		{name: "rendered 0xff replaced", msgs: []sdk.Message{sdk.Text("a\xffb")}, want: "a\uFFFDb\r\n"},
		{name: "prompt has no line end", msgs: []sdk.Message{contract.Prompt("> ")}, want: "> "},
		{name: "prompt then text", msgs: []sdk.Message{contract.Prompt("HP 10> "), sdk.Text("hello")},
			want: "HP 10> hello\r\n"},
		{name: "oob produces nothing", msgs: []sdk.Message{{Name: "gmcp_thing", Args: []any{"x"},
			Kwargs: map[string]any{"a": int64(1)}}}},
		{name: "oob between text", msgs: []sdk.Message{sdk.Text("a"), {Name: "client_options"}, sdk.Text("b")},
			want: "a\r\nb\r\n"},
		{name: "raw leaves markup", msgs: []sdk.Message{withOptions("text", "|rred|n", map[string]any{"raw": true})},
			want: "|rred|n\r\n"},
		{name: "player escape sequence removed", msgs: []sdk.Message{sdk.Text("a\x1b[2Jb")}, want: "ab\r\n"},
		{name: "literal pipe", msgs: []sdk.Message{sdk.Text("a||b")}, want: "a|b\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
			h.send(tt.msgs...)
			h.expectOutput(tt.want)
		})
	}
}

// TestOutputAllocations bounds the allocations of one line's output: a
// broadcast renders it for every session at once, and each allocation
// there is one per client. The line's bytes are the one allocation left
// (the writer takes them over).
func TestOutputAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without the race detector (make test runs this test again without -race)")
	}
	h := newHarnessWith(t, Config{MaxLineLength: 6000}, overTCP, func(p *Plugin) {
		p.negotiationTimeout = 20 * time.Millisecond
	})
	// The negotiation's timeout has synced (its allocations are not
	// counted below: AllocsPerRun counts the whole process's).
	h.syncFlags()
	msgs := []sdk.Message{sdk.Text("Server restart initiated ...")}
	h.send(msgs...) // warm: the writer's
	n := testing.AllocsPerRun(100, func() { h.send(msgs...) })
	if n > 1 {
		t.Errorf("one line of output: %.1f allocations, want at most 1", n)
	}
	h.expectOutput(strings.Repeat("Server restart initiated ...\r\n", 102))
}

func TestOutputMarkup(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	d := h.sess.GetSyncData()
	mode := markup.ModeOf(&d.ProtocolFlags)
	if mode != markup.ANSI16 {
		t.Fatalf("a new telnet session's colour mode = %v, want ANSI16", mode)
	}
	rendered := markup.Render("|rred|n", mode)
	if !strings.Contains(rendered, "\x1b[") || strings.Contains(rendered, "|r") {
		t.Fatalf("markup.Render(|rred|n, ANSI16) = %q, want ANSI", rendered)
	}
	h.send(sdk.Text("|rred|n"))
	h.expectOutput(rendered + "\r\n")

	h.send(contract.Prompt("|gHP|n> "))
	h.expectOutput(markup.Render("|gHP|n> ", mode))

	// RAW on the session leaves markup alone too.
	h.sess.Update(func(d *sdk.SessionData) { d.ProtocolFlags.Set(contract.FlagRaw, true) })
	h.send(sdk.Text("|rred|n"), sdk.Text("\xff"))
	h.expectOutput("|rred|n\r\n" + iac + iac + "\r\n")

	// NOCOLOR: markup removed, no escape sequence at all.
	h.sess.Update(func(d *sdk.SessionData) {
		d.ProtocolFlags.Set(contract.FlagRaw, false)
		d.ProtocolFlags.Set(contract.FlagNoColor, true)
	})
	h.send(sdk.Text("|rred|n and |[bblue|n"), sdk.Text("a\x1b[31mb"))
	got := h.flush()
	if want := "red and blue\r\nab\r\n"; string(got) != want {
		t.Fatalf("NOCOLOR output = %q, want %q", got, want)
	}

	// XTERM256 is honoured when the host sets it.
	h.sess.Update(func(d *sdk.SessionData) {
		d.ProtocolFlags.Set(contract.FlagNoColor, false)
		d.ProtocolFlags.Set(contract.FlagXterm256, true)
	})
	h.send(sdk.Text("|500x"))
	h.expectOutput(markup.Render("|500x", markup.Xterm256) + "\r\n")
}

func echoOpt(name, text string, on bool) sdk.Message {
	return withOptions(name, text, map[string]any{"echo": on})
}

// TestOutputEchoRawClient: a client that never negotiates anything gets
// every echo change at once, in order with the text: it cannot loop, and
// waiting for answers it never gives would leave its echo off.
func TestOutputEchoRawClient(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)

	// Echo on while already on: nothing to say.
	h.send(echoOpt("text", "hi", true))
	h.expectOutput("hi\r\n")

	h.send(echoOpt("text", "Password:", false))
	h.expectOutput(iac + will + echo + "Password:\r\n")
	// Off again: WILL ECHO is not repeated.
	h.send(echoOpt("prompt", "Password: ", false))
	h.expectOutput("Password: ")
	h.write("secret\r\n")
	h.expectText("secret")
	h.expectOutput("")

	h.send(echoOpt("text", "Welcome.", true))
	h.expectOutput(iac + wont + echo + "Welcome.\r\n")
	h.send(echoOpt("text", "again", true))
	h.expectOutput("again\r\n")

	// Off and on within one Send.
	h.send(echoOpt("prompt", "pw: ", false), echoOpt("text", "ok", true))
	h.expectOutput(iac + will + echo + "pw: " + iac + wont + echo + "ok\r\n")

	// A text without the echo option leaves echo as it is.
	h.send(echoOpt("text", "a", false), sdk.Text("b"), echoOpt("text", "c", false))
	h.expectOutput(iac + will + echo + "a\r\nb\r\nc\r\n")
}

// TestOutputEchoNegotiatingClient: once a client negotiates, echo changes
// follow the Q method: no second request before the first is answered, a
// change of mind queued and sent when the answer comes.
func TestOutputEchoNegotiatingClient(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(iac + do + "\x03") // agree to SGA: this client negotiates
	h.expectOutput("")

	h.send(echoOpt("prompt", "Password: ", false))
	h.expectOutput(iac + will + echo + "Password: ")
	// The client's DO ECHO answers our WILL: no reply.
	h.write(iac + do + echo + "secret\r\n")
	h.expectText("secret")
	h.expectOutput("")
	h.send(echoOpt("text", "Welcome.", true))
	h.expectOutput(iac + wont + echo + "Welcome.\r\n")
	h.write(iac + dont + echo)
	h.expectOutput("")

	// Off and on within one Send, before the client answers: the WONT
	// waits for the client's DO, then goes out.
	h.send(echoOpt("prompt", "pw: ", false), echoOpt("text", "ok", true))
	h.expectOutput(iac + will + echo + "pw: ok\r\n")
	h.write(iac + do + echo)
	h.expectOutput(iac + wont + echo)
	h.write(iac + dont + echo)
	h.expectOutput("")

	// A client that refuses ECHO is not asked again until the game
	// changes its mind twice.
	h.send(echoOpt("prompt", "pw: ", false))
	h.expectOutput(iac + will + echo + "pw: ")
	h.write(iac + dont + echo)
	h.expectOutput("")
	h.send(echoOpt("text", "ok", true))
	h.expectOutput("ok\r\n")
}

func TestCloseWritesReason(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000}, tr)
			h.send(sdk.Text("hello"))
			// The portal's path: the session is gone (Disconnected with the
			// reason) and then conn.Close shows the reason.
			h.portal.Disconnect(h.sess, "bye")
			h.expectClosed("hello\r\nbye\r\n")
			h.send(sdk.Text("too late")) // must neither panic nor write
			evs := h.rest()
			if len(evs) != 1 || evs[0].GetDisconnected() == nil {
				t.Fatalf("events after Disconnect = %v, want one Disconnected", evs)
			}
			if d := evs[0].GetDisconnected(); d.GetSessid() != h.id || d.GetReason() != "bye" {
				t.Fatalf("Disconnected = %v, want sessid %d reason bye", d, h.id)
			}
			if h.portal.Count() != 0 {
				t.Fatalf("portal still has %d sessions", h.portal.Count())
			}
		})
	}
}

func TestCloseDirect(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.c.Close("Goodbye\nfor now")
	h.c.Close("twice") // ignored
	h.expectClosed("Goodbye\r\nfor now\r\n")
	evs := h.rest()
	if len(evs) != 1 || evs[0].GetDisconnected().GetSessid() != h.id {
		t.Fatalf("events after Close = %v, want one Disconnected of %d", evs, h.id)
	}
}

func TestCloseEmptyReason(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.c.Close("")
	h.expectClosed("")
}

func TestClientHangsUp(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000}, tr)
			h.write("look\r\nunfinished")
			h.expectText("look")
			h.client.Close()
			ev := h.col.next(t)
			d := ev.GetDisconnected()
			if d == nil || d.GetSessid() != h.id || d.GetReason() == "" {
				t.Fatalf("event after hang-up = %v, want Disconnected of %d with a reason", ev, h.id)
			}
			if evs := h.rest(); len(evs) != 0 {
				t.Fatalf("more events after Disconnected: %v", evs)
			}
			if h.portal.Session(h.id) != nil || h.portal.Count() != 0 {
				t.Fatal("session still in the portal after hang-up")
			}
			// Output for a session whose client left is dropped quietly.
			h.send(sdk.Text("anyone?"))
		})
	}
}

func TestInputBeforeHangUpArrivesFirst(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write("one\r\ntwo\r\n")
	h.client.Close()
	h.expectText("one", "two")
	if ev := h.col.next(t); ev.GetDisconnected() == nil {
		t.Fatalf("event = %v, want Disconnected", ev)
	}
}
