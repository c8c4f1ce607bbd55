package main

import (
	"strings"

	"github.com/portico-mud/portico/sdk/markup"
)

// mircLetters maps mIRC colours 0-15 to Evennia's colour letters: upper
// case is the dark variant, lower case the bright one (|R dark red, |r
// red). It is the inverse of ansiToMIRC.
var mircLetters = [16]byte{'w', 'X', 'B', 'G', 'r', 'R', 'M', 'Y', 'y', 'g', 'C', 'c', 'b', 'm', 'x', 'W'}

// inStyle is the formatting of IRC text being read, as markup will show it.
// A colour is its markup without the leading | ("r", "[B", "#ff8000",
// "[#102030"), or "" for the default.
type inStyle struct {
	fg, bg                                   string
	bold, italic, underline, strike, reverse bool
}

// toMarkup converts IRC text with mIRC formatting codes to Evennia markup,
// so that players see IRC colours safely: the text's own | is escaped as
// ||, escape sequences and other control characters are removed, and the
// result always ends with formatting reset. mIRC's extended colours 16-98
// have no markup equivalent and are shown as the default colour; \x04 hex
// colours become truecolor markup. Monospace (\x11) is dropped.
func toMarkup(s string) string {
	var b strings.Builder
	var cur, want inStyle
	text := func(t string) {
		if t == "" {
			return
		}
		writeInTransition(&b, cur, want)
		cur = want
		b.WriteString(markup.Escape(t))
	}
	// Escape sequences go first, whole (an OSC ends with BEL, which the
	// loop below would otherwise drop alone, leaving the rest as text).
	// Strip(Escape(x)) removes them and nothing else.
	s = markup.Strip(markup.Escape(s))
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 || c == '\t' {
			i++
			continue
		}
		text(s[start:i])
		i++
		switch c {
		case mircBold:
			want.bold = !want.bold
		case mircItalic:
			want.italic = !want.italic
		case mircUnderline:
			want.underline = !want.underline
		case mircStrike:
			want.strike = !want.strike
		case mircReverse:
			want.reverse = !want.reverse
		case mircReset:
			want = inStyle{}
		case mircColour:
			fg, bg, n := readColour(s[i:])
			i += n
			if n == 0 {
				want.fg, want.bg = "", ""
				break
			}
			want.fg = mircColourMarkup(fg, false)
			if bg != "" {
				want.bg = mircColourMarkup(bg, true)
			}
		case mircHex:
			fg, bg, n := readHexColour(s[i:])
			i += n
			if n == 0 {
				want.fg, want.bg = "", ""
				break
			}
			want.fg = "#" + strings.ToLower(fg)
			if bg != "" {
				want.bg = "[#" + strings.ToLower(bg)
			}
		}
		// Every other control character (CTCP's \x01, bell, NUL) is dropped.
		start = i
	}
	text(s[start:])
	if cur != (inStyle{}) {
		b.WriteString("|n")
	}
	return b.String()
}

// readColour reads the colour after \x03: one or two digits for the
// foreground, then, only when a digit follows it, a comma and one or two
// for the background. n is how many bytes it took (0: none, which resets
// the colours).
func readColour(s string) (fg, bg string, n int) {
	digits := func(t string) int {
		k := 0
		for k < len(t) && k < 2 && isDigit(t[k]) {
			k++
		}
		return k
	}
	n = digits(s)
	if n == 0 {
		return "", "", 0
	}
	fg = s[:n]
	if n < len(s) && s[n] == ',' {
		if m := digits(s[n+1:]); m > 0 {
			return fg, s[n+1 : n+1+m], n + 1 + m
		}
	}
	return fg, "", n
}

// readHexColour reads the colour after \x04: six hex digits, then, only
// when six more follow it, a comma and the background's six.
func readHexColour(s string) (fg, bg string, n int) {
	hex6 := func(t string) bool {
		if len(t) < 6 {
			return false
		}
		for i := range 6 {
			if !isHex(t[i]) {
				return false
			}
		}
		return true
	}
	if !hex6(s) {
		return "", "", 0
	}
	if len(s) > 6 && s[6] == ',' && hex6(s[7:]) {
		return s[:6], s[7:13], 13
	}
	return s[:6], "", 6
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// mircColourMarkup maps a mIRC colour number to markup (without the |);
// 99 (the default) and the extended colours 16-98 give "".
func mircColourMarkup(num string, bg bool) string {
	n := 0
	for i := 0; i < len(num); i++ {
		n = n*10 + int(num[i]-'0')
	}
	if n > 15 {
		return ""
	}
	if bg {
		return "[" + string(mircLetters[n])
	}
	return string(mircLetters[n])
}

// writeInTransition writes the markup that changes the formatting from
// `from` to `to`. Markup cannot switch a colour back to the default, or
// inverse off, except with |n, so those take a reset. Switching hilite off
// with |H would also dim a bright colour (|r), so the colour is given again.
func writeInTransition(b *strings.Builder, from, to inStyle) {
	if from == to {
		return
	}
	if (from.fg != "" && to.fg == "") || (from.bg != "" && to.bg == "") || (from.reverse && !to.reverse) {
		b.WriteString("|n")
		from = inStyle{}
	}
	// Attributes switched off first, then those switched on.
	for _, on := range []bool{false, true} {
		attr := func(was, is bool, code string) {
			if was != is && is == on {
				b.WriteString(code)
			}
		}
		if on {
			attr(from.bold, to.bold, "|h")
			attr(from.italic, to.italic, "|i")
			attr(from.underline, to.underline, "|u")
			attr(from.strike, to.strike, "|s")
			attr(from.reverse, to.reverse, "|*")
		} else {
			attr(from.bold, to.bold, "|H")
			attr(from.italic, to.italic, "|I")
			attr(from.underline, to.underline, "|U")
			attr(from.strike, to.strike, "|S")
		}
	}
	if to.fg != "" && (to.fg != from.fg || (from.bold && !to.bold)) {
		b.WriteString("|" + to.fg)
	}
	if to.bg != "" && to.bg != from.bg {
		b.WriteString("|" + to.bg)
	}
}

// ctcp splits a CTCP message ("\x01ACTION waves\x01") into its command,
// upper-cased, and argument. ok is false for ordinary text. The closing
// \x01 is optional, as many clients leave it out.
func ctcp(text string) (cmd, arg string, ok bool) {
	body, found := strings.CutPrefix(text, "\x01")
	if !found {
		return "", "", false
	}
	body = strings.TrimSuffix(body, "\x01")
	cmd, arg, _ = strings.Cut(body, " ")
	return strings.ToUpper(cmd), arg, true
}
