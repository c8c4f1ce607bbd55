// Package markup renders Evennia's colour markup (|r, |[b, |500, |=a, |#ff0000,
// |n, || ...) for a client: 16-colour ANSI, xterm256, truecolor, plain text,
// or HTML for the webclient.
//
// Every line of game output passes through this package, so it follows
// Evennia's markup byte for byte where that matters to players (which code
// gives which escape sequence, what survives stripping) and is written to be
// cheap: text without markup is returned as it is, without allocating.
//
// The package must not let player-supplied text control the client's
// terminal. Raw escape bytes (ESC, and the C1 control characters U+0080 to
// U+009F, which 8-bit terminals and Latin-1 sessions treat as escapes) are
// removed from the input together with the escape sequence they start;
// only RenderTrusted lets them through, for text the game itself produced.
// Output is always valid UTF-8: invalid bytes become U+FFFD, so that
// removing something can never splice two halves into a new control
// character. The package does no I/O and keeps no state between calls;
// everything in it is safe for concurrent use.
//
// Markup (as in Evennia 6):
//
//	|n            reset all colours and attributes
//	|r |g |y |b |m |c |w |x   bright (hilite) red, green, yellow, blue, magenta, cyan, white, dark grey
//	|R |G |Y |B |M |C |W |X   normal (unhilite) ones; |W is light grey, |X black
//	|!R ... |!X   foreground colour without changing hilite
//	|[R ... |[X   background colour; |[r ... |[x bright backgrounds (sent as xterm256)
//	|h |H         hilite on, off
//	|u |U         underline on, off
//	|i |I         italic on, off
//	|s |S         strikethrough on, off
//	|* |^         inverse, blink
//	|000 - |555   xterm256 colour cube foreground (red, green, blue 0-5); |[000 background
//	|=a - |=z     xterm256 greyscale foreground, black to white; |[=a background
//	|#rrggbb |#rgb   truecolor foreground; |[#rrggbb |[#rgb background
//	|/ |- |_ |>   newline, tab, space, four-space indent
//	||            a literal |
//	|lc cmd |lt text |le   a clickable command (MXP); shown as "text"
//	|lu url |lt text |le   a web link; shown as "url"
//
// Any other | sequence is left in the text as it is. |lc and |lu links are
// shown as plain text by Render and Strip; HTML makes them anchors.
//
// Deliberate departures from Evennia: |/ gives "\n", not "\r\n", because
// line endings are the transport's business; a colour downgraded to a
// normal ANSI colour switches hilite off with ESC[22m instead of resetting
// everything with ESC[0m, which would also drop the background and
// underline; truecolor goes to the nearest xterm256 colour rather than
// Evennia's rounded one; "{{" is not an escape for "{"; and |||[r is a
// literal | followed by a bright background, where Evennia shows "||[r".
package markup

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mode is the kind of colour a client can display. Render downgrades
// markup a mode cannot show to the nearest thing it can.
type Mode int

const (
	// Plain is text without any escape sequences, for clients that asked
	// for no colour and for screen readers.
	Plain Mode = iota
	// ANSI16 is the 8 ANSI colours with bold as their bright variants.
	ANSI16
	// Xterm256 adds the 6×6×6 colour cube and the greyscale ramp.
	Xterm256
	// TrueColor adds 24-bit RGB colours.
	TrueColor
)

// String returns the mode's name, for logs and test failures.
func (m Mode) String() string {
	switch m {
	case Plain:
		return "Plain"
	case ANSI16:
		return "ANSI16"
	case Xterm256:
		return "Xterm256"
	case TrueColor:
		return "TrueColor"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Protocol flag names ModeFor looks at. They are Evennia's protocol_flags
// keys (the same strings as the constants in sdk/contract, repeated here so
// that this package depends on nothing).
const (
	flagNoColor      = "NOCOLOR"
	flagScreenReader = "SCREENREADER"
	flagTrueColor    = "TRUECOLOR"
	flagXterm256     = "XTERM256"
	flagANSI         = "ANSI"
)

// ModeFor picks the mode from Evennia protocol flags: NOCOLOR or
// SCREENREADER → Plain; TRUECOLOR → TrueColor; XTERM256 → Xterm256; ANSI (or
// unset) → ANSI16. Flag values are JSON-shaped (bool, number, string, or
// missing) and are judged by Python truthiness, as Evennia does. An ANSI flag
// that is present and false, with neither XTERM256 nor TRUECOLOR set, means
// the client has no colour at all and gives Plain, as in Evennia's telnet
// send_text. A nil map gives ANSI16.
func ModeFor(flags map[string]any) Mode { return ModeOf(mapFlags(flags)) }

// Flags are protocol flags by name, as ModeOf reads them: a session's
// contract.Flags, or a map (see ModeFor).
type Flags interface {
	// Get returns flag name and whether it is set.
	Get(name string) (any, bool)
}

type mapFlags map[string]any

func (m mapFlags) Get(name string) (any, bool) {
	v, ok := m[name]
	return v, ok
}

// ModeOf is ModeFor for flags held other than in a map (a session's typed
// contract.Flags).
func ModeOf(flags Flags) Mode {
	get := func(name string) any { v, _ := flags.Get(name); return v }
	switch {
	case truthy(get(flagNoColor)), truthy(get(flagScreenReader)):
		return Plain
	case truthy(get(flagTrueColor)):
		return TrueColor
	case truthy(get(flagXterm256)):
		return Xterm256
	}
	if v, ok := flags.Get(flagANSI); ok && !truthy(v) {
		return Plain
	}
	return ANSI16
}

// truthy reports whether a JSON-shaped value is true in Python's sense,
// since protocol flags come from Evennia, where they are tested that way.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case float32:
		return x != 0
	case int:
		return x != 0
	case int64:
		return x != 0
	case int32:
		return x != 0
	case uint64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// Render converts the markup in s to escape sequences for mode. Colours the
// mode cannot show are downgraded: xterm256 colours to the nearest of the 16
// ANSI colours (using Evennia's table) in ANSI16 mode; truecolor to the
// nearest xterm256 cube or grey colour in Xterm256 mode, and on to 16
// colours in ANSI16 mode. In Plain mode all markup is removed, exactly as
// Strip does. If the text leaves colours or attributes switched on, the
// output ends with a reset (ESC[0m) so that they never bleed into the next
// line; Evennia gets the same effect by appending |n to every line.
//
// Raw escape sequences and C1 control characters in s are removed; see
// RenderTrusted for text that may keep them.
func Render(s string, mode Mode) string {
	return render(s, mode, false)
}

// RenderTrusted is Render for text the game produced itself, such as
// pre-rendered ANSI art: raw escape sequences and C1 control characters in s
// are passed through in the colour modes instead of being removed. Player
// text must never reach it unless it went through Escape first. In Plain
// mode it removes them like Render, because a plain client asked for none.
func RenderTrusted(s string, mode Mode) string {
	return render(s, mode, true)
}

// Strip removes all markup, leaving the plain text: || becomes |, |/ a
// newline, |- a tab, |_ a space and |> four spaces; links keep their visible
// part. Raw escape sequences and C1 control characters are removed too. It is
// the same as Render(s, Plain).
func Strip(s string) string {
	return render(s, Plain, false)
}

// Escape makes arbitrary player text safe to embed in markup: | becomes ||,
// so that the text shows exactly as typed and cannot change colours. It
// also removes escape sequences and C1 control characters, and replaces
// invalid UTF-8 with U+FFFD, so that the result is safe even inside text
// later given to RenderTrusted. For valid UTF-8 x without such characters,
// Strip(Escape(x)) == x.
func Escape(s string) string {
	if !needsWork(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '|':
				b.WriteString(s[start : i+1])
				b.WriteByte('|')
				i++
				start = i
			case esc:
				// The whole sequence goes, as in Render, so that
				// Render(Escape(x)) shows what Render(x) would.
				b.WriteString(s[start:i])
				i += escLen(s, i)
				start = i
			default:
				i++
			}
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b.WriteString(s[start:i])
			b.WriteString(replacementChar)
		case isC1(r):
			b.WriteString(s[start:i])
		default:
			i += w
			continue
		}
		i += w
		start = i
	}
	b.WriteString(s[start:])
	return b.String()
}

const (
	esc             = 0x1b
	replacementChar = "\uFFFD"
	resetSeq        = "\x1b[0m"
)

// isC1 reports whether r is a C1 control character. U+009B is CSI and
// U+009D OSC for 8-bit terminals, and a Latin-1 session sends them as
// single bytes, so they are as dangerous as ESC.
func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// needsWork reports whether s holds anything Render, Strip or Escape must
// change: a |, an ESC, a C1 control character or invalid UTF-8. Text
// without them is returned as it is, which is what makes the common case
// free.
func needsWork(s string) bool {
	for i := plainWords(s); i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '|' || c == esc {
				return true
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && w == 1) || isC1(r) {
			return true
		}
		i += w
	}
	return false
}

// Constants for plainWords, which tests eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWords returns how many leading bytes of s, in whole 8-byte words, are
// ASCII other than '|' and ESC. Game text is mostly such bytes, and testing
// a word at a time makes the no-markup fast path about three times quicker
// than a byte loop. A word with v-ones&^v&highs set has a zero byte, so
// xoring with '|' or ESC in every byte first finds those bytes; the test
// may also stop at a harmless byte, which only ends the skip early.
func plainWords(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		// The compiler merges these loads into one.
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bar := x ^ (ones * '|')
		e := x ^ (ones * esc)
		if (x|(bar-ones)&^bar|(e-ones)&^e)&highs != 0 {
			break
		}
	}
	return i
}

// render is Render, RenderTrusted and Strip. It makes one pass over s,
// copying runs of ordinary text in bulk and translating each token.
func render(s string, mode Mode, trusted bool) string {
	if !needsWork(s) {
		return s
	}
	if mode < Plain || mode > TrueColor {
		// An out-of-range mode is a caller bug; the safe reading is the
		// one that sends no escape sequences at all.
		mode = Plain
	}
	colour := mode != Plain
	passRaw := trusted && colour

	var b strings.Builder
	b.Grow(len(s) + len(s)/2 + len(resetSeq))
	lx := newLexer(s)
	// dirty is true while some colour or attribute is switched on, so that
	// the output can end with a reset only when one is needed.
	dirty := false
	// skipAt, skipTo and inLink track a |lc/|lu link: when the loop reaches
	// skipAt it jumps to skipTo, dropping the part of the link this output
	// does not show.
	skipAt, skipTo := -1, -1
	inLink := false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '|' && c != esc {
				i++
				i += plainWords(s[i:])
				continue
			}
			b.WriteString(s[start:i])
			if c == esc {
				n := escLen(s, i)
				if passRaw {
					seq := s[i : i+n]
					b.WriteString(seq)
					// The state a raw sequence leaves is unknown; only
					// a plain reset is known to leave nothing on.
					dirty = seq != resetSeq && seq != "\x1b[m"
				}
				i += n
				start = i
				continue
			}
			if i == skipAt {
				i, skipAt, inLink = skipTo, -1, false
				start = i
				continue
			}
			t := lx.lex(i, inLink)
			switch t.kind {
			case tLit:
				b.WriteString(t.lit)
			case tReset:
				if colour {
					b.WriteString(resetSeq)
				}
				dirty = false
			case tLinkCmd:
				// The command is hidden; its label is shown.
				i, skipAt, skipTo, inLink = t.mid+3, t.end, t.end+3, true
				start = i
				continue
			case tLinkURL:
				// The address is shown; its label is hidden.
				i, skipAt, skipTo, inLink = i+3, t.mid, t.end+3, true
				start = i
				continue
			default:
				if colour {
					writeSGR(&b, t, mode)
					dirty = true
				}
			}
			i += t.n
			start = i
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b.WriteString(s[start:i])
			b.WriteString(replacementChar)
		case isC1(r):
			b.WriteString(s[start:i])
			if passRaw {
				b.WriteString(s[i : i+w])
				dirty = true
			}
		default:
			i += w
			continue
		}
		i += w
		start = i
	}
	b.WriteString(s[start:])
	if dirty {
		b.WriteString(resetSeq)
	}
	return b.String()
}

// writeSGR writes the escape sequence for a colour or attribute token in a
// colour mode, downgrading colours the mode cannot show.
func writeSGR(b *strings.Builder, t token, mode Mode) {
	switch t.kind {
	case tAttr:
		b.WriteString(attrSeq[t.v])
	case tFG16:
		b.WriteString(fg16Seq[t.hi][t.v])
	case tBG16:
		b.WriteString(bg16Seq[t.v])
	case tFG256:
		if mode == ANSI16 {
			b.WriteString(fgDownSeq[t.v])
		} else {
			b.WriteString(fg256Seq[t.v])
		}
	case tBG256:
		if mode == ANSI16 {
			b.WriteString(bgDownSeq[t.v])
		} else {
			b.WriteString(bg256Seq[t.v])
		}
	case tFGRGB, tBGRGB:
		bg := t.kind == tBGRGB
		switch mode {
		case TrueColor:
			writeTrueColor(b, t.rgb, bg)
		case Xterm256:
			if bg {
				b.WriteString(bg256Seq[nearestXterm(t.rgb)])
			} else {
				b.WriteString(fg256Seq[nearestXterm(t.rgb)])
			}
		default:
			if bg {
				b.WriteString(bgDownSeq[nearestXterm(t.rgb)])
			} else {
				b.WriteString(fgDownSeq[nearestXterm(t.rgb)])
			}
		}
	}
}

// writeTrueColor writes ESC[38;2;r;g;bm (or 48 for a background) without
// allocating.
func writeTrueColor(b *strings.Builder, rgb [3]uint8, bg bool) {
	var buf [24]byte
	out := append(buf[:0], "\x1b[38;2;"...)
	if bg {
		out[2] = '4'
	}
	for k, v := range rgb {
		if k > 0 {
			out = append(out, ';')
		}
		out = appendUint8(out, v)
	}
	out = append(out, 'm')
	b.Write(out)
}

// appendUint8 appends v in decimal.
func appendUint8(out []byte, v uint8) []byte {
	switch {
	case v >= 100:
		out = append(out, '0'+v/100, '0'+v/10%10, '0'+v%10)
	case v >= 10:
		out = append(out, '0'+v/10, '0'+v%10)
	default:
		out = append(out, '0'+v)
	}
	return out
}
