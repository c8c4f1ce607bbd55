package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
	"github.com/portico-mud/portico/sdk/wire"
)

// Option bytes, spelled for the expected wire data.
const (
	optSGA      = "\x03"
	optTTYPE    = "\x18"
	optEOR      = "\x19"
	optNAWS     = "\x1f"
	optLinemode = "\x22"
	optCharset  = "\x2a"
	optMSDP     = "\x45"
	optMSSP     = "\x46"
	optMCCP2    = "\x56"
	optMXP      = "\x5b"
	optGMCP     = "\xc9"
)

// himOffers and usOffers are the options the server offers with DO and
// WILL on connect.
var (
	himOffers = []string{optLinemode, optNAWS, optTTYPE}
	usOffers  = []string{optSGA, optEOR, optCharset, optMCCP2, optMSSP, optMSDP, optGMCP, optMXP}
)

// answers is a client's reply to every connect offer: it agrees to the
// options named and refuses the rest, so that negotiation ends as soon as
// the agreed options' handshakes do.
func answers(agree ...string) string {
	yes := map[string]bool{}
	for _, o := range agree {
		yes[o] = true
	}
	var b strings.Builder
	for _, o := range himOffers {
		if yes[o] {
			b.WriteString(iac + will + o)
		} else {
			b.WriteString(iac + wont + o)
		}
	}
	for _, o := range usOffers {
		if yes[o] {
			b.WriteString(iac + do + o)
		} else {
			b.WriteString(iac + dont + o)
		}
	}
	return b.String()
}

func subneg(opt, payload string) string { return iac + sb + opt + payload + iac + se }

// syncFlags waits for the next sync to the host and returns its flags.
func (h *harness) syncFlags() map[string]any {
	h.t.Helper()
	s := h.col.nextSync(h.t, waitFor)
	if s.GetSession().GetSessid() != h.id {
		h.t.Fatalf("sync of session %d, want %d", s.GetSession().GetSessid(), h.id)
	}
	d, err := wire.SessionFromPB(s.GetSession())
	if err != nil {
		h.t.Fatal(err)
	}
	return d.ProtocolFlags.Map()
}

// expectFlags checks that flags hold want (JSON numbers as int64, as they
// reach the host).
func expectFlags(t *testing.T, flags map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := flags[k]
		// Numbers by value: SCREENWIDTH is an int in the typed flags
		// after a trip through the wire (it was an int64).
		if !ok || !sameFlag(got, v) {
			t.Errorf("flag %s = %#v (set %v), want %#v", k, got, ok, v)
		}
	}
}

// expectNoFlags checks that none of the names is set true.
func expectNoFlags(t *testing.T, flags map[string]any, names ...string) {
	t.Helper()
	for _, k := range names {
		if v, ok := flags[k]; ok && v != false {
			t.Errorf("flag %s = %#v, want unset or false", k, v)
		}
	}
}

// TestFullNegotiation: a MUD client that takes every option. Each answer
// gets exactly the bytes the protocol asks for, and negotiation ends with
// one sync carrying every flag, long before the 2 s timeout.
func TestFullNegotiation(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	start := time.Now()
	steps := []struct {
		client, server string
	}{
		{iac + will + optLinemode, subneg(optLinemode, "\x01\x03")},
		{subneg(optLinemode, "\x01\x07"), ""}, // the client's MODE ACK needs no answer
		{iac + do + optSGA, ""},
		{iac + will + optNAWS + subneg(optNAWS, "\x00\x64\x00\x28"), ""},
		{iac + will + optTTYPE, subneg(optTTYPE, "\x01")},
		{subneg(optTTYPE, "\x00TinTin++"), subneg(optTTYPE, "\x01")},
		{subneg(optTTYPE, "\x00xterm-256color"), subneg(optTTYPE, "\x01")},
		{subneg(optTTYPE, "\x00MTTS 2825"), ""},
		{iac + do + optEOR, ""},
		{iac + do + optCharset, subneg(optCharset, "\x01;UTF-8")},
		{subneg(optCharset, "\x02UTF-8"), ""},
		{iac + dont + optMCCP2, ""},
		{iac + dont + optMSSP, ""},
		{iac + do + optMSDP, ""},
		{iac + do + optGMCP, ""},
		{iac + do + optMXP, subneg(optMXP, "") + "\x1b[7z"},
	}
	for _, s := range steps {
		h.col.noSync(t)
		h.write(s.client)
		h.expectOutput(s.server)
	}
	flags := h.syncFlags()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("negotiation synced after %v", d)
	}
	expectFlags(t, flags, map[string]any{
		"CLIENTNAME": "TINTIN++", "TERM": "xterm-256color", "TTYPE": true,
		"ANSI": true, "XTERM256": true, "TRUECOLOR": true, "UTF-8": true,
		"MNES": true, "SSL": true, "ENCODING": "utf-8",
		"SCREENWIDTH": 100, "SCREENHEIGHT": 40, "AUTORESIZE": true,
		"NOGOAHEAD": true, "NOPROMPTGOAHEAD": true, "FORCEDENDLINE": true,
		"MCCP": false, "OOB": true, "MXP": true,
	})
	expectNoFlags(t, flags, "VT100", "SCREENREADER")
	h.col.noSync(t)

	// After negotiation, every change is synced at once: a resize ...
	h.write(subneg(optNAWS, "\x00\x50\x00\x18"))
	h.expectOutput("")
	expectFlags(t, h.syncFlags(), map[string]any{"SCREENWIDTH": 80, "SCREENHEIGHT": 24})
	// ... but the same size again changes nothing.
	h.write(subneg(optNAWS, "\x00\x50\x00\x18"))
	h.expectOutput("")
	h.col.noSync(t)
	// A TTYPE answer nobody asked for changes nothing either.
	h.write(subneg(optTTYPE, "\x00EVIL"))
	h.expectOutput("")
	h.col.noSync(t)
}

// TestRawClientSession: a socket that answers nothing still gets a usable
// session: the connection screen path (Connect at once), input, output,
// and its flags synced when the 2 s negotiation timeout runs out.
func TestRawClientSession(t *testing.T) {
	connected := time.Now()
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	// The Connect came at once, with the start flags.
	d, err := wire.SessionFromPB(h.connect.GetSession())
	if err != nil {
		t.Fatal(err)
	}
	expectFlags(t, d.ProtocolFlags.Map(), map[string]any{"NOGOAHEAD": true, "SCREENWIDTH": 78, "SCREENHEIGHT": 45,
		"TTYPE": false, "ANSI": true, "MCCP": false})
	h.write("look\r\n")
	h.expectText("look")
	h.send(sdk.Text("Welcome!"))
	h.expectOutput("Welcome!\r\n")

	flags := h.syncFlags()
	waited := time.Since(connected)
	if waited < negotiationTimeout-100*time.Millisecond || waited > negotiationTimeout+2*time.Second {
		t.Fatalf("flags synced after %v, want about %v", waited, negotiationTimeout)
	}
	expectFlags(t, flags, map[string]any{"TTYPE": false, "SCREENWIDTH": 78, "MCCP": false, "OOB": false})
	// Still usable afterwards.
	h.write("say hi\r\n")
	h.expectText("say hi")
}

// TestLateAnswersSync: answers arriving after the timeout are synced as
// they come, each TTYPE step on its own.
func TestLateAnswersSync(t *testing.T) {
	h := newHarnessWith(t, Config{MaxLineLength: 6000}, overTCP, func(p *Plugin) {
		p.negotiationTimeout = 50 * time.Millisecond
	})
	h.syncFlags() // the timeout's
	h.write(iac + will + optTTYPE)
	h.expectOutput(subneg(optTTYPE, "\x01"))
	h.write(subneg(optTTYPE, "\x00MUDLET"))
	h.expectOutput(subneg(optTTYPE, "\x01"))
	expectFlags(t, h.syncFlags(), map[string]any{"CLIENTNAME": "MUDLET", "XTERM256": true})
	h.write(subneg(optTTYPE, "\x00ANSI-TRUECOLOR"))
	h.expectOutput(subneg(optTTYPE, "\x01"))
	expectFlags(t, h.syncFlags(), map[string]any{"TERM": "ANSI-TRUECOLOR", "TRUECOLOR": true})
	h.write(subneg(optTTYPE, "\x00MTTS 137"))
	h.expectOutput("")
	flags := h.syncFlags()
	expectFlags(t, flags, map[string]any{"TTYPE": true, "ANSI": true, "XTERM256": true, "PROXY": true})
	expectNoFlags(t, flags, "SCREENREADER", "UTF-8")
}

func TestSGAAndGoAhead(t *testing.T) {
	t.Run("agreed: no GA", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers(optSGA))
		h.expectOutput("")
		expectFlags(t, h.syncFlags(), map[string]any{"NOGOAHEAD": true, "NOPROMPTGOAHEAD": true})
		h.send(sdk.Text("line"), contract.Prompt("> "))
		h.expectOutput("line\r\n> ")
	})
	t.Run("refused: GA after lines, not prompts", func(t *testing.T) {
		// Evennia: DONT SGA -> NOGOAHEAD false: GA after every line; the
		// prompt follows NOPROMPTGOAHEAD, which stays true.
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers())
		h.expectOutput("")
		expectFlags(t, h.syncFlags(), map[string]any{"NOGOAHEAD": false, "NOPROMPTGOAHEAD": true})
		h.send(sdk.Text("line"), contract.Prompt("> "))
		h.expectOutput("line\r\n" + iac + ga + "> ")
	})
	t.Run("mudlet that refused SGA: GA after prompts only", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers(optTTYPE))
		h.expectOutput(subneg(optTTYPE, "\x01"))
		// Mudlet's second answer repeats its first: the cycle ends there.
		h.write(subneg(optTTYPE, "\x00Mudlet"), subneg(optTTYPE, "\x00Mudlet"))
		h.expectOutput(subneg(optTTYPE, "\x01"))
		expectFlags(t, h.syncFlags(), map[string]any{"NOGOAHEAD": true, "NOPROMPTGOAHEAD": false,
			"CLIENTNAME": "MUDLET", "TTYPE": true})
		h.send(sdk.Text("line"), contract.Prompt("> "))
		h.expectOutput("line\r\n> " + iac + ga)
	})
	t.Run("prompt GA when NOPROMPTGOAHEAD is unset follows NOGOAHEAD", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.sess.Update(func(d *sdk.SessionData) {
			d.ProtocolFlags.Delete(flagNoPromptGoAhead)
			d.ProtocolFlags.Set(flagNoGoAhead, false)
		})
		h.send(contract.Prompt("> "))
		h.expectOutput("> " + iac + ga)
	})
}

func TestEOR(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(answers(optSGA, optEOR))
	h.expectOutput("")
	h.syncFlags()
	// EOR marks prompts only, and replaces GA there.
	h.send(sdk.Text("line"), contract.Prompt("HP 10> "), sdk.Text("more"))
	h.expectOutput("line\r\nHP 10> " + iac + eor + "more\r\n")
	h.sess.Update(func(d *sdk.SessionData) { d.ProtocolFlags.Set(flagNoPromptGoAhead, false) })
	h.send(contract.Prompt("> "))
	h.expectOutput("> " + iac + eor)
	// The client turns EOR off: prompts go back to GA rules.
	h.write(iac + dont + optEOR)
	h.expectOutput(iac + wont + optEOR)
	h.send(contract.Prompt("> "))
	h.expectOutput("> " + iac + ga)
}

func TestNAWS(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(answers(optSGA, optNAWS))
	h.expectOutput("")
	// Negotiation is not over until the size is known.
	h.col.noSync(t)
	// 255 columns: the IAC in the size is doubled on the wire.
	h.write(subneg(optNAWS, "\x00\xff\xff\x00\x32"))
	h.expectOutput("")
	expectFlags(t, h.syncFlags(), map[string]any{"SCREENWIDTH": 255, "SCREENHEIGHT": 50, "AUTORESIZE": true})
	// A zero dimension is unknown and leaves that one alone.
	h.write(subneg(optNAWS, "\x00\x00\x00\x20"))
	h.expectOutput("")
	flags := h.syncFlags()
	expectFlags(t, flags, map[string]any{"SCREENWIDTH": 255, "SCREENHEIGHT": 32})
	// Malformed reports are ignored.
	h.write(subneg(optNAWS, "\x00\x50"), subneg(optNAWS, "\x00\x50\x00\x18\x00"))
	h.expectOutput("")
	h.col.noSync(t)
	// The client stops reporting.
	h.write(iac + wont + optNAWS)
	h.expectOutput(iac + dont + optNAWS)
	expectFlags(t, h.syncFlags(), map[string]any{"AUTORESIZE": false})
}

func TestLinemode(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	// MODE EDIT|TRAPSIG: the client edits lines itself.
	h.write(iac + will + optLinemode)
	h.expectOutput(subneg(optLinemode, "\x01\x03"))
	// Its acknowledgement and SLC table are read and need no answer.
	h.write(subneg(optLinemode, "\x01\x07"), subneg(optLinemode, "\x03\x01\x03\x00\x03\x62\x03"))
	h.expectOutput("")
}

func TestTTYPERules(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // the client's answers
		want  map[string]any
		not   []string
	}{
		{name: "tintin", steps: []string{"TinTin++", "XTERM-256COLOR", "MTTS 2825"},
			// 2825 = ANSI 1 + 256 colours 8 + truecolor 256 + MNES 512 + SSL 2048.
			want: map[string]any{"CLIENTNAME": "TINTIN++", "TERM": "XTERM-256COLOR", "XTERM256": true,
				"TRUECOLOR": true, "ANSI": true, "MNES": true, "SSL": true, "TTYPE": true},
			not: []string{"SCREENREADER", "VT100", "PROXY", "UTF-8"}},
		{name: "mushclient", steps: []string{"MUSHclient", "ANSI", "MTTS 13"},
			want: map[string]any{"CLIENTNAME": "MUSHCLIENT", "XTERM256": true, "UTF-8": true, "TTYPE": true},
			not:  []string{"TRUECOLOR", "VT100"}},
		{name: "screen reader bit", steps: []string{"VIP Mud", "ANSI", "MTTS 64"},
			want: map[string]any{"CLIENTNAME": "VIP MUD", "SCREENREADER": true, "XTERM256": false}},
		{name: "plain xterm repeats: cycle ends early", steps: []string{"XTERM", "XTERM"},
			want: map[string]any{"CLIENTNAME": "XTERM", "XTERM256": true, "TTYPE": true}, not: []string{"TERM"}},
		{name: "256color suffix", steps: []string{"foo-256color", "foo-256color"},
			want: map[string]any{"CLIENTNAME": "FOO-256COLOR", "XTERM256": true, "TTYPE": true}},
		{name: "axmud truecolor", steps: []string{"Axmud", "ansi", "MTTS 9"},
			want: map[string]any{"CLIENTNAME": "AXMUD", "TRUECOLOR": true, "XTERM256": true}},
		{name: "term xterm without color", steps: []string{"Foo", "xterm", "MTTS 0"},
			want: map[string]any{"XTERM256": true, "TERM": "xterm", "TTYPE": true}},
		{name: "term -color is not 256", steps: []string{"Foo", "xterm-color", "xterm-color"},
			want: map[string]any{"XTERM256": false, "TERM": "xterm-color", "TTYPE": true}},
		{name: "bad MTTS sets nothing", steps: []string{"Foo", "ansi", "MTTS lots"},
			want: map[string]any{"TTYPE": true}, not: []string{"LOTS", "UTF-8"}},
		{name: "control characters removed", steps: []string{"Fo\x1b[2Jo\x07", "x", "y"},
			want: map[string]any{"CLIENTNAME": "FO[2JO"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
			h.write(answers(optSGA, optTTYPE))
			h.expectOutput(subneg(optTTYPE, "\x01"))
			for i, s := range tt.steps {
				h.write(subneg(optTTYPE, "\x00"+s))
				// Another SEND until the third answer or a repeat.
				want := subneg(optTTYPE, "\x01")
				if i == 2 || (i > 0 && strings.EqualFold(s, tt.steps[i-1])) {
					want = ""
				}
				h.expectOutput(want)
			}
			flags := h.syncFlags()
			expectFlags(t, flags, tt.want)
			expectNoFlags(t, flags, tt.not...)
		})
	}
}

func TestCharset(t *testing.T) {
	t.Run("server request accepted", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers(optSGA, optCharset))
		h.expectOutput(subneg(optCharset, "\x01;UTF-8"))
		h.col.noSync(t) // waiting for the answer
		h.write(subneg(optCharset, "\x02utf-8"))
		h.expectOutput("")
		expectFlags(t, h.syncFlags(), map[string]any{"UTF-8": true, "ENCODING": "utf-8"})
	})
	t.Run("server request rejected", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers(optSGA, optCharset))
		h.expectOutput(subneg(optCharset, "\x01;UTF-8"))
		h.write(subneg(optCharset, "\x03"))
		h.expectOutput("")
		flags := h.syncFlags()
		expectNoFlags(t, flags, "UTF-8")
		expectFlags(t, flags, map[string]any{"ENCODING": "utf-8"})
	})
	t.Run("client request", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(answers(optSGA))
		h.expectOutput("")
		h.syncFlags()
		// The client asks to request (WILL); the server agrees (DO).
		h.write(iac + will + optCharset)
		h.expectOutput(iac + do + optCharset)
		h.write(subneg(optCharset, "\x01 ISO-8859-1 UTF-8"))
		h.expectOutput(subneg(optCharset, "\x02UTF-8"))
		expectFlags(t, h.syncFlags(), map[string]any{"UTF-8": true})
		h.write(subneg(optCharset, "\x01;KOI8-R;CP437"))
		h.expectOutput(subneg(optCharset, "\x03"))
		h.write(subneg(optCharset, "\x01[TTABLE]\x01;UTF8"))
		h.expectOutput(subneg(optCharset, "\x02UTF8"))
		h.syncFlags()
		// Translation tables are never used.
		h.write(subneg(optCharset, "\x04\x01stuff"))
		h.expectOutput(subneg(optCharset, "\x05"))
	})
	t.Run("client request while ours is unanswered is ignored", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(iac + do + optCharset + iac + will + optCharset)
		h.expectOutput(subneg(optCharset, "\x01;UTF-8") + iac + do + optCharset)
		h.write(subneg(optCharset, "\x01;UTF-8"))
		h.expectOutput("")
	})
	t.Run("request from a client not agreed to is ignored", func(t *testing.T) {
		h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
		h.write(subneg(optCharset, "\x01;UTF-8"))
		h.expectOutput("")
	})
}

func TestMCCP2(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(answers(optSGA, optMCCP2, optEOR))
	// In clear: IAC SB MCCP2 IAC SE; everything after it is compressed.
	if got := string(h.readN(5)); got != subneg(optMCCP2, "") {
		t.Fatalf("MCCP2 start = %q", got)
	}
	h.startInflate()
	expectFlags(t, h.syncFlags(), map[string]any{"MCCP": true})
	h.send(sdk.Text("|rHello|n, world"), contract.Prompt("HP 10> "))
	h.expectOutput("\x1b[1m\x1b[31mHello\x1b[0m, world\r\nHP 10> " + iac + eor)
	// Negotiation answers are compressed too.
	h.write(iac + do + "\x27")
	h.expectOutput(iac + wont + "\x27")
	big := strings.Repeat("The goblin hits you. ", 2000)
	h.send(sdk.Text(big))
	h.expectOutput(big + "\r\n")
	if h.streamEnded != 0 {
		t.Fatal("stream ended early")
	}
	// DONT MCCP2: the stream ends cleanly, then WONT MCCP2 in clear.
	h.write(iac + dont + optMCCP2)
	if got := string(h.readN(3)); got != iac+wont+optMCCP2 {
		t.Fatalf("after the stream: %q, want WONT MCCP2", got)
	}
	if h.streamEnded != 1 {
		t.Fatal("the compressed stream did not end")
	}
	expectFlags(t, h.syncFlags(), map[string]any{"MCCP": false})
	h.send(sdk.Text("plain again"))
	h.expectOutput("plain again\r\n")
	// And on again: a new stream.
	h.write(iac + do + optMCCP2)
	if got := string(h.readN(8)); got != iac+will+optMCCP2+subneg(optMCCP2, "") {
		t.Fatalf("MCCP2 restart = %q", got)
	}
	h.startInflate()
	h.send(sdk.Text("compressed"))
	h.expectOutput("compressed\r\n")
	// Closing ends the stream properly before the socket closes.
	h.c.Close("Goodbye.")
	h.expectClosed("Goodbye.\r\n")
	if h.streamEnded != 2 {
		t.Fatal("closing did not end the compressed stream")
	}
}

func TestMSSP(t *testing.T) {
	h := newHarnessWith(t, Config{MaxLineLength: 6000}, overTCP, func(p *Plugin) {
		p.mssp = map[string][]string{"GENRE": {"Fantasy"}, "CRAWL DELAY": {"24"}}
	})
	// One logged-in player: PLAYERS counts logged-in sessions.
	h.sess.Update(func(d *sdk.SessionData) { d.LoggedIn = true })
	h.write(iac + do + optMSSP)
	uptime := fmt.Sprint(h.p.started.Unix())
	v := func(name, val string) string { return "\x01" + name + "\x02" + val }
	want := subneg(optMSSP, v("NAME", "Portico")+v("PLAYERS", "1")+v("UPTIME", uptime)+v("PORT", "0")+
		v("CRAWL DELAY", "24")+v("CODEBASE", "Portico")+v("FAMILY", "Custom")+v("CHARSET", "UTF-8")+
		v("ANSI", "1")+v("GMCP", "1")+v("MSDP", "1")+v("ATCP", "0")+v("MCCP", "1")+v("MCP", "0")+
		v("MSP", "0")+v("MXP", "1")+v("PUEBLO", "0")+v("SSL", "0")+v("UTF-8", "1")+v("ZMP", "0")+
		v("VT100", "1")+v("XTERM 256 COLORS", "1")+v("XTERM TRUE COLORS", "1")+v("GENRE", "Fantasy"))
	h.expectOutput(want)
}

func TestMSSPTable(t *testing.T) {
	table := msspTable(msspInfo{serverName: "My\x01Game\xff", version: "1.2", players: 3, started: 1700000000,
		ports: []int{4000, 4100}, tlsPort: 4003, extra: map[string][]string{"PORT": {"23"}, "WEBSITE": {"https://x"}}})
	got := string(encodeMSSP(table))
	for _, want := range []string{"\x01NAME\x02MyGame\x01" /* reserved bytes dropped */, "\x01PLAYERS\x023",
		"\x01UPTIME\x021700000000", "\x01PORT\x0223\x01CRAWL", "\x01CODEBASE\x02Portico 1.2",
		"\x01SSL\x024003", "\x01WEBSITE\x02https://x" + iac + se} {
		if !strings.Contains(got, want) {
			t.Errorf("MSSP %q lacks %q", got, want)
		}
	}
	ports := string(encodeMSSP(msspTable(msspInfo{ports: []int{4000, 4100}})))
	if !strings.Contains(ports, "\x01PORT\x024100\x01PORT\x024000") {
		t.Errorf("ports not listed most important last: %q", ports)
	}
}

func TestMXP(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	link := "Exits: |lcnorth|ltNorth|le and |luhttps://x.org/?a=1&b=\"2\"|ltthe site|le."
	// Without MXP a link shows its label (or its address).
	h.send(sdk.Text(link))
	h.expectOutput("Exits: North and https://x.org/?a=1&b=\"2\".\r\n")
	h.write(answers(optSGA, optMXP))
	h.expectOutput(subneg(optMXP, "") + "\x1b[7z")
	expectFlags(t, h.syncFlags(), map[string]any{"MXP": true})
	h.send(sdk.Text(link))
	h.expectOutput("Exits: \x1b[4z<SEND HREF=\"north\">North\x1b[4z</SEND> and " +
		"\x1b[4z<A HREF=\"https://x.org/?a=1&amp;b=&quot;2&quot;\">the site\x1b[4z</A>.\r\n")
	// Text that looks like a tag stays text: the client is in locked mode.
	h.send(sdk.Text("<b>bold</b> & co"))
	h.expectOutput("<b>bold</b> & co\r\n")
	// The MXP flag off (client_options) turns links back into labels.
	h.sess.Update(func(d *sdk.SessionData) { d.ProtocolFlags.Set(flagMXP, false) })
	h.send(sdk.Text(link))
	h.expectOutput("Exits: North and https://x.org/?a=1&b=\"2\".\r\n")
}

func TestRenderMXP(t *testing.T) {
	const (
		open  = "\x1b[4z<SEND HREF=\""
		mid   = "\">"
		close = "\x1b[4z</SEND>"
	)
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"|lclook|ltLook|le", open + "look" + mid + "Look" + close},
		{"|lc get all |lt|rGet|n all|le!", open + "get all" + mid + "\x1b[1m\x1b[31mGet\x1b[0m all" + close + "!"},
		{"||lcnot|ltlink|le", "|lcnot|ltlink|le"},
		{"|lconly open", "|lconly open"},
		{"|lca|ltb", "|lca|ltb"},
		// Link markers inside a link's label are text.
		{"|lca|lt|lcb|ltc|le", open + "a" + mid + "|lcb|ltc" + close},
		// A player cannot forge tags with the marker runes.
		{"x\uF8F0y\uF8F2z|lca|ltb|le", "xyz" + open + "a" + mid + "b" + close},
		{"|lc\"><evil|ltok|le", open + "&quot;&gt;&lt;evil" + mid + "ok" + close},
		{"|lc||x|lt||y|le", open + "|x" + mid + "|y" + close},
		{"\x1b[2J|lca|ltb|le", open + "a" + mid + "b" + close},
	}
	for _, tt := range tests {
		if got := renderMXP(tt.in, markup.ANSI16); got != tt.want {
			t.Errorf("renderMXP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGMCP(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	// Without GMCP, OOB output has nowhere to go.
	h.send(sdk.Message{Name: "logged_in"})
	h.expectOutput("")
	h.write(answers(optSGA, optGMCP))
	h.expectOutput("")
	expectFlags(t, h.syncFlags(), map[string]any{"OOB": true})
	h.send(
		sdk.Message{Name: "logged_in", Kwargs: map[string]any{"options": map[string]any{"x": true}}},
		sdk.Message{Name: "client_options", Kwargs: map[string]any{"ANSI": true, "SCREENWIDTH": int64(80)}},
		sdk.Text("between"),
		sdk.Message{Name: "get_value", Args: []any{"<Bob>"}},
		sdk.Message{Name: "char_vitals", Args: []any{int64(1), "two"}, Kwargs: map[string]any{"hp": int64(3)}},
	)
	h.expectOutput(subneg(optGMCP, "Logged.In") +
		subneg(optGMCP, `Core.Supports.Get {"ANSI":true,"SCREENWIDTH":80}`) +
		"between\r\n" +
		subneg(optGMCP, `Char.Value.Get "<Bob>"`) +
		subneg(optGMCP, `Char.Vitals [[1,"two"],{"hp":3}]`))

	// Input: Core.Hello reaches the host as hello (client_options).
	h.write(subneg(optGMCP, `Core.Hello {"client":"Mudlet","version":"4.17"}`) + "look\r\n")
	ev := h.col.next(t)
	msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.Message{{Name: "hello", Kwargs: map[string]any{"client": "Mudlet", "version": "4.17"}}}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("GMCP input reached the host as %#v, want %#v", msgs, want)
	}
	h.expectText("look")
}

func TestGMCPDecode(t *testing.T) {
	tests := []struct {
		in   string
		want sdk.Message
		ok   bool
	}{
		{`Core.Hello {"client":"Mudlet"}`, sdk.Message{Name: "hello", Kwargs: map[string]any{"client": "Mudlet"}}, true},
		{`Core.Supports.Get`, sdk.Message{Name: "client_options"}, true},
		{`Core.Commands.Get`, sdk.Message{Name: "get_inputfuncs"}, true},
		{`Char.Value.Get {"name":"location"}`, sdk.Message{Name: "get_value", Kwargs: map[string]any{"name": "location"}}, true},
		{`Char.Repeat.Update {"callback":"test1"}`, sdk.Message{Name: "repeat", Kwargs: map[string]any{"callback": "test1"}}, true},
		{`Char.Monitor.Update {"name":"name"}`, sdk.Message{Name: "monitor", Kwargs: map[string]any{"name": "name"}}, true},
		{`Core.Supports.Set ["Char 1", "Room 1"]`, sdk.Message{Name: "supports_set", Args: []any{"Char 1", "Room 1"}}, true},
		{`Char.Login ["bob", 2]`, sdk.Message{Name: "char_login", Args: []any{"bob", int64(2)}}, true},
		{`core.ping`, sdk.Message{Name: "ping"}, true},
		{`Some.Thing 42`, sdk.Message{Name: "some_thing", Args: []any{int64(42)}}, true},
		{`Some.Thing "x"`, sdk.Message{Name: "some_thing", Args: []any{"x"}}, true},
		{`Some.Thing not json`, sdk.Message{Name: "some_thing", Args: []any{"not json"}}, true},
		{`Some.Thing null`, sdk.Message{Name: "some_thing", Args: []any{nil}}, true},
		{`Some.Thing {"":1,"a":2}`, sdk.Message{Name: "some_thing", Kwargs: map[string]any{"a": int64(2)}}, true},
		{"  Core.Hello  \t", sdk.Message{Name: "hello"}, true},
		{"", sdk.Message{}, false},
		{"   ", sdk.Message{}, false},
		{"Core.", sdk.Message{}, false},
		{"Bad\xff.Name x", sdk.Message{Name: "bad\uFFFD_name", Args: []any{"x"}}, true},
	}
	for _, tt := range tests {
		got, ok := decodeGMCP([]byte(tt.in))
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("decodeGMCP(%q) = %#v, %v; want %#v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGMCPEncode(t *testing.T) {
	tests := []struct {
		m    sdk.Message
		want string
	}{
		{sdk.Message{Name: "logged_in"}, "Logged.In"},
		{sdk.Message{Name: "ping"}, "Core.Ping"},
		{sdk.Message{Name: "Ping"}, "Core.Ping"},
		{sdk.Message{Name: "room_INFO", Args: []any{"x"}}, `Room.INFO "x"`},
		{sdk.Message{Name: "get_inputfuncs", Kwargs: map[string]any{"text": "doc"}}, `Core.Commands.Get {"text":"doc"}`},
		{sdk.Message{Name: "repeat", Args: []any{"a", "b"}}, `Char.Repeat.Update ["a","b"]`},
		{sdk.Message{Name: "monitor", Args: []any{"a"}, Kwargs: map[string]any{"k": nil}}, `Char.Monitor.Update ["a",{"k":null}]`},
		{sdk.Message{Name: "x", Kwargs: map[string]any{"options": map[string]any{}}}, "Core.X"},
		{sdk.Message{Name: "x", Args: []any{"<&>"}}, `Core.X "<&>"`},
	}
	for _, tt := range tests {
		if got := string(encodeGMCP(tt.m)); got != tt.want {
			t.Errorf("encodeGMCP(%#v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestMSDP(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(answers(optSGA, optMSDP))
	h.expectOutput("")
	expectFlags(t, h.syncFlags(), map[string]any{"OOB": true})
	h.send(sdk.Message{Name: "get_value", Kwargs: map[string]any{"name": "location", "value": "Limbo"}})
	h.expectOutput(subneg(optMSDP, "\x01get_value\x02\x03\x01name\x02location\x01value\x02Limbo\x04"))
	// GMCP too (refused at first, agreed now): both get it, MSDP first.
	h.write(iac + do + optGMCP)
	h.expectOutput(iac + will + optGMCP)
	h.send(sdk.Message{Name: "ping"})
	h.expectOutput(subneg(optMSDP, "\x01ping\x02") + subneg(optGMCP, "Core.Ping"))

	h.write(subneg(optMSDP, "\x01LIST\x02COMMANDS\x01REPORT\x02\x05\x02HEALTH\x02MANA\x06"))
	ev := h.col.next(t)
	msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
	if err != nil {
		t.Fatal(err)
	}
	want := []contract.Message{{Name: "msdp_list", Args: []any{"COMMANDS"}},
		{Name: "msdp_report", Args: []any{"HEALTH", "MANA"}}}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("MSDP input = %#v, want %#v", msgs, want)
	}
}

func TestMSDPDecode(t *testing.T) {
	tests := []struct {
		in   string
		want []sdk.Message
	}{
		{"\x01name\x02", []sdk.Message{{Name: "name"}}},
		{"\x01name", []sdk.Message{{Name: "name"}}},
		{"\x01name\x02val", []sdk.Message{{Name: "name", Args: []any{"val"}}}},
		{"\x01name\x02a\x02b", []sdk.Message{{Name: "name", Args: []any{"a", "b"}}}},
		{"\x01name\x02\x05\x02a\x02b\x06", []sdk.Message{{Name: "name", Args: []any{"a", "b"}}}},
		{"\x01name\x02\x03\x01k\x02v\x01j\x02\x05\x02x\x06\x04",
			[]sdk.Message{{Name: "name", Kwargs: map[string]any{"k": "v", "j": []any{"x"}}}}},
		// One name twice: merged, as Evennia does.
		{"\x01n\x02\x05\x02a\x06\x01n\x02\x03\x01k\x02v\x04\x01n\x02b",
			[]sdk.Message{{Name: "n", Args: []any{"a", "b"}, Kwargs: map[string]any{"k": "v"}}}},
		{"\x01a\x021\x01b\x022", []sdk.Message{{Name: "a", Args: []any{"1"}}, {Name: "b", Args: []any{"2"}}}},
		{"\x01Send\x02HEALTH\x01unreport\x02X\x01RESET\x02", []sdk.Message{
			{Name: "msdp_send", Args: []any{"HEALTH"}}, {Name: "msdp_unreport", Args: []any{"X"}}, {Name: "msdp_reset"}}},
		{"garbage\x02x\x01n\x02v", []sdk.Message{{Name: "n", Args: []any{"v"}}}},
		{"\x01\x02nameless", nil},
		{"\x01n\x02\x05\x02unterminated", []sdk.Message{{Name: "n", Args: []any{"unterminated"}}}},
		{"\x01n\x02\x03\x01k\x02\x03\x01deep\x02v\x04\x04",
			[]sdk.Message{{Name: "n", Kwargs: map[string]any{"k": map[string]any{"deep": "v"}}}}},
		{"", nil},
	}
	for _, tt := range tests {
		got := decodeMSDP([]byte(tt.in))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeMSDP(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	// Nesting past the bound is cut off, not recursed into.
	deep := "\x01n\x02" + strings.Repeat("\x05\x02", 5000) + "x" + strings.Repeat("\x06", 5000)
	if got := decodeMSDP([]byte(deep)); len(got) != 1 || got[0].Name != "n" {
		t.Fatalf("deep MSDP = %#v", got)
	}
}

func TestMSDPEncode(t *testing.T) {
	tests := []struct {
		m    sdk.Message
		want string
	}{
		{sdk.Message{Name: "ping"}, "\x01ping\x02"},
		{sdk.Message{Name: "hp", Args: []any{int64(42)}}, "\x01hp\x0242"},
		{sdk.Message{Name: "l", Args: []any{"a", 1.5, true, nil}}, "\x01l\x02\x05\x02a\x021.5\x021\x02\x06"},
		{sdk.Message{Name: "t", Kwargs: map[string]any{"b": "2", "a": []any{"x"}, "options": 1}},
			"\x01t\x02\x03\x01a\x02\x05\x02x\x06\x01b\x022\x04"},
		{sdk.Message{Name: "both", Args: []any{"a"}, Kwargs: map[string]any{"k": "v"}},
			"\x01both\x02a\x01both\x02\x03\x01k\x02v\x04"},
		// MSDP's reserved bytes cannot be sent inside text.
		{sdk.Message{Name: "x\x01", Args: []any{"a\x02b\x00c"}}, "\x01x\x02abc"},
	}
	for _, tt := range tests {
		if got := string(encodeMSDP(tt.m)); got != tt.want {
			t.Errorf("encodeMSDP(%#v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestKeepalive(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000, Keepalive: Duration(20 * time.Millisecond)}, overTCP)
	// Two NOPs in a row prove it is rescheduled.
	if got := string(h.readN(4)); got != iac+nop+iac+nop {
		t.Fatalf("keepalive = %q", got)
	}
}

func TestDisableOptions(t *testing.T) {
	h := newHarnessWith(t, Config{MaxLineLength: 6000}, overTCP, func(p *Plugin) {
		pol, err := newPolicy([]string{"MXP", "mccp2", "linemode"})
		if err != nil {
			t.Fatal(err)
		}
		p.pol = pol
	})
	// The harness checked the shorter offers; a DO for a disabled option
	// is refused like any unknown one.
	if want := strings.NewReplacer(iac+will+optMXP, "", iac+will+optMCCP2, "", iac+do+optLinemode, "").Replace(connectOffers); string(h.p.pol.offerBytes) != want {
		t.Fatalf("disabled options offered: %q", h.p.pol.offerBytes)
	}
	h.write(iac + do + optMXP + iac + will + optLinemode)
	h.expectOutput(iac + wont + optMXP + iac + dont + optLinemode)
	if _, err := newPolicy([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "disable_options") {
		t.Fatalf("unknown option name: %v", err)
	}
	// ECHO can be disabled: then passwords are not hidden.
	h2 := newHarnessWith(t, Config{MaxLineLength: 6000}, overTCP, func(p *Plugin) {
		p.pol, _ = newPolicy([]string{"echo"})
	})
	h2.send(echoOpt("prompt", "Password: ", false))
	h2.expectOutput("Password: ")
}

// TestNegotiationSinkOrder: turning MCCP2 off ends the stream before the
// WONT; turning it on starts after the WILL and the SB.
func TestNegotiationSinkOrder(t *testing.T) {
	r := &recorder{}
	n := newNegotiation(defaultPolicy(), r)
	n.receive(codec.DO, codec.OptMCCP2) // unsolicited: we agree and WILL
	n.receive(codec.DONT, codec.OptMCCP2)
	want := []string{
		"send " + iac + will + optMCCP2, "send " + subneg(optMCCP2, ""), "compress true",
		"flags map[MCCP:true]", "compress false", "flags map[MCCP:false]", "send " + iac + wont + optMCCP2,
	}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("sink calls:\n%q\nwant\n%q", r.log, want)
	}
}

// recorder is a sink that logs every call.
type recorder struct{ log []string }

func (r *recorder) send(b []byte)                 { r.log = append(r.log, "send "+string(b)) }
func (r *recorder) compress(on bool)              { r.log = append(r.log, fmt.Sprint("compress ", on)) }
func (r *recorder) flagsChanged(f map[string]any) { r.log = append(r.log, fmt.Sprint("flags ", f)) }
func (r *recorder) msspTable() []msspVar          { return msspTable(msspInfo{}) }

// TestHostSyncDuringNegotiation: a host sync arriving before negotiation
// ends (Mudlet's Core.Hello goes through client_options while TTYPE is still
// being asked) neither loses what was negotiated (the host's stale copy is
// put right) nor is overridden where the host changed a flag itself.
func TestHostSyncDuringNegotiation(t *testing.T) {
	h := newHarness(t, Config{MaxLineLength: 6000}, overTCP)
	h.write(iac + will + optTTYPE + iac + will + optNAWS + subneg(optNAWS, "\x00\x64\x00\x28"))
	h.expectOutput(subneg(optTTYPE, "\x01"))
	h.write(subneg(optTTYPE, "\x00Mudlet"))
	h.expectOutput(subneg(optTTYPE, "\x01"))
	// The host pushes its flags: its copy of SCREENWIDTH is the one from
	// Connect (stale), CLIENTNAME is what client_options set.
	host := h.sess.GetSyncData()
	host.ProtocolFlags = contract.FlagsOf(initialFlags())
	host.ProtocolFlags.Set("CLIENTNAME", "Mudlet 4.17")
	host.ProtocolFlags.Set("SCREENWIDTH", int64(78))
	h.sess.LoadSyncData(host, contract.FieldProtocolFlags)
	h.c.Synced(h.sess)
	if got := h.sess.Flag("SCREENWIDTH"); got != 100 {
		t.Fatalf("SCREENWIDTH after the host's stale sync = %#v, want 100", got)
	}
	// Negotiation ends: the sync keeps the host's CLIENTNAME.
	rest := iac + wont + optLinemode
	for _, o := range usOffers {
		rest += iac + dont + o
	}
	h.write(subneg(optTTYPE, "\x00Mudlet"), rest)
	h.expectOutput("")
	flags := h.syncFlags()
	expectFlags(t, flags, map[string]any{"CLIENTNAME": "Mudlet 4.17", "SCREENWIDTH": 100, "XTERM256": true, "TTYPE": true})
}
