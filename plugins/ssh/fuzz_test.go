package main

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxFuzzInput bounds the inputs the fuzz targets check: no parser or
// editor state needs more than a few hundred bytes to reach, and larger
// inputs only slow the fuzzer's minimisation.
const maxFuzzInput = 384

var fuzzSeeds = []string{
	"",
	"look\r",
	"say hi\r\nwho\n",
	"ab\x1b[D\x1b[DX\x1b[C\x1b[3~\r",
	"one\rtwo\r\x1b[A\x1b[A\x1b[B\x10\x0e\r",
	"abc\x03def\x15gh\x17\x0bij\x04\x04\x01\x05\x02\x06\r",
	"\x1b[200~pasted\x03\rline\x1b[201~\r",
	"\x1b\x1b[1;5D\x1bOA\x1b[99999999999999999999A\x1b[1 A\x1bx\x1b\r",
	"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc2\x85\xff\xfe\x80\xed\xa0\x80\r",
	"\x00\x07\x11\x7f\x08\t\x0c\x1c",
	strings.Repeat("x", 90) + "\x01Z\x05\x7f\x7f\r",
	"ab\xfecd\xfd\xfeef\xfd\xfe\x7f\r",
}

// FuzzKeyParser checks the parser's invariants on any input: it never
// produces a control character or invalid rune as text, and the keys do
// not depend on how the stream is cut into reads.
func FuzzKeyParser(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		if len(data) > maxFuzzInput {
			return
		}
		var whole []key
		var p keyParser
		p.feed(data, func(k key) { whole = append(whole, k) })
		for _, k := range whole {
			if k.kind == keyRune && (k.r < 0x20 || k.r == 0x7f || (k.r >= 0x80 && k.r < 0xa0) || !utf8.ValidRune(k.r)) {
				t.Fatalf("control or invalid rune %U emitted as text", k.r)
			}
		}
		if p.nparams > maxCSIParams || p.nutf > utf8.UTFMax {
			t.Fatalf("parser state grew: %d params, %d UTF-8 bytes", p.nparams, p.nutf)
		}
		at := 0
		if len(data) > 0 {
			at = int(cut) % (len(data) + 1)
		}
		var split []key
		var q keyParser
		q.feed(data[:at], func(k key) { split = append(split, k) })
		q.feed(data[at:], func(k key) { split = append(split, k) })
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("cut at %d: %+v, whole: %+v", at, split, whole)
		}
	})
}

// FuzzEditor runs the line editor on any input, drawing on a model
// terminal, and checks after every read that the screen shows the prompt
// and the line with the cursor in place, that no line handed to the game
// holds a control character or is over the limit, and that the editor
// never sends the terminal anything but text and the sequences it means
// to. The first two bytes choose the width and the line limit. In the
// rest, bytes the parser drops anyway drive the test: 0xff ends a read,
// 0xfe is output from the game arriving (with a prompt, every other time),
// 0xfd turns echo off or on.
func FuzzEditor(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte("\x08\x00" + s))
		f.Add([]byte("\x1c\x07" + s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > maxFuzzInput {
			return
		}
		width := 4 + int(data[0])%40
		maxRunes := int(data[1]) % 24
		e := newEditor(width, maxRunes)
		v := newVT(width)
		draw := func(b []byte) {
			if msg := v.write(b); msg != "" {
				t.Fatalf("editor sent %q: %s", b, msg)
			}
		}
		prompt := false
		outputs := 0
		chunk := []byte{}
		flush := func() {
			out, acts := e.feed(chunk)
			chunk = chunk[:0]
			draw(out)
			checkScreen(t, v, e)
			for _, a := range acts {
				if a.kind != actLine {
					continue
				}
				if limit := maxRunes; limit > 0 && utf8.RuneCountInString(a.line) > limit {
					t.Fatalf("line of %d characters over the limit %d", utf8.RuneCountInString(a.line), limit)
				}
				for _, r := range a.line {
					if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
						t.Fatalf("line %q holds control character %U", a.line, r)
					}
				}
			}
		}
		for _, b := range data[2:] {
			switch b {
			case 0xff:
				flush()
			case 0xfe, 0xfd:
				flush()
				out := e.hide(nil)
				if b == 0xfd {
					e.setEcho(!e.echo)
				} else {
					outputs++
					out = append(out, "news\r\n"...)
					if prompt = !prompt; prompt {
						e.setPrompt("hp>", 3)
					}
				}
				draw(e.show(out))
				checkScreen(t, v, e)
			default:
				chunk = append(chunk, b)
			}
		}
		flush()
	})
}
