package main

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portico-mud/portico/sdk/markup"
)

func TestToMIRC(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"bright red then reset", "|rred|n plain", "\x0304red\x0f plain"},
		{"dark red", "|Rdark", "\x0305dark\x0f"},
		{"all sixteen", "|x1|X2|r3|R4|g5|G6|y7|Y8|b9|B0|m1|M2|c3|C4|w5|W6",
			"\x03141\x03012\x03043\x03054\x03095\x03036\x03087\x03078\x03129\x03020\x03131\x03062\x03113\x03104\x03005\x03156\x0f"},
		{"hilite alone is bold", "|hbold|H not", "\x02bold\x02 not"},
		{"background alone", "|[Bbg", "\x0399,02bg\x0f"},
		{"fg and bg", "|r|[Bred on blue", "\x0304,02red on blue\x0f"},
		{"attributes", "|uunder|U |iit|I |sstrike|S |*rev",
			"\x1funder\x1f \x1dit\x1d \x1estrike\x1e \x16rev\x0f"},
		{"blink has no mIRC form", "|^blink", "blink"},
		{"xterm256 downgraded", "|500x", "\x0304x\x0f"},
		{"truecolor downgraded", "|#0000ffx", "\x0312x\x0f"},
		{"literal bar", "a||b", "a|b"},
		{"digit after colour", "|r5 apples", "\x03045 apples\x0f"},
		{"colour change without reset", "|ra|gb", "\x0304a\x0309b\x0f"},
		{"colour to default resets and keeps bold", "|h|ra|n|hb", "\x0304a\x0f\x02b\x0f"},
		{"link shows its label", "|lclook|ltLook here|le", "Look here"},
		{"raw escapes removed", "\x1b[31mred\x1b[0m", "red"},
		{"raw mIRC codes removed", "\x02\x03" + "04x\x0f", "04x"},
		{"CTCP cannot be started", "\x01ACTION hacks\x01", "ACTION hacks"},
		{"NUL and CR removed", "a\x00b\rc", "abc"},
		{"newline starts a line", "a|/b", "a\nb"},
		{"colour carried to the next line", "|ra\nb", "\x0304a\x0f\n\x0304b\x0f"},
		{"blank lines left out", "a\n\n  \nb", "a\nb"},
		{"tab kept", "a\tb", "a\tb"},
		{"unicode", "|gé€😀", "\x0309é€😀\x0f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := toMIRC(tc.in); got != tc.want {
				t.Fatalf("toMIRC(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIRCLinesSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"fits", "aaa bbb", 8, []string{"aaa bbb"}},
		{"at a space", "aaa bbb ccc", 8, []string{"aaa bbb", "ccc"}},
		{"at the last space that fits", "aa bb cc dd", 9, []string{"aa bb cc", "dd"}},
		{"a word too long is cut", "abcdefghij", 5, []string{"abcd", "efgh", "ij"}},
		{"never inside UTF-8", "ééé", 4, []string{"é", "é", "é"}},
		{"never inside UTF-8, 4-byte", "😀😀", 6, []string{"😀", "😀"}},
		{"colour on every line", "|rfoo bar", 7, []string{"\x0304foo\x0f", "\x0304bar\x0f"}},
		{"colour never cut", "|rab", 5, []string{"\x0304a\x0f", "\x0304b\x0f"}},
		{"newline and length", "aaa bbb\nc", 5, []string{"aaa", "bbb", "c"}},
		{"a line is never empty", "x", 1, []string{"x"}},
		{"CR LF injection stays text", "hi\r\nQUIT :bye", 100, []string{"hi", "QUIT :bye"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ircLines(tc.in, tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("ircLines(%q, %d)\n got %q\nwant %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

// TestIRCLinesProperties splits random text at many widths: every line
// fits, is valid UTF-8, holds no CR, LF or NUL, and nothing is lost but
// the spaces lines were broken at.
func TestIRCLinesProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "bb", "ccc", "dddddddddddddddddddd", "é", "€€", "😀", "|rred|n", "|[Bx|n", "||", "|hb|H"}
	for range 500 {
		var parts []string
		for range 1 + r.IntN(40) {
			parts = append(parts, words[r.IntN(len(words))])
		}
		in := strings.Join(parts, " ")
		// 17 bytes hold any one character with its codes: below that a
		// line may be longer than max rather than empty.
		max := 17 + r.IntN(60)
		lines := ircLines(in, max)
		for _, l := range lines {
			if len(l) > max || !utf8.ValidString(l) || strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("ircLines(%q, %d): bad line %q", in, max, l)
			}
		}
		var plain []string
		for _, l := range lines {
			plain = append(plain, stripMIRC(l))
		}
		got := strings.ReplaceAll(strings.Join(plain, ""), " ", "")
		want := strings.ReplaceAll(markup.Strip(in), " ", "")
		if got != want {
			t.Fatalf("ircLines(%q, %d) lost text:\n got %q\nwant %q", in, max, got, want)
		}
	}
}

// stripMIRC removes mIRC formatting codes, for comparing text.
func stripMIRC(s string) string { return markup.Strip(toMarkup(s)) }

func TestToMarkup(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "plain", "plain"},
		{"colour then bare reset", "\x0304red\x03 normal", "|rred|n normal"},
		{"bold", "\x02bold\x02 x", "|hbold|H x"},
		{"fg and bg", "\x034,2x", "|r|[Bx|n"},
		{"comma not followed by a digit", "\x0304,text", "|r,text|n"},
		{"99 is the default", "\x0399x", "x"},
		{"extended colours are dropped", "\x0345abc", "abc"},
		{"two digits at most", "\x031234", "|b34|n"},
		{"all sixteen", "\x030a\x031b\x032c\x033d\x034e\x035f\x036g\x037h\x038i\x039j\x0310k\x0311l\x0312m\x0313n\x0314o\x0315p",
			"|wa|Xb|Bc|Gd|re|Rf|Mg|Yh|yi|gj|Ck|cl|bm|mn|xo|Wp|n"},
		{"backgrounds", "\x0399,5x", "|[Rx|n"},
		{"bar escaped", "a|b ||r", "a||b ||||r"},
		{"escape sequences removed", "\x1b[31mx\x1b]0;title\x07", "x"},
		{"underline italic strike", "\x1fu\x1f\x1di\x1d\x1es\x1e", "|uu|U|ii|I|ss|n"},
		{"reverse off needs a reset", "\x16rev\x16 x", "|*rev|n x"},
		{"reset", "\x0304a\x0fb", "|ra|nb"},
		{"hex colour", "\x04ff8000orange", "|#ff8000orange|n"},
		{"hex with background", "\x04FF8000,000000x", "|#ff8000|[#000000x|n"},
		{"short hex is a reset", "\x04fffx", "fffx"},
		{"bold off keeps a bright colour", "\x02\x0304a\x02b", "|h|ra|H|rb|n"},
		{"other controls dropped", "a\x07b\x01c\x00d", "abcd"},
		{"monospace dropped", "\x11mono\x11", "mono"},
		{"tab kept", "a\tb", "a\tb"},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := toMarkup(tc.in); got != tc.want {
				t.Fatalf("toMarkup(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRoundTrip: markup's 16 colours survive the trip to IRC and back.
func TestRoundTrip(t *testing.T) {
	for _, in := range []string{"|rred|n", "|Gdark green|n", "|[Bx|n", "|hbold|H plain", "a||b"} {
		got := toMarkup(toMIRC(in))
		if markup.Render(got, markup.ANSI16) != markup.Render(in, markup.ANSI16) {
			t.Errorf("round trip of %q gave %q", in, got)
		}
	}
}

func TestCTCP(t *testing.T) {
	for _, tc := range []struct {
		in, cmd, arg string
		ok           bool
	}{
		{"\x01ACTION waves hello\x01", "ACTION", "waves hello", true},
		{"\x01ACTION waves", "ACTION", "waves", true},
		{"\x01action waves\x01", "ACTION", "waves", true},
		{"\x01VERSION\x01", "VERSION", "", true},
		{"hello", "", "", false},
		{"hi \x01ACTION x\x01", "", "", false},
	} {
		cmd, arg, ok := ctcp(tc.in)
		if cmd != tc.cmd || arg != tc.arg || ok != tc.ok {
			t.Errorf("ctcp(%q) = %q, %q, %v; want %q, %q, %v", tc.in, cmd, arg, ok, tc.cmd, tc.arg, tc.ok)
		}
	}
}

func TestAltNick(t *testing.T) {
	for _, tc := range []struct {
		try, max int
		want     string
	}{
		{0, 0, "portibot"}, {1, 0, "portibot_"}, {2, 0, "portibot__"}, {3, 0, "portibot1"}, {4, 0, "portibot2"},
		{1, 9, "portibot_"}, {2, 9, "portibo__"}, {3, 9, "portibot1"}, {12, 9, "portibo10"},
	} {
		if got := altNick("portibot", tc.try, tc.max); got != tc.want {
			t.Errorf("altNick(portibot, %d, %d) = %q, want %q", tc.try, tc.max, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	if fold("Nick[]\\~") != "nick{}|^" {
		t.Fatal(fold("Nick[]\\~"))
	}
}
