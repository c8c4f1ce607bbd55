package main

import (
	"strconv"
	"strings"

	"github.com/portico-mud/portico/sdk/markup"
)

// mIRC formatting control bytes (https://modern.ircdocs.horse/formatting).
const (
	mircBold      = '\x02'
	mircColour    = '\x03'
	mircHex       = '\x04'
	mircReset     = '\x0f'
	mircMonospace = '\x11'
	mircReverse   = '\x16'
	mircItalic    = '\x1d'
	mircStrike    = '\x1e'
	mircUnderline = '\x1f'
)

// style is the formatting in effect for a run of text, in mIRC's terms.
type style struct {
	// fg and bg are mIRC colours 0-15, or -1 for the client's default.
	fg, bg                                   int8
	bold, italic, underline, strike, reverse bool
}

// plainStyle is unformatted text.
var plainStyle = style{fg: -1, bg: -1}

// span is a run of text in one style. The text may hold newlines.
type span struct {
	st   style
	text string
}

// ansiToMIRC maps an ANSI colour (x r g y b m c w) to mIRC's numbers:
// [0] without hilite (Evennia's |R, dark), [1] with hilite (|r, bright).
// It is the mapping Evennia's IRC bot uses for its 16 colours.
var ansiToMIRC = [2][8]int8{
	{1, 5, 3, 7, 2, 6, 10, 15},
	{14, 4, 9, 8, 12, 13, 11, 0},
}

// markupSpans turns Evennia markup into styled runs of text.
//
// Rather than lex the markup a second time, it lets sdk/markup render it
// as 16-colour ANSI, which downgrades xterm256 and truecolor with
// Evennia's own table, handles links, |/ and || exactly as every other
// plugin does, and removes any raw escape the text carried. Every escape
// sequence left in the result therefore came from markup and is one of the
// few SGR forms the renderer writes, which are read back here.
func markupSpans(s string) []span {
	r := markup.Render(s, markup.ANSI16)
	var out []span
	var a ansiState
	a.reset()
	start := 0
	flush := func(end int) {
		if end > start {
			out = append(out, span{st: a.style(), text: r[start:end]})
		}
	}
	for i := 0; i < len(r); {
		if r[i] != '\x1b' {
			i++
			continue
		}
		flush(i)
		n, params, ok := sgrAt(r, i)
		if ok {
			a.apply(params)
		}
		i += n
		start = i
	}
	flush(len(r))
	return out
}

// sgrAt reads the escape sequence at r[i], ESC [ params m, and returns
// its length and parameters. Anything else (which the renderer never
// writes) is a lone ESC of length 1 and is dropped.
func sgrAt(r string, i int) (n int, params string, ok bool) {
	j := i + 1
	if j < len(r) && r[j] == '[' {
		j++
		for j < len(r) && (r[j] == ';' || (r[j] >= '0' && r[j] <= '9')) {
			j++
		}
		if j < len(r) && r[j] == 'm' {
			return j + 1 - i, r[i+2 : j], true
		}
	}
	return 1, "", false
}

// ansiState is a terminal's SGR state, as far as markup can set it.
type ansiState struct {
	hi                                 bool
	fg, bg                             int8 // ANSI colour 0-7, or -1
	italic, underline, strike, reverse bool
}

func (a *ansiState) reset() { *a = ansiState{fg: -1, bg: -1} }

// apply reads one SGR parameter list ("1;31").
func (a *ansiState) apply(params string) {
	if params == "" {
		a.reset()
		return
	}
	for p := range strings.SplitSeq(params, ";") {
		n, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			a.reset()
		case n == 1:
			a.hi = true
		case n == 22:
			a.hi = false
		case n == 3:
			a.italic = true
		case n == 23:
			a.italic = false
		case n == 4:
			a.underline = true
		case n == 24:
			a.underline = false
		case n == 7:
			a.reverse = true
		case n == 9:
			a.strike = true
		case n == 29:
			a.strike = false
		case n >= 30 && n <= 37:
			a.fg = int8(n - 30)
		case n >= 40 && n <= 47:
			a.bg = int8(n - 40)
		}
		// Blink (5) has no mIRC form and is dropped.
	}
}

// style is what the state looks like on IRC. Hilite picks the bright
// variant of a colour, as in Evennia (|r is bright red, |R dark red); on
// uncoloured text it is shown as bold, the only way IRC has to stand out.
func (a *ansiState) style() style {
	s := style{fg: -1, bg: -1, italic: a.italic, underline: a.underline, strike: a.strike, reverse: a.reverse}
	if a.fg >= 0 {
		hi := 0
		if a.hi {
			hi = 1
		}
		s.fg = ansiToMIRC[hi][a.fg]
	} else {
		s.bold = a.hi
	}
	if a.bg >= 0 {
		s.bg = ansiToMIRC[0][a.bg]
	}
	return s
}

// appendTransition appends the mIRC codes that change the formatting from
// `from` to `to`. Colours are always written with two digits, so that a
// digit in the text after them can never be read as part of the colour.
// A colour cannot be switched back to the default reliably (a bare \x03
// followed by a digit would start a colour), so that takes a reset.
func appendTransition(b []byte, from, to style) []byte {
	if from == to {
		return b
	}
	if (from.fg >= 0 && to.fg < 0) || (from.bg >= 0 && to.bg < 0) {
		b = append(b, mircReset)
		from = plainStyle
	}
	toggle := func(was, is bool, code byte) {
		if was != is {
			b = append(b, code)
		}
	}
	toggle(from.bold, to.bold, mircBold)
	toggle(from.italic, to.italic, mircItalic)
	toggle(from.underline, to.underline, mircUnderline)
	toggle(from.strike, to.strike, mircStrike)
	toggle(from.reverse, to.reverse, mircReverse)
	if from.fg != to.fg || from.bg != to.bg {
		fg := to.fg
		if fg < 0 {
			fg = 99 // mIRC's "default colour", needed to set a background alone
		}
		b = append(b, mircColour)
		b = appendTwoDigits(b, fg)
		if to.bg != from.bg {
			b = append(b, ',')
			b = appendTwoDigits(b, to.bg)
		}
	}
	return b
}

func appendTwoDigits(b []byte, n int8) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// cleanRune reports whether r may be sent in IRC text. Control characters
// would end the line (CR, LF, NUL), start CTCP (\x01) or change formatting
// behind the converter's back, so only tab is kept.
func cleanRune(r rune) bool {
	if r == '\t' {
		return true
	}
	return r >= 0x20 && r != 0x7f
}

// toMIRC converts markup to mIRC-formatted text without a length limit,
// one line per line of the text, joined with "\n". It is what the tests
// check the colour mapping with; the bot sends ircLines.
func toMIRC(s string) string {
	return strings.Join(ircLines(s, 1<<30), "\n")
}
