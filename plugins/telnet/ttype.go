package main

import (
	"strconv"
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk/contract"
)

// TTYPE (RFC 1091) extended by the Mud Terminal Type Standard: each SEND
// gets the next item of the client's list, which MTTS fixes as the client's
// name, then its terminal type, then "MTTS <bits>". A client that repeats an
// answer has no more to tell (RFC 1091), which ends the cycle early.

// TTYPE subnegotiation commands.
const (
	ttypeIS   = 0
	ttypeSEND = 1
)

// maxTTYPEValue bounds what is kept of one answer: names are short, and
// the value ends up in protocol flags the game may show.
const maxTTYPEValue = 64

// mttsBits are the MTTS capability bits and the flags each one sets
// (Evennia's names). A bit only ever sets its flag; it never clears one.
var mttsBits = []struct {
	bit  int
	flag string
}{
	{1, contract.FlagANSI},
	{2, "VT100"},
	{4, contract.FlagUTF8},
	{8, contract.FlagXterm256},
	{16, "MOUSE_TRACKING"},
	{32, "OSC_COLOR_PALETTE"},
	{64, contract.FlagScreenReader},
	{128, "PROXY"},
	{256, contract.FlagTrueColor},
	{512, "MNES"},
	{1024, "MSLP"},
	{2048, "SSL"},
}

// xterm256Clients are client names Evennia knows to show 256 colours.
var xterm256Clients = map[string]bool{
	"ATLANTIS": true, "CMUD": true, "KILDCLIENT": true, "MUDLET": true, "MUSHCLIENT": true,
	"PUTTY": true, "BEIP": true, "POTATO": true, "TINYFUGUE": true,
}

// ttypeState is the progress of one connection's TTYPE cycle.
type ttypeState struct {
	// step is the answer awaited: 1 name, 2 terminal, 3 MTTS; 0 before
	// the cycle starts and after it ends.
	step uint8
	// ended is set once the cycle is over (or TTYPE was refused).
	ended bool
	// last is the previous answer, to detect the repeat that ends a list.
	last string
}

func (t *ttypeState) pending() bool { return t.step != 0 && !t.ended }

// changed starts the cycle when the client agrees to TTYPE, and ends it if
// the client stops (or refuses).
func (t *ttypeState) changed(n *negotiation, on bool) {
	if !on {
		if t.step != 0 {
			t.ended = true
		}
		return
	}
	if t.step != 0 || t.ended {
		return
	}
	t.step = 1
	t.send(n)
}

func (t *ttypeState) send(n *negotiation) {
	n.out.send(codec.Subnegotiation(codec.OptTTYPE, []byte{ttypeSEND}))
}

// subneg handles IAC SB TTYPE IS value IAC SE. Answers nobody asked for are
// ignored, so a client cannot rewrite its flags after the cycle.
func (t *ttypeState) subneg(n *negotiation, payload []byte) {
	if !t.pending() || len(payload) == 0 || payload[0] != ttypeIS {
		return
	}
	value := cleanTTYPE(payload[1:])
	step := t.step
	repeated := step > 1 && strings.EqualFold(value, t.last)
	t.last = value
	if repeated {
		t.end(n, nil)
		return
	}
	switch step {
	case 1:
		n.setFlags(clientNameFlags(value, n.noGoAhead))
		t.step = 2
		t.send(n)
	case 2:
		n.setFlags(termFlags(value))
		t.step = 3
		t.send(n)
	default:
		t.end(n, mttsFlags(value))
	}
}

// end finishes the cycle, adding TTYPE=true to the last flags.
func (t *ttypeState) end(n *negotiation, flags map[string]any) {
	t.ended = true
	t.step = 0
	t.last = "" // needed only during the cycle
	if flags == nil {
		flags = map[string]any{}
	}
	flags[flagTTYPE] = true
	n.setFlags(flags)
}

// cleanTTYPE keeps printable ASCII only, bounded: the value is the
// client's word and may be shown in the game.
func cleanTTYPE(b []byte) string {
	out := make([]byte, 0, min(len(b), maxTTYPEValue))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && len(out) < maxTTYPEValue {
			out = append(out, c)
		}
	}
	return strings.TrimSpace(string(out))
}

// clientNameFlags are the flags the first answer (the client's name) sets,
// by Evennia's rules. noGoAhead is NOGOAHEAD as negotiated so far.
func clientNameFlags(value string, noGoAhead bool) map[string]any {
	name := strings.ToUpper(value)
	if name == "" {
		name = "UNKNOWN"
	}
	f := map[string]any{contract.FlagClientName: name, contract.FlagANSI: true}
	mudlet := strings.HasPrefix(name, "MUDLET")
	f[contract.FlagXterm256] = strings.HasPrefix(name, "XTERM") || strings.HasSuffix(name, "-256COLOR") ||
		xterm256Clients[name] || mudlet
	if strings.HasSuffix(name, "-TRUECOLOR") || strings.HasPrefix(name, "AXMUD") || strings.HasPrefix(name, "TINTIN") {
		f[contract.FlagTrueColor] = true
	}
	if mudlet && !noGoAhead {
		// Mudlet matches its prompt triggers on GA: one that refused SGA
		// gets GA after prompts only, not after every line (Evennia #1330).
		f[flagNoGoAhead] = true
		f[flagNoPromptGoAhead] = false
	}
	return f
}

// termFlags are the flags the second answer (the terminal type) sets.
func termFlags(value string) map[string]any {
	up := strings.ToUpper(value)
	f := map[string]any{flagTerm: value}
	if strings.HasSuffix(up, "-256COLOR") || (strings.HasSuffix(up, "XTERM") && !strings.HasSuffix(up, "-COLOR")) {
		f[contract.FlagANSI] = true
		f[contract.FlagXterm256] = true
	}
	if strings.HasSuffix(up, "-TRUECOLOR") {
		// MTTS names "ANSI-TRUECOLOR" as the terminal type of a client
		// with 24-bit colour (Mudlet sends it).
		f[contract.FlagANSI] = true
		f[contract.FlagTrueColor] = true
	}
	return f
}

// mttsFlags are the flags the third answer ("MTTS <bits>") sets; any other
// answer sets none.
func mttsFlags(value string) map[string]any {
	f := map[string]any{}
	rest, ok := strings.CutPrefix(strings.ToUpper(value), "MTTS")
	if !ok {
		return f
	}
	bits, err := strconv.Atoi(strings.TrimSpace(rest))
	if err != nil || bits < 0 {
		return f
	}
	for _, b := range mttsBits {
		if bits&b.bit != 0 {
			f[b.flag] = true
		}
	}
	return f
}
