package main

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portico-mud/portico/sdk/markup"
)

// FuzzToMarkup: whatever an IRC user sends, what reaches the game is valid
// UTF-8 markup whose rendering holds no control character but tab and
// newline-free text, so that no IRC user can reach a player's terminal.
func FuzzToMarkup(f *testing.F) {
	for _, s := range []string{"hi", "\x0304,02x\x03", "\x02b\x1fu\x16r\x0f", "\x04ff00ff,00ff00x", "|r||\x1b[31m", "\x01ACTION x\x01", "a\xffb\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := toMarkup(s)
		if !utf8.ValidString(out) {
			t.Fatalf("toMarkup(%q) = %q: invalid UTF-8", s, out)
		}
		for _, mode := range []markup.Mode{markup.Plain, markup.ANSI16} {
			r := markup.Render(out, mode)
			for _, c := range r {
				if (c < 0x20 && c != '\t' && c != 0x1b) || (c >= 0x80 && c <= 0x9f) {
					t.Fatalf("toMarkup(%q) renders a control character %U: %q", s, c, r)
				}
			}
			if mode == markup.Plain && strings.ContainsRune(r, 0x1b) {
				t.Fatalf("toMarkup(%q) renders an escape in plain mode: %q", s, r)
			}
		}
	})
}

// FuzzIRCLines: whatever the game sends, every IRC line is valid UTF-8
// without CR, LF, NUL or CTCP's \x01, and fits the limit.
func FuzzIRCLines(f *testing.F) {
	for _, s := range []string{"hello world", "|rred|n |[Bblue", "a\r\nQUIT :x", "\x01VERSION\x01", "ééé 😀😀", strings.Repeat("word ", 200)} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 17 || max > 600 {
			max = 17 + (max%500+500)%500
		}
		for _, l := range ircLines(s, max) {
			if len(l) > max || !utf8.ValidString(l) || strings.ContainsAny(l, "\r\n\x00\x01") {
				t.Fatalf("ircLines(%q, %d): bad line %q", s, max, l)
			}
		}
	})
}
