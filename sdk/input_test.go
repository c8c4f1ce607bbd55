package sdk

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTextInput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		text    string
		refusal string
	}{
		{"keepalive", "\x00", 0, "idle", ""},
		{"plain", "look at me", 0, "look at me", ""},
		{"empty", "", 0, "", ""},
		{"utf-8", "café ☕ 日本", 0, "café ☕ 日本", ""},
		{"NUL inside", "a\x00b", 0, "ab", ""},
		{"bad UTF-8", "caf\xe9", 0, "", MsgBadUTF8},
		{"truncated UTF-8", "\xe2\x98", 0, "", MsgBadUTF8},
		{"surrogate", "\xed\xa0\x80", 0, "", MsgBadUTF8},
		{"at max", "abcde", 5, "abcde", ""},
		{"over max", "abcdef", 5, "", MsgTooLong},
		{"runes not bytes", strings.Repeat("é", 6000), 6000, strings.Repeat("é", 6000), ""},
		{"runes over max", strings.Repeat("é", 6001), 6000, "", MsgTooLong},
		{"no limit", strings.Repeat("x", 100_000), 0, strings.Repeat("x", 100_000), ""},
		{"ESC sequences", "\x1b[31mred\x1b[0m", 0, "[31mred[0m", ""},
		{"BEL", "ding\x07!", 0, "ding!", ""},
		{"tab kept", "a\tb", 0, "a\tb", ""},
		{"CR, LF, backspace, DEL", "a\r\nb\bc\x7fd", 0, "abcd", ""},
		{"C1 CSI alone", "\u009b31mred", 0, "31mred", ""},
		{"C1 range", "x\u0080\u0085\u009fy", 0, "xy", ""},
		{"C1 with C0", "\x1b\u009b2J", 0, "2J", ""},
		{"NBSP and Latin-1 kept", "a\u00a0b\u00e9\u00bf", 0, "a\u00a0b\u00e9\u00bf", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, refusal := TextInput([]byte(tt.in), tt.max)
			if text != tt.text || refusal != tt.refusal {
				t.Errorf("TextInput(%q, %d) = %q, %q; want %q, %q", tt.in, tt.max, text, refusal, tt.text, tt.refusal)
			}
		})
	}
}

func FuzzTextInput(f *testing.F) {
	for _, s := range []string{"\x00", "hello", "\x1b[1m", "\u009b", "caf\xe9", "é\té", "\xc2"} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, line []byte, max int) {
		text, refusal := TextInput(line, max)
		if refusal != "" {
			if text != "" {
				t.Fatalf("refused with text %q", text)
			}
			return
		}
		if !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 out: %q", text)
		}
		if max > 0 && utf8.RuneCountInString(text) > max && text != IdleCommand {
			t.Fatalf("%d runes out, max %d", utf8.RuneCountInString(text), max)
		}
		for _, r := range text {
			if unicode.IsControl(r) && r != '\t' {
				t.Fatalf("control %U left in %q", r, text)
			}
		}
	})
}
