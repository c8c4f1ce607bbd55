package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ev is an Event copied so it outlives the emit call, in a form that prints
// readably in failures.
type ev struct {
	Kind      EventKind
	Data      string
	Command   byte
	Option    byte
	Truncated bool
}

func (e ev) String() string {
	switch e.Kind {
	case EventData:
		return fmt.Sprintf("Data(%q)", e.Data)
	case EventCommand:
		return fmt.Sprintf("Command(%d)", e.Command)
	case EventNegotiation:
		return fmt.Sprintf("Neg(%d,%d)", e.Command, e.Option)
	default:
		return fmt.Sprintf("Subneg(%d,%q,trunc=%v)", e.Option, e.Data, e.Truncated)
	}
}

func copyEvent(e Event) ev {
	return ev{Kind: e.Kind, Data: string(e.Data), Command: e.Command, Option: e.Option, Truncated: e.Truncated}
}

// collector records events as evs, merging adjacent data, which is what must
// not depend on how the stream was cut. Data is gathered in a byte slice so
// that merging many one-byte events stays linear.
type collector struct {
	events    []ev
	data      []byte
	inData    bool
	dataCalls int
}

func (c *collector) emit(e Event) {
	if e.Kind == EventData {
		if len(e.Data) == 0 {
			panic("empty EventData emitted")
		}
		c.dataCalls++
		c.data = append(c.data, e.Data...)
		c.inData = true
		return
	}
	c.flush()
	c.events = append(c.events, copyEvent(e))
}

// flush closes the current run of data.
func (c *collector) flush() {
	if c.inData {
		c.events = append(c.events, ev{Kind: EventData, Data: string(c.data)})
		c.data = c.data[:0]
		c.inData = false
	}
}

// result returns the merged events.
func (c *collector) result() []ev {
	c.flush()
	return c.events
}

// parse feeds the chunks to a fresh parser and returns the events with
// adjacent data merged, the raw number of EventData calls, and the parser.
func parse(maxSubneg int, chunks ...[]byte) (events []ev, dataCalls int, p *Parser) {
	p = &Parser{MaxSubneg: maxSubneg}
	var c collector
	for _, chunk := range chunks {
		p.Feed(chunk, c.emit)
	}
	return c.result(), c.dataCalls, p
}

func data(s string) ev           { return ev{Kind: EventData, Data: s} }
func cmd(c byte) ev              { return ev{Kind: EventCommand, Command: c} }
func neg(verb, opt byte) ev      { return ev{Kind: EventNegotiation, Command: verb, Option: opt} }
func sub(opt byte, s string) ev  { return ev{Kind: EventSubneg, Option: opt, Data: s} }
func truncated(opt byte) ev      { return ev{Kind: EventSubneg, Option: opt, Truncated: true} }
func str(b ...byte) string       { return string(b) }
func cat(parts ...string) string { return strings.Join(parts, "") }

var (
	iac = str(IAC)
	se  = str(IAC, SE)
)

func sb(opt byte) string { return str(IAC, SB, opt) }

func TestParserTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"plain", "look\r\n", []ev{data("look\r\n")}},
		{"CR LF kept", "a\r\nb\r\n", []ev{data("a\r\nb\r\n")}},
		{"LF kept", "a\nb", []ev{data("a\nb")}},
		{"CR NUL", "a\r\x00b", []ev{data("a\rb")}},
		{"CR NUL CR NUL", "\r\x00\r\x00", []ev{data("\r\r")}},
		{"NUL without CR kept", "\x00a\x00", []ev{data("\x00a\x00")}},
		{"CR NUL NUL keeps second", "\r\x00\x00", []ev{data("\r\x00")}},
		{"CR CR NUL", "\r\r\x00x", []ev{data("\r\rx")}},
		{"IAC IAC", "a" + iac + iac + "b", []ev{data("a\xffb")}},
		{"IAC IAC IAC IAC", iac + iac + iac + iac, []ev{data("\xff\xff")}},
		{"IAC IAC then NUL", iac + iac + "\x00", []ev{data("\xff\x00")}},
		{"WILL", str(IAC, WILL, OptNAWS), []ev{neg(WILL, OptNAWS)}},
		{"WONT", str(IAC, WONT, OptTTYPE), []ev{neg(WONT, OptTTYPE)}},
		{"DO", str(IAC, DO, OptSGA), []ev{neg(DO, OptSGA)}},
		{"DONT", str(IAC, DONT, OptEcho), []ev{neg(DONT, OptEcho)}},
		{"negotiation of option 255", str(IAC, DO, 255), []ev{neg(DO, 255)}},
		{"negotiation amid data", cat("ab", str(IAC, DO, OptMCCP2), "cd"), []ev{data("ab"), neg(DO, OptMCCP2), data("cd")}},
		{"commands", str(IAC, NOP, IAC, GA, IAC, AYT, IAC, EOR, IAC, DM, IAC, BRK, IAC, IP, IAC, AO, IAC, EC, IAC, EL),
			[]ev{cmd(NOP), cmd(GA), cmd(AYT), cmd(EOR), cmd(DM), cmd(BRK), cmd(IP), cmd(AO), cmd(EC), cmd(EL)}},
		{"NOP amid data", "a" + str(IAC, NOP) + "b", []ev{data("a"), cmd(NOP), data("b")}},
		{"subneg", cat(sb(OptTTYPE), "\x00xterm", se), []ev{sub(OptTTYPE, "\x00xterm")}},
		{"subneg empty", cat(sb(OptMCCP2), se), []ev{sub(OptMCCP2, "")}},
		{"subneg NAWS with IAC IAC", cat(sb(OptNAWS), str(0, 80, IAC, IAC, 0, 24), se), []ev{sub(OptNAWS, str(0, 80, IAC, 0, 24))}},
		{"subneg CR NUL untouched", cat(sb(OptGMCP), "a\r\x00b", se), []ev{sub(OptGMCP, "a\r\x00b")}},
		{"subneg option IAC", cat(str(IAC, SB, IAC), "x", se), []ev{sub(IAC, "x")}},
		{"subneg option SE", cat(str(IAC, SB, SE), "x", se), []ev{sub(SE, "x")}},
		{"subneg between data", cat("a", sb(OptGMCP), `Core.Hello {}`, se, "b"), []ev{data("a"), sub(OptGMCP, `Core.Hello {}`), data("b")}},
		{"two subnegs", cat(sb(OptGMCP), "x", se, sb(OptMSDP), "y", se), []ev{sub(OptGMCP, "x"), sub(OptMSDP, "y")}},
		{"SE outside SB ignored", "a" + se + "b", []ev{data("ab")}},
		{"SE alone ignored", se, nil},
		{"unknown command ignored", "a" + str(IAC, 1) + "b" + str(IAC, 238, IAC, 0), []ev{data("ab")}},
		{"unknown command then IAC", str(IAC, 200, IAC, IAC), []ev{data("\xff")}},
		{"SB aborted by WILL", cat(sb(OptGMCP), "partial", str(IAC, WILL, OptEcho), "x"), []ev{neg(WILL, OptEcho), data("x")}},
		{"SB aborted by new SB", cat(sb(OptGMCP), "partial", sb(OptMSDP), "ok", se), []ev{sub(OptMSDP, "ok")}},
		{"SB aborted by unknown byte", cat(sb(OptGMCP), "partial", str(IAC, 'x'), "y"), []ev{data("y")}},
		{"SB aborted by NOP", cat(sb(OptGMCP), "p", str(IAC, NOP), "y"), []ev{cmd(NOP), data("y")}},
		{"unterminated SB holds data", cat("a", sb(OptGMCP), "never ends"), []ev{data("a")}},
		{"CR then command then NUL", "\r" + str(IAC, NOP) + "\x00", []ev{data("\r"), cmd(NOP), data("\x00")}},
		{"lone IAC at end", "abc" + iac, []ev{data("abc")}},
		{"IAC WILL at end", "abc" + str(IAC, WILL), []ev{data("abc")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := parse(0, []byte(tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDataIsNotFragmented(t *testing.T) {
	tests := []struct {
		in    string
		calls int
	}{
		{"hello world\r\nsecond line\r\nthird\r\n", 1},
		{"a" + str(IAC, IAC) + "b", 2},    // "a", then "\xffb" straight from the input
		{"a\r\x00b\r\nc", 2},              // the padding NUL is skipped
		{"a" + str(IAC, NOP) + "b", 2},    // a command separates runs
		{str(IAC, DO, OptSGA) + "xyz", 1}, // no empty event before it
	}
	for _, tt := range tests {
		if _, calls, _ := parse(0, []byte(tt.in)); calls != tt.calls {
			t.Errorf("%q: %d EventData calls, want %d", tt.in, calls, tt.calls)
		}
	}
}

func TestDataAliasesInput(t *testing.T) {
	in := []byte("plain text\r\n")
	var p Parser
	p.Feed(in, func(e Event) {
		if &e.Data[0] != &in[0] {
			t.Error("plain data was copied instead of aliasing the input")
		}
	})
}

// streams are samples whose every split point is checked.
var streams = []string{
	cat("look\r\n", str(IAC, DO, OptNAWS), "say hi", str(IAC, IAC), "\r\x00x\r\n"),
	cat(sb(OptNAWS), str(0, 80, IAC, IAC, 0, 24), se, "n\r\n", str(IAC, NOP), "s"),
	cat(str(IAC, WILL, OptTTYPE, IAC, SB, OptTTYPE, 0), "MUDLET", se, str(IAC, WONT, OptEcho), "\r\x00\r\n"),
	cat(iac, iac, iac, iac, iac, str(SE, IAC, 7), "a", str(IAC, SE, IAC, GA), "\r"),
	cat(sb(OptGMCP), "partial", str(IAC, WILL, OptEcho), sb(OptMSDP), "\x01a\x02b", se, "\r\x00\x00"),
	cat("\r", str(IAC, AYT), "\x00\r\x00\r\n", sb(OptMSSP), str(IAC, IAC), se),
}

func TestSplitEveryPoint(t *testing.T) {
	for _, s := range streams {
		in := []byte(s)
		whole, _, _ := parse(0, in)
		if len(whole) == 0 {
			t.Fatalf("sample %q parses to nothing", s)
		}
		for i := 0; i <= len(in); i++ {
			if got, _, _ := parse(0, in[:i], in[i:]); !reflect.DeepEqual(got, whole) {
				t.Errorf("%q split at %d:\n%v\nwhole: %v", s, i, got, whole)
			}
			for j := i; j <= len(in); j++ {
				if got, _, _ := parse(0, in[:i], in[i:j], in[j:]); !reflect.DeepEqual(got, whole) {
					t.Fatalf("%q split at %d,%d:\n%v\nwhole: %v", s, i, j, got, whole)
				}
			}
		}
		var bytewise [][]byte
		for i := range in {
			bytewise = append(bytewise, in[i:i+1])
		}
		if got, _, _ := parse(0, bytewise...); !reflect.DeepEqual(got, whole) {
			t.Errorf("%q byte by byte:\n%v\nwhole: %v", s, got, whole)
		}
	}
}

func TestLoneIACAtEndOfPacket(t *testing.T) {
	tests := []struct {
		first, second string
		want          []ev
	}{
		{"abc" + iac, str(IAC) + "def", []ev{data("abc\xffdef")}},
		{"abc" + iac, str(WILL, OptGMCP) + "x", []ev{data("abc"), neg(WILL, OptGMCP), data("x")}},
		{"abc" + iac, str(GA), []ev{data("abc"), cmd(GA)}},
		{"abc" + iac, str(SE) + "d", []ev{data("abcd")}},
		{sb(OptGMCP) + "x" + iac, str(IAC) + "y" + se, []ev{sub(OptGMCP, "x\xffy")}},
		{sb(OptGMCP) + "x" + iac, str(SE) + "z", []ev{sub(OptGMCP, "x"), data("z")}},
		{"a\r", "\x00b", []ev{data("a\rb")}},
	}
	for _, tt := range tests {
		got, _, _ := parse(0, []byte(tt.first), []byte(tt.second))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q + %q: %v, want %v", tt.first, tt.second, got, tt.want)
		}
	}
}

func TestSubnegBound(t *testing.T) {
	const max = 16
	exact := strings.Repeat("x", max)
	over := strings.Repeat("y", max+1)
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"at limit", cat(sb(OptGMCP), exact, se), []ev{sub(OptGMCP, exact)}},
		{"one over", cat(sb(OptGMCP), over, se, "after"), []ev{truncated(OptGMCP), data("after")}},
		// Doubled IACs count once, as they are stored.
		{"escaped at limit", cat(sb(OptGMCP), strings.Repeat(str(IAC, IAC), max), se), []ev{sub(OptGMCP, strings.Repeat(iac, max))}},
		{"next one fine", cat(sb(OptGMCP), over, se, sb(OptMSDP), "ok", se), []ev{truncated(OptGMCP), sub(OptMSDP, "ok")}},
	}
	for _, tt := range tests {
		got, _, _ := parse(max, []byte(tt.in))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}

	// A hostile client streaming a subnegotiation that never ends must not
	// make the parser hold more than the bound.
	var p Parser
	chunk := bytes.Repeat([]byte{'z', IAC, IAC}, 1000)
	p.Feed([]byte(sb(OptGMCP)), func(Event) {})
	for range 3000 { // about 9 MB
		p.Feed(chunk, func(e Event) { t.Fatalf("unexpected event %v", copyEvent(e)) })
		if len(p.sb) > DefaultMaxSubneg || cap(p.sb) > DefaultMaxSubneg {
			t.Fatalf("subnegotiation buffer len %d cap %d", len(p.sb), cap(p.sb))
		}
	}
	var got []ev
	p.Feed([]byte(se+"ok"), func(e Event) { got = append(got, copyEvent(e)) })
	if want := []ev{truncated(OptGMCP), data("ok")}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the flood: %v, want %v", got, want)
	}
}

func TestLinearTime(t *testing.T) {
	// Many short data runs in one packet, with no IAC: a parser that
	// searched the rest of the packet for IAC at every run would take
	// minutes here (found by FuzzParser stalling); a linear one takes
	// milliseconds, so the generous bound below only catches the former.
	in := bytes.Repeat([]byte("\r\x00"), 1<<20)
	in = append(in, IAC, NOP)
	start := time.Now()
	n := 0
	var p Parser
	p.Feed(in, func(e Event) { n += len(e.Data) })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("2 MB of CR NUL took %v", d)
	}
	if n != 1<<20 {
		t.Fatalf("got %d data bytes, want %d", n, 1<<20)
	}
}

func TestEscapeText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"plain", "plain"},
		{"\n", "\r\n"},
		{"\r\n", "\r\n"},
		{"\r", "\r\x00"},
		{"\n\r", "\r\n\r\x00"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"\r\r\n", "\r\x00\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"a\rb", "a\r\x00b"},
		{"\xff", "\xff\xff"},
		{"x\xffy\xff\xff", "x\xff\xffy\xff\xff\xff\xff"},
		{"mixed\r\nline\nbare\rend\xff\n", "mixed\r\nline\r\nbare\r\x00end\xff\xff\r\n"},
		{"\x00nul", "\x00nul"},
		{"héllo\n", "héllo\r\n"},
	}
	for _, tt := range tests {
		if got := string(EscapeText(nil, tt.in)); got != tt.want {
			t.Errorf("EscapeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// It appends.
	if got := string(EscapeText([]byte("pre:"), "x\n")); got != "pre:x\r\n" {
		t.Errorf("EscapeText did not append: %q", got)
	}
}

func TestNegotiation(t *testing.T) {
	if got := Negotiation(WILL, OptGMCP); !bytes.Equal(got, []byte{255, 251, 201}) {
		t.Errorf("Negotiation(WILL, GMCP) = %v", got)
	}
	if got := Negotiation(DO, OptLinemode); !bytes.Equal(got, []byte{255, 253, 34}) {
		t.Errorf("Negotiation(DO, LINEMODE) = %v", got)
	}
}

func TestSubnegotiation(t *testing.T) {
	tests := []struct {
		opt     byte
		payload []byte
		want    []byte
	}{
		{OptMCCP2, nil, []byte{IAC, SB, 86, IAC, SE}},
		{OptTTYPE, []byte{1}, []byte{IAC, SB, 24, 1, IAC, SE}},
		{OptNAWS, []byte{0, 255, 0, 24}, []byte{IAC, SB, 31, 0, IAC, IAC, 0, 24, IAC, SE}},
		{OptGMCP, []byte{IAC, IAC, 'a', IAC}, []byte{IAC, SB, 201, IAC, IAC, IAC, IAC, 'a', IAC, IAC, IAC, SE}},
	}
	for _, tt := range tests {
		got := Subnegotiation(tt.opt, tt.payload)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("Subnegotiation(%d, %v) = %v, want %v", tt.opt, tt.payload, got, tt.want)
		}
		// And it parses back to what went in.
		events, _, _ := parse(0, got)
		if want := []ev{sub(tt.opt, string(tt.payload))}; !reflect.DeepEqual(events, want) {
			t.Errorf("parsed back to %v, want %v", events, want)
		}
	}
}

func TestPlainDataAllocs(t *testing.T) {
	var p Parser
	emit := func(Event) {}
	line := []byte("say Hello there, how are you today?\r\n")
	if n := testing.AllocsPerRun(1000, func() { p.Feed(line, emit) }); n != 0 {
		t.Errorf("plain data: %v allocs per Feed", n)
	}
	mixed := []byte(cat("n\r\n", str(IAC, NOP), sb(OptNAWS), str(0, 80, 0, 24), se, "s\r\x00\r\n"))
	p.Feed(mixed, emit) // warm the subnegotiation buffer
	if n := testing.AllocsPerRun(1000, func() { p.Feed(mixed, emit) }); n != 0 {
		t.Errorf("mixed stream: %v allocs per Feed", n)
	}
}

func BenchmarkParser(b *testing.B) {
	// Plain text lines as a client sends them: the common case.
	packet := []byte(strings.Repeat("say Hello there, how are you today?\r\n", 8))
	var p Parser
	n := 0
	emit := func(e Event) { n += len(e.Data) }
	b.SetBytes(int64(len(packet)))
	b.ReportAllocs()
	for b.Loop() {
		p.Feed(packet, emit)
	}
}

func ExampleParser() {
	var p Parser
	in := []byte("look\r\n\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0")
	p.Feed(in, func(e Event) {
		switch e.Kind {
		case EventData:
			fmt.Printf("data %q\n", e.Data)
		case EventNegotiation:
			fmt.Printf("negotiation %d %d\n", e.Command, e.Option)
		case EventSubneg:
			fmt.Printf("subneg %d %v\n", e.Option, e.Data)
		}
	})
	// Output:
	// data "look\r\n"
	// negotiation 251 31
	// subneg 31 [0 80 0 24]
}

func ExampleEscapeText() {
	out := EscapeText(nil, "Hello\nworld\r")
	fmt.Printf("%q\n", out)
	// Output:
	// "Hello\r\nworld\r\x00"
}

// TestRelease checks that Release drops the subnegotiation buffer only
// while it holds nothing, and that parsing goes on either way.
func TestRelease(t *testing.T) {
	var p Parser
	var got []ev
	emit := func(e Event) { got = append(got, copyEvent(e)) }
	p.Feed([]byte(cat(sb(OptGMCP), "Core.Hello {}", se)), emit)
	if cap(p.sb) == 0 {
		t.Fatal("no buffer before Release")
	}
	p.Release()
	if p.sb != nil {
		t.Fatalf("Release kept an empty buffer of %d bytes", cap(p.sb))
	}
	p.Feed([]byte(cat(sb(OptGMCP), "Char")), emit)
	p.Release()
	p.Feed([]byte(cat(".Vitals {}", se)), emit)
	want := []ev{sub(OptGMCP, "Core.Hello {}"), sub(OptGMCP, "Char.Vitals {}")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
