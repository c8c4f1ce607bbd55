package main

import (
	"reflect"
	"testing"
)

func parseKeys(in string) []key {
	var p keyParser
	var out []key
	p.feed([]byte(in), func(k key) { out = append(out, k) })
	return out
}

func r(c rune) key       { return key{kind: keyRune, r: c} }
func k(kind keyKind) key { return key{kind: kind} }
func runes(s string) []key {
	var out []key
	for _, c := range s {
		out = append(out, r(c))
	}
	return out
}

func TestKeyParser(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []key
	}{
		{"printable", "ab 1~", runes("ab 1~")},
		{"utf8", "é€😀", runes("é€😀")},
		{"enter CR", "\r", []key{k(keyEnter)}},
		{"enter LF", "\n", []key{k(keyEnter)}},
		{"CR LF is one enter", "\r\n", []key{k(keyEnter)}},
		{"CR NUL is one enter", "\r\x00", []key{k(keyEnter)}},
		{"LF CR is two", "\n\r", []key{k(keyEnter), k(keyEnter)}},
		{"CR CR is two", "\r\r", []key{k(keyEnter), k(keyEnter)}},
		{"backspace DEL", "\x7f", []key{k(keyBackspace)}},
		{"backspace ^H", "\x08", []key{k(keyBackspace)}},
		{"ctrl keys", "\x01\x02\x03\x04\x05\x06\x0b\x0c\x0e\x10\x15\x17\x1c",
			[]key{k(keyHome), k(keyLeft), k(keyInterrupt), k(keyEOF), k(keyEnd), k(keyRight),
				k(keyKillToEnd), k(keyRedraw), k(keyDown), k(keyUp), k(keyKillLine), k(keyKillWord), k(keyQuit)}},
		{"tab", "\t", []key{k(keyTab)}},
		{"arrows CSI", "\x1b[A\x1b[B\x1b[C\x1b[D", []key{k(keyUp), k(keyDown), k(keyRight), k(keyLeft)}},
		{"arrows SS3", "\x1bOA\x1bOB\x1bOC\x1bOD", []key{k(keyUp), k(keyDown), k(keyRight), k(keyLeft)}},
		{"home end", "\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[7~\x1b[8~",
			[]key{k(keyHome), k(keyEnd), k(keyHome), k(keyEnd), k(keyHome), k(keyEnd), k(keyHome), k(keyEnd)}},
		{"delete", "\x1b[3~", []key{k(keyDelete)}},
		{"modified arrows", "\x1b[1;5C\x1b[3;2~", []key{k(keyRight), k(keyDelete)}},
		{"paste markers", "\x1b[200~x\x1b[201~", []key{k(keyPasteStart), r('x'), k(keyPasteEnd)}},
		{"unknown CSI", "\x1b[5~\x1b[2~\x1b[Z\x1b[?1;2cx", runes("x")},
		{"alt key", "\x1bxy", runes("y")},
		{"lone escape then enter", "\x1b\r", []key{k(keyEnter)}},
		{"escape escape", "\x1b\x1b[A", []key{k(keyUp)}},
		{"CSI cut by control", "\x1b[1\r", []key{k(keyEnter)}},
		{"overlong CSI ignored", "\x1b[" + "11111111111111111111" + "Ax", runes("x")},
		{"intermediate bytes ignored", "\x1b[1 Ax", runes("x")},
		{"other C0 dropped", "\x00\x07\x11\x12\x13\x14\x16\x18\x19\x1a\x1d\x1e\x1fz", runes("z")},
		{"C1 dropped", "\xc2\x80\xc2\x9b\xc2\x9fz", runes("z")},
		{"bad UTF-8 dropped", "\xff\xfe\x80\xc3(\xe2\x82z\xed\xa0\x80", runes("(z")},
		{"nbsp kept", "\xc2\xa0", runes("\u00a0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseKeys(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parse %q = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
