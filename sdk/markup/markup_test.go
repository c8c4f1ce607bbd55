package markup

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// sgrCases gives, for each colour or attribute markup, the exact sequence
// each colour mode sends. The rows without # were produced by Evennia 6.1's
// own parse_ansi (with xterm256 and truecolor on or off), except that a
// colour downgraded to a normal ANSI colour starts with ESC[22m where Evennia
// sends a full reset ESC[0m (see downgrade). The # rows are this package's
// nearest-colour choices.
var sgrCases = []struct {
	markup, ansi16, xterm256, truecolor string
}{
	{"|h", "\x1b[1m", "\x1b[1m", "\x1b[1m"},
	{"|H", "\x1b[22m", "\x1b[22m", "\x1b[22m"},
	{"|u", "\x1b[4m", "\x1b[4m", "\x1b[4m"},
	{"|U", "\x1b[24m", "\x1b[24m", "\x1b[24m"},
	{"|i", "\x1b[3m", "\x1b[3m", "\x1b[3m"},
	{"|I", "\x1b[23m", "\x1b[23m", "\x1b[23m"},
	{"|s", "\x1b[9m", "\x1b[9m", "\x1b[9m"},
	{"|S", "\x1b[29m", "\x1b[29m", "\x1b[29m"},
	{"|*", "\x1b[7m", "\x1b[7m", "\x1b[7m"},
	{"|^", "\x1b[5m", "\x1b[5m", "\x1b[5m"},
	{"|r", "\x1b[1m\x1b[31m", "\x1b[1m\x1b[31m", "\x1b[1m\x1b[31m"},
	{"|g", "\x1b[1m\x1b[32m", "\x1b[1m\x1b[32m", "\x1b[1m\x1b[32m"},
	{"|y", "\x1b[1m\x1b[33m", "\x1b[1m\x1b[33m", "\x1b[1m\x1b[33m"},
	{"|b", "\x1b[1m\x1b[34m", "\x1b[1m\x1b[34m", "\x1b[1m\x1b[34m"},
	{"|m", "\x1b[1m\x1b[35m", "\x1b[1m\x1b[35m", "\x1b[1m\x1b[35m"},
	{"|c", "\x1b[1m\x1b[36m", "\x1b[1m\x1b[36m", "\x1b[1m\x1b[36m"},
	{"|w", "\x1b[1m\x1b[37m", "\x1b[1m\x1b[37m", "\x1b[1m\x1b[37m"},
	{"|x", "\x1b[1m\x1b[30m", "\x1b[1m\x1b[30m", "\x1b[1m\x1b[30m"},
	{"|R", "\x1b[22m\x1b[31m", "\x1b[22m\x1b[31m", "\x1b[22m\x1b[31m"},
	{"|G", "\x1b[22m\x1b[32m", "\x1b[22m\x1b[32m", "\x1b[22m\x1b[32m"},
	{"|Y", "\x1b[22m\x1b[33m", "\x1b[22m\x1b[33m", "\x1b[22m\x1b[33m"},
	{"|B", "\x1b[22m\x1b[34m", "\x1b[22m\x1b[34m", "\x1b[22m\x1b[34m"},
	{"|M", "\x1b[22m\x1b[35m", "\x1b[22m\x1b[35m", "\x1b[22m\x1b[35m"},
	{"|C", "\x1b[22m\x1b[36m", "\x1b[22m\x1b[36m", "\x1b[22m\x1b[36m"},
	{"|W", "\x1b[22m\x1b[37m", "\x1b[22m\x1b[37m", "\x1b[22m\x1b[37m"},
	{"|X", "\x1b[22m\x1b[30m", "\x1b[22m\x1b[30m", "\x1b[22m\x1b[30m"},
	{"|!R", "\x1b[31m", "\x1b[31m", "\x1b[31m"},
	{"|!G", "\x1b[32m", "\x1b[32m", "\x1b[32m"},
	{"|!Y", "\x1b[33m", "\x1b[33m", "\x1b[33m"},
	{"|!B", "\x1b[34m", "\x1b[34m", "\x1b[34m"},
	{"|!M", "\x1b[35m", "\x1b[35m", "\x1b[35m"},
	{"|!C", "\x1b[36m", "\x1b[36m", "\x1b[36m"},
	{"|!W", "\x1b[37m", "\x1b[37m", "\x1b[37m"},
	{"|!X", "\x1b[30m", "\x1b[30m", "\x1b[30m"},
	{"|[R", "\x1b[41m", "\x1b[41m", "\x1b[41m"},
	{"|[G", "\x1b[42m", "\x1b[42m", "\x1b[42m"},
	{"|[Y", "\x1b[43m", "\x1b[43m", "\x1b[43m"},
	{"|[B", "\x1b[44m", "\x1b[44m", "\x1b[44m"},
	{"|[M", "\x1b[45m", "\x1b[45m", "\x1b[45m"},
	{"|[C", "\x1b[46m", "\x1b[46m", "\x1b[46m"},
	{"|[W", "\x1b[47m", "\x1b[47m", "\x1b[47m"},
	{"|[X", "\x1b[40m", "\x1b[40m", "\x1b[40m"},
	{"|[r", "\x1b[41m", "\x1b[48;5;196m", "\x1b[48;5;196m"},
	{"|[g", "\x1b[42m", "\x1b[48;5;46m", "\x1b[48;5;46m"},
	{"|[y", "\x1b[43m", "\x1b[48;5;226m", "\x1b[48;5;226m"},
	{"|[b", "\x1b[44m", "\x1b[48;5;21m", "\x1b[48;5;21m"},
	{"|[m", "\x1b[45m", "\x1b[48;5;201m", "\x1b[48;5;201m"},
	{"|[c", "\x1b[46m", "\x1b[48;5;51m", "\x1b[48;5;51m"},
	{"|[w", "\x1b[47m", "\x1b[48;5;231m", "\x1b[48;5;231m"},
	{"|[x", "\x1b[40m", "\x1b[48;5;102m", "\x1b[48;5;102m"},
	{"|500", "\x1b[1m\x1b[31m", "\x1b[38;5;196m", "\x1b[38;5;196m"},
	{"|050", "\x1b[1m\x1b[32m", "\x1b[38;5;46m", "\x1b[38;5;46m"},
	{"|005", "\x1b[1m\x1b[34m", "\x1b[38;5;21m", "\x1b[38;5;21m"},
	{"|555", "\x1b[1m\x1b[37m", "\x1b[38;5;231m", "\x1b[38;5;231m"},
	{"|000", "\x1b[22m\x1b[30m", "\x1b[38;5;16m", "\x1b[38;5;16m"},
	{"|123", "\x1b[1m\x1b[34m", "\x1b[38;5;67m", "\x1b[38;5;67m"},
	{"|431", "\x1b[1m\x1b[33m", "\x1b[38;5;179m", "\x1b[38;5;179m"},
	{"|[500", "\x1b[41m", "\x1b[48;5;196m", "\x1b[48;5;196m"},
	{"|[431", "\x1b[43m", "\x1b[48;5;179m", "\x1b[48;5;179m"},
	{"|[000", "\x1b[40m", "\x1b[48;5;16m", "\x1b[48;5;16m"},
	{"|=a", "\x1b[22m\x1b[30m", "\x1b[38;5;16m", "\x1b[38;5;16m"},
	{"|=b", "\x1b[22m\x1b[30m", "\x1b[38;5;232m", "\x1b[38;5;232m"},
	{"|=m", "\x1b[1m\x1b[30m", "\x1b[38;5;243m", "\x1b[38;5;243m"},
	{"|=y", "\x1b[1m\x1b[37m", "\x1b[38;5;255m", "\x1b[38;5;255m"},
	{"|=z", "\x1b[1m\x1b[37m", "\x1b[38;5;231m", "\x1b[38;5;231m"},
	{"|[=a", "\x1b[40m", "\x1b[48;5;16m", "\x1b[48;5;16m"},
	{"|[=j", "\x1b[40m", "\x1b[48;5;240m", "\x1b[48;5;240m"},
	{"|[=z", "\x1b[47m", "\x1b[48;5;231m", "\x1b[48;5;231m"},
	{"|#ff0000", "\x1b[1m\x1b[31m", "\x1b[38;5;196m", "\x1b[38;2;255;0;0m"},
	{"|#0f0", "\x1b[1m\x1b[32m", "\x1b[38;5;46m", "\x1b[38;2;0;255;0m"},
	{"|#FfA500", "\x1b[1m\x1b[33m", "\x1b[38;5;214m", "\x1b[38;2;255;165;0m"},
	{"|#808080", "\x1b[22m\x1b[37m", "\x1b[38;5;244m", "\x1b[38;2;128;128;128m"},
	{"|#3c3c3c", "\x1b[1m\x1b[30m", "\x1b[38;5;237m", "\x1b[38;2;60;60;60m"},
	{"|[#123456", "\x1b[46m", "\x1b[48;5;23m", "\x1b[48;2;18;52;86m"},
	{"|[#abc", "\x1b[47m", "\x1b[48;5;146m", "\x1b[48;2;170;187;204m"},
}

func TestRenderSGR(t *testing.T) {
	for _, c := range sgrCases {
		// Each markup is followed by text and |n, so the expected output
		// is the sequence, the text and one reset.
		in := c.markup + "x|n"
		for _, m := range []struct {
			mode Mode
			seq  string
		}{{ANSI16, c.ansi16}, {Xterm256, c.xterm256}, {TrueColor, c.truecolor}} {
			want := m.seq + "x\x1b[0m"
			if got := Render(in, m.mode); got != want {
				t.Errorf("Render(%q, %v) = %q, want %q", in, m.mode, got, want)
			}
		}
		if got := Render(in, Plain); got != "x" {
			t.Errorf("Render(%q, Plain) = %q, want %q", in, got, "x")
		}
		if got := Strip(in); got != "x" {
			t.Errorf("Strip(%q) = %q, want %q", in, got, "x")
		}
	}
}

// TestRenderText covers the markup that is text rather than colour; it is
// the same in every mode.
func TestRenderText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"a||b", "a|b"},
		{"||r is red", "|r is red"},
		{"a|/b", "a\nb"},
		{"a|-b", "a\tb"},
		{"a|_b", "a b"},
		{"a|>b", "a    b"},
		// Unknown sequences stay as they are, including a lone | at the end.
		{"a|qb", "a|qb"},
		{"50|% off", "50|% off"},
		{"end|", "end|"},
		{"|", "|"},
		{"|!r", "|!r"},
		{"|!", "|!"},
		{"|[", "|["},
		{"|[q", "|[q"},
		{"|[=", "|[="},
		{"|[=A", "|[=A"},
		{"|=", "|="},
		{"|=A", "|=A"},
		{"|600", "|600"},
		{"|50", "|50"},
		{"|#", "|#"},
		{"|#ff", "|#ff"},
		{"|#ggg", "|#ggg"},
		{"|l", "|l"},
		{"|lcnever closed", "|lcnever closed"},
		{"|lcmissing end|ltx", "|lcmissing end|ltx"},
		{"|lt|le", "|lt|le"},
	}
	for _, c := range cases {
		for _, mode := range []Mode{Plain, ANSI16, Xterm256, TrueColor} {
			if got := Render(c.in, mode); got != c.want {
				t.Errorf("Render(%q, %v) = %q, want %q", c.in, mode, got, c.want)
			}
		}
		if got := Strip(c.in); got != c.want {
			t.Errorf("Strip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRenderMixed(t *testing.T) {
	cases := []struct {
		in   string
		mode Mode
		want string
	}{
		{"This is |rRed text|n and this is normal again.", ANSI16,
			"This is \x1b[1m\x1b[31mRed text\x1b[0m and this is normal again."},
		{"|[R|gwarning", ANSI16, "\x1b[41m\x1b[1m\x1b[32mwarning\x1b[0m"},
		// Digits after a complete xterm code are text.
		{"|5001", Xterm256, "\x1b[38;5;196m1\x1b[0m"},
		// Six hex digits win over three; a fourth digit is text.
		{"|#abcd", TrueColor, "\x1b[38;2;170;187;204md\x1b[0m"},
		{"|#12345", TrueColor, "\x1b[38;2;17;34;51m45\x1b[0m"},
		// Links show their label (|lc) or their address (|lu).
		{"|lclook|ltLook around|le.", ANSI16, "Look around."},
		{"|r|lcget|lt|uget it|le|n", ANSI16, "\x1b[1m\x1b[31m\x1b[4mget it\x1b[0m"},
		{"see |luhttps://x.org|ltthe site|le", ANSI16, "see https://x.org"},
		// The command part is not rendered, so its colours are lost too.
		{"|lc|rcmd|lttext|le", ANSI16, "text"},
		// Inside a link, link markers are text.
		{"|lca|ltb|lcc|le|le", Plain, "b|lcc|le"},
		{"|l|lca|ltb|le", Plain, "|lb"},
	}
	for _, c := range cases {
		if got := Render(c.in, c.mode); got != c.want {
			t.Errorf("Render(%q, %v) = %q, want %q", c.in, c.mode, got, c.want)
		}
	}
}

// TestDowngrade checks a few colours against what a player would expect
// from Evennia on a 16-colour client.
func TestDowngrade(t *testing.T) {
	cases := []struct {
		markup string
		want   string
	}{
		{"|500", "\x1b[1m\x1b[31m"},  // bright red
		{"|200", "\x1b[22m\x1b[31m"}, // dark red
		{"|020", "\x1b[22m\x1b[32m"}, // dark green
		{"|001", "\x1b[22m\x1b[34m"}, // dark blue
		{"|425", "\x1b[1m\x1b[35m"},  // pink
		{"|110", "\x1b[22m\x1b[33m"}, // dark brown
		{"|222", "\x1b[1m\x1b[30m"},  // dark grey
		{"|333", "\x1b[22m\x1b[37m"}, // light grey
		{"|[431", "\x1b[43m"},        // orange background
		{"|[=r", "\x1b[47m"},         // middle grey background
		{"|#ffaa00", "\x1b[1m\x1b[33m"},
		{"|#ff8800", "\x1b[1m\x1b[31m"}, // Evennia's table makes |520 red, too
		{"|#000080", "\x1b[22m\x1b[34m"},
	}
	for _, c := range cases {
		want := c.want + "x\x1b[0m"
		if got := Render(c.markup+"x", ANSI16); got != want {
			t.Errorf("Render(%q, ANSI16) = %q, want %q", c.markup+"x", got, want)
		}
	}
}

// TestDowngradeTotal checks that Evennia's table covers the whole colour
// cube, so the nearest-colour fallback in downgrade never decides.
func TestDowngradeTotal(t *testing.T) {
	for r := range 6 {
		for g := range 6 {
			for b := range 6 {
				if _, _, ok := evenniaTable(r, g, b); !ok {
					t.Errorf("Evennia's table has no entry for %d%d%d", r, g, b)
				}
			}
		}
	}
}

func TestNearestXterm(t *testing.T) {
	cases := []struct {
		rgb  [3]uint8
		want uint8
	}{
		{[3]uint8{0, 0, 0}, 16},
		{[3]uint8{255, 255, 255}, 231},
		{[3]uint8{255, 0, 0}, 196},
		{[3]uint8{95, 135, 175}, 67},
		{[3]uint8{128, 128, 128}, 244}, // the grey ramp beats cube 102
		{[3]uint8{8, 8, 8}, 232},
		{[3]uint8{238, 238, 238}, 255},
		{[3]uint8{60, 60, 60}, 237}, // Evennia would give black
		{[3]uint8{255, 165, 0}, 214},
	}
	for _, c := range cases {
		if got := nearestXterm(c.rgb); got != c.want {
			t.Errorf("nearestXterm(%v) = %d, want %d", c.rgb, got, c.want)
		}
	}
}

// TestTrailingReset checks that output ends with a reset exactly when the
// text leaves something switched on.
func TestTrailingReset(t *testing.T) {
	cases := []struct{ in, want string }{
		{"|rred", "\x1b[1m\x1b[31mred\x1b[0m"},
		{"|rred|n", "\x1b[1m\x1b[31mred\x1b[0m"},
		{"|rred|n plain", "\x1b[1m\x1b[31mred\x1b[0m plain"},
		{"|uunder", "\x1b[4munder\x1b[0m"},
		// Even switching something off counts: the client's state is
		// not known, so a reset is the safe end.
		{"|Hx", "\x1b[22mx\x1b[0m"},
		{"|n", "\x1b[0m"},
		{"a|/b", "a\nb"},
		{"a||b", "a|b"},
		{"|[Rbg\n", "\x1b[41mbg\n\x1b[0m"},
	}
	for _, c := range cases {
		if got := Render(c.in, ANSI16); got != c.want {
			t.Errorf("Render(%q, ANSI16) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEscapeStripping checks that escape sequences in the input never reach
// the client, whole or in part.
func TestEscapeStripping(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a\x1b[31mred\x1b[0mb", "aredb"},
		{"\x1b[2J\x1b[Hcleared", "cleared"},
		{"\x1b]0;pwned title\x07ok", "ok"},
		{"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\x1bcreset", "reset"},
		{"\x1b(Bx", "x"},
		{"lone\x1b", "lone"},
		{"\x1b[", "["},
		{"\x1b[31", "[31"},
		{"\x1b]unterminated", "]unterminated"},
		// C1 controls: U+009B is CSI for an 8-bit terminal.
		{"a\u009b31mb", "a31mb"},
		{"a\u009d0;t\u009cb", "a0;tb"},
		// Invalid UTF-8 becomes U+FFFD, so that removing the ESC cannot
		// join \xc2 and \x9b into a new U+009B.
		{"\xc2\x1b\x9b", "\ufffd\ufffd"},
		{"\xc2|n\x9b", "\ufffd\ufffd"},
		// Markup around an escape still works.
		{"|r\x1b[5mx", "x"},
	}
	for _, c := range cases {
		if got := Strip(c.in); got != c.want {
			t.Errorf("Strip(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, mode := range []Mode{Plain, ANSI16, Xterm256, TrueColor} {
			got := Render(c.in, mode)
			// Only the sequences markup produced may remain.
			if rest := stripKnownSGR(got); strings.ContainsRune(rest, 0x1b) || hasC1(rest) {
				t.Errorf("Render(%q, %v) = %q lets an escape through", c.in, mode, got)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Render(%q, %v) = %q is not valid UTF-8", c.in, mode, got)
			}
		}
	}
	if got, want := Render("|r\x1b[5mx", ANSI16), "\x1b[1m\x1b[31mx\x1b[0m"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

// stripKnownSGR removes the escape sequences markup can produce, which are
// all SGR (ESC [ digits and ; then m).
func stripKnownSGR(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
				j++
			}
			if j < len(s) && s[j] == 'm' {
				i = j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasC1(s string) bool {
	for _, r := range s {
		if isC1(r) {
			return true
		}
	}
	return false
}

func TestRenderTrusted(t *testing.T) {
	art := "\x1b[31mART\x1b[0m |gok"
	if got, want := RenderTrusted(art, ANSI16), "\x1b[31mART\x1b[0m \x1b[1m\x1b[32mok\x1b[0m"; got != want {
		t.Errorf("RenderTrusted(ANSI16) = %q, want %q", got, want)
	}
	if got, want := RenderTrusted(art, Plain), "ART ok"; got != want {
		t.Errorf("RenderTrusted(Plain) = %q, want %q", got, want)
	}
	// A raw sequence may leave colour on, so a reset follows it.
	if got, want := RenderTrusted("\x1b[31mred", Xterm256), "\x1b[31mred\x1b[0m"; got != want {
		t.Errorf("RenderTrusted = %q, want %q", got, want)
	}
	// Escaped player text stays harmless inside trusted text.
	if got, want := RenderTrusted("say: "+Escape("\x1b[2J|rhi"), ANSI16), "say: |rhi"; got != want {
		t.Errorf("RenderTrusted(Escape) = %q, want %q", got, want)
	}
}

func TestStrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"|rred|n and |[Bblue bg|n", "red and blue bg"},
		{"|500|[=a|#ff0000|[#0f0|!R|h|H|u|U|i|I|s|S|*|^x", "x"},
		{"line1|/line2", "line1\nline2"},
		{"a||b|||rc", "a|b|c"},
		{"|lcn|ltnorth|le, |luhttp://a|ltsite|le", "north, http://a"},
	}
	for _, c := range cases {
		if got := Strip(c.in); got != c.want {
			t.Errorf("Strip(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"no pipes", "no pipes"},
		{"|r", "||r"},
		{"a||b", "a||||b"},
		{"\x1b[31mx", "x"},
		{"\u009bx", "x"},
		{"\xffx|", "\ufffdx||"},
	}
	for _, c := range cases {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, x := range []string{"", "|", "||", "|r|n", "a|/b", "|lcx|lty|le", "|#fff", "|", "é|ü", "trailing |"} {
		if got := Strip(Escape(x)); got != x {
			t.Errorf("Strip(Escape(%q)) = %q", x, got)
		}
		if got := Render(Escape(x), TrueColor); got != x {
			t.Errorf("Render(Escape(%q), TrueColor) = %q", x, got)
		}
	}
}

func TestModeFor(t *testing.T) {
	cases := []struct {
		flags map[string]any
		want  Mode
	}{
		{nil, ANSI16},
		{map[string]any{}, ANSI16},
		{map[string]any{"ANSI": true}, ANSI16},
		{map[string]any{"ANSI": false}, Plain},
		{map[string]any{"ANSI": true, "XTERM256": true}, Xterm256},
		{map[string]any{"ANSI": false, "XTERM256": true}, Xterm256},
		{map[string]any{"XTERM256": true, "TRUECOLOR": true}, TrueColor},
		{map[string]any{"TRUECOLOR": true}, TrueColor},
		{map[string]any{"XTERM256": false, "TRUECOLOR": false}, ANSI16},
		{map[string]any{"TRUECOLOR": true, "NOCOLOR": true}, Plain},
		{map[string]any{"XTERM256": true, "SCREENREADER": true}, Plain},
		{map[string]any{"NOCOLOR": false, "SCREENREADER": false}, ANSI16},
		// Python truthiness, as Evennia tests the flags.
		{map[string]any{"XTERM256": float64(1)}, Xterm256},
		{map[string]any{"XTERM256": float64(0)}, ANSI16},
		{map[string]any{"NOCOLOR": nil}, ANSI16},
	}
	for _, c := range cases {
		if got := ModeFor(c.flags); got != c.want {
			t.Errorf("ModeFor(%v) = %v, want %v", c.flags, got, c.want)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Plain: "Plain", ANSI16: "ANSI16", Xterm256: "Xterm256", TrueColor: "TrueColor", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

// TestBadMode checks that a mode out of range sends no escapes.
func TestBadMode(t *testing.T) {
	if got := Render("|rx", Mode(42)); got != "x" {
		t.Errorf("Render(Mode(42)) = %q, want %q", got, "x")
	}
}

// TestNoAllocs checks the fast path: text without markup is returned as it
// is.
func TestNoAllocs(t *testing.T) {
	s := "The quick brown fox jumps over the lazy dog — naïve café."
	for _, mode := range []Mode{Plain, ANSI16, Xterm256, TrueColor} {
		if n := testing.AllocsPerRun(100, func() { _ = Render(s, mode) }); n != 0 {
			t.Errorf("Render(%v) allocates %v times", mode, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Strip(s) }); n != 0 {
		t.Errorf("Strip allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s) }); n != 0 {
		t.Errorf("Escape allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = HTML(s) }); n != 0 {
		t.Errorf("HTML allocates %v times", n)
	}
	// With markup, the builder is the only allocation.
	c := "|rRed|n and |500xterm|n and |#ff8800true|n colour."
	if n := testing.AllocsPerRun(100, func() { _ = Render(c, TrueColor) }); n != 1 {
		t.Errorf("Render(colour) allocates %v times, want 1", n)
	}
}

// TestLinkSearchLinear checks that many unterminated link markers do not
// make rendering quadratic: each search resumes where the last one ended.
func TestLinkSearchLinear(t *testing.T) {
	s := strings.Repeat("|lc", 200000)
	if got := Strip(s); got != s {
		t.Fatalf("Strip changed unterminated link markers")
	}
	s = strings.Repeat("|lca|lt", 100000)
	if got := Strip(s); got != s {
		t.Fatalf("Strip changed link markers without |le")
	}
}

func BenchmarkRenderPlain(b *testing.B) {
	s := "You see a long corridor stretching north. Torches flicker on the damp stone walls, and somewhere water drips."
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = Render(s, Xterm256)
	}
}

func BenchmarkRenderColour(b *testing.B) {
	s := "|cA long corridor|n stretches |wnorth|n. |yTorches|n flicker on the |=kdamp stone|n walls, and |[B|025water|n drips. || |#ff8800Exits:|n north, south."
	for _, mode := range []Mode{Plain, ANSI16, Xterm256, TrueColor} {
		b.Run(mode.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				_ = Render(s, mode)
			}
		})
	}
}

func BenchmarkHTML(b *testing.B) {
	s := "|cA long corridor|n stretches |wnorth|n. |yTorches|n flicker on the |=kdamp stone|n walls, and |[B|025water|n drips. <Exits>: north & south."
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = HTML(s)
	}
}
