package markup

// tokKind is what a | sequence means.
type tokKind uint8

const (
	// tLit is text to show: || gives "|", |/ a newline, and an unknown
	// sequence its own "|" (the rest is then read as ordinary text).
	tLit tokKind = iota
	tReset
	tAttr  // v is an attr* constant
	tFG16  // v is the ANSI colour 0-7, hi one of hi*
	tBG16  // v is the ANSI colour 0-7
	tFG256 // v is the xterm256 index
	tBG256
	tFGRGB // rgb is the colour
	tBGRGB
	tLinkCmd // |lc: mid and end are the offsets of |lt and |le
	tLinkURL // |lu: likewise
)

// Attributes, in the order of attrSeq.
const (
	attrHilite uint8 = iota
	attrUnhilite
	attrUnderline
	attrUnderlineOff
	attrItalic
	attrItalicOff
	attrStrike
	attrStrikeOff
	attrBlink
	attrInverse
)

// What a 16-colour foreground does to hilite: |r switches it on, |R off,
// and |!R leaves it alone.
const (
	hiOn uint8 = iota
	hiOff
	hiKeep
)

// token is one | sequence. n is how many bytes of input it takes.
type token struct {
	kind     tokKind
	v, hi    uint8
	rgb      [3]uint8
	lit      string
	n        int
	mid, end int
}

// ansiLetter maps Evennia's colour letters to ANSI colour numbers; both
// cases give the same colour, the case only decides hilite.
func ansiLetter(c byte) (uint8, bool) {
	switch c | 0x20 {
	case 'x':
		return 0, true
	case 'r':
		return 1, true
	case 'g':
		return 2, true
	case 'y':
		return 3, true
	case 'b':
		return 4, true
	case 'm':
		return 5, true
	case 'c':
		return 6, true
	case 'w':
		return 7, true
	}
	return 0, false
}

// brightBG is the xterm256 colour Evennia substitutes for |[r ... |[x (in
// ANSI colour order x r g y b m c w), since ANSI has no bright backgrounds:
// |[500, |[050, |[550, |[005, |[505, |[055, |[555 and |[222.
var brightBG = [8]uint8{
	16 + 2*36 + 2*6 + 2, // x: 222
	16 + 5*36,           // r: 500
	16 + 5*6,            // g: 050
	16 + 5*36 + 5*6,     // y: 550
	16 + 5,              // b: 005
	16 + 5*36 + 5,       // m: 505
	16 + 5*6 + 5,        // c: 055
	231,                 // w: 555
}

// literal tokens, kept as constants so lexing allocates nothing.
var (
	litBar    = token{kind: tLit, lit: "|", n: 1}
	litBarBar = token{kind: tLit, lit: "|", n: 2}
)

// lexer reads | sequences from one string. It remembers the result of its
// last search for |lt and |le, so that a string full of |lc without an end
// costs linear, not quadratic, time.
type lexer struct {
	s string
	// For each marker, the offset the last search started from and what
	// it found (-1 for nothing up to the end of s).
	ltFrom, ltAt int
	leFrom, leAt int
}

func newLexer(s string) lexer {
	return lexer{s: s, ltFrom: -1, leFrom: -1}
}

// lex reads the | sequence at s[i]. Inside a link, link markers are
// ordinary text, as Evennia's non-greedy link pattern makes them.
func (lx *lexer) lex(i int, inLink bool) token {
	s := lx.s
	if i+1 >= len(s) {
		return litBar
	}
	c := s[i+1]
	switch c {
	case '|':
		return litBarBar
	case 'n':
		return token{kind: tReset, n: 2}
	case '/':
		// Evennia sends "\r\n"; line endings are the transport's job
		// (Evennia's own telnet turns every "\n" into "\r\n" again), so
		// a plain newline is given here.
		return token{kind: tLit, lit: "\n", n: 2}
	case '-':
		return token{kind: tLit, lit: "\t", n: 2}
	case '_':
		return token{kind: tLit, lit: " ", n: 2}
	case '>':
		return token{kind: tLit, lit: "    ", n: 2}
	case '*':
		return token{kind: tAttr, v: attrInverse, n: 2}
	case '^':
		return token{kind: tAttr, v: attrBlink, n: 2}
	case 'u':
		return token{kind: tAttr, v: attrUnderline, n: 2}
	case 'U':
		return token{kind: tAttr, v: attrUnderlineOff, n: 2}
	case 'i':
		return token{kind: tAttr, v: attrItalic, n: 2}
	case 'I':
		return token{kind: tAttr, v: attrItalicOff, n: 2}
	case 's':
		return token{kind: tAttr, v: attrStrike, n: 2}
	case 'S':
		return token{kind: tAttr, v: attrStrikeOff, n: 2}
	case 'h':
		return token{kind: tAttr, v: attrHilite, n: 2}
	case 'H':
		return token{kind: tAttr, v: attrUnhilite, n: 2}
	case '!':
		// Only the upper-case letters exist in Evennia's table.
		if i+2 < len(s) && s[i+2] >= 'A' && s[i+2] <= 'Z' {
			if col, ok := ansiLetter(s[i+2]); ok {
				return token{kind: tFG16, v: col, hi: hiKeep, n: 3}
			}
		}
		return litBar
	case '[':
		return lexColour(s, i+2, true, 2)
	case 'l':
		if !inLink && i+2 < len(s) && (s[i+2] == 'c' || s[i+2] == 'u') {
			if t, ok := lx.link(i); ok {
				return t
			}
		}
		return litBar
	}
	if col, ok := ansiLetter(c); ok {
		hi := hiOn
		if c < 'a' {
			hi = hiOff
		}
		return token{kind: tFG16, v: col, hi: hi, n: 2}
	}
	return lexColour(s, i+1, false, 1)
}

// lexColour reads the colour after "|" or "|[" (at s[j]); prefix is the
// length of that lead-in. Anything that is not a colour leaves the "|" as
// literal text.
func lexColour(s string, j int, bg bool, prefix int) token {
	if j >= len(s) {
		return litBar
	}
	c := s[j]
	if bg {
		// |[R is an ANSI background; |[r a bright one, which ANSI lacks,
		// so Evennia sends it as xterm256 (downgraded again for ANSI16).
		if col, ok := ansiLetter(c); ok {
			if c < 'a' {
				return token{kind: tBG16, v: col, n: prefix + 1}
			}
			return token{kind: tBG256, v: brightBG[col], n: prefix + 1}
		}
	}
	switch {
	case c >= '0' && c <= '5':
		if j+2 < len(s) && isCube(s[j+1]) && isCube(s[j+2]) {
			idx := 16 + 36*(c-'0') + 6*(s[j+1]-'0') + (s[j+2] - '0')
			return token{kind: pick(bg, tBG256, tFG256), v: idx, n: prefix + 3}
		}
	case c == '=':
		if j+1 < len(s) && s[j+1] >= 'a' && s[j+1] <= 'z' {
			return token{kind: pick(bg, tBG256, tFG256), v: greyIndex(s[j+1]), n: prefix + 2}
		}
	case c == '#':
		// Six digits win over three, as in Evennia's pattern: |#abcd is
		// |#abc followed by "d".
		if rgb, ok := parseHex(s, j+1, 6); ok {
			return token{kind: pick(bg, tBGRGB, tFGRGB), rgb: rgb, n: prefix + 7}
		}
		if rgb, ok := parseHex(s, j+1, 3); ok {
			return token{kind: pick(bg, tBGRGB, tFGRGB), rgb: rgb, n: prefix + 4}
		}
	}
	return litBar
}

func pick(bg bool, ifBG, ifFG tokKind) tokKind {
	if bg {
		return ifBG
	}
	return ifFG
}

func isCube(c byte) bool { return c >= '0' && c <= '5' }

// greyIndex maps |=a ... |=z to xterm256: a is cube black (16), z cube
// white (231), and b ... y the 24-step grey ramp 232-255, as in Evennia.
func greyIndex(c byte) uint8 {
	switch c {
	case 'a':
		return 16
	case 'z':
		return 231
	}
	return 232 + (c - 'b')
}

// parseHex reads n (6 or 3) hex digits at s[j]; three digits are doubled,
// so #f80 is #ff8800.
func parseHex(s string, j, n int) ([3]uint8, bool) {
	var rgb [3]uint8
	if j+n > len(s) {
		return rgb, false
	}
	for k := 0; k < n; k++ {
		if hexVal(s[j+k]) < 0 {
			return rgb, false
		}
	}
	for k := range rgb {
		if n == 6 {
			rgb[k] = uint8(hexVal(s[j+2*k])<<4 | hexVal(s[j+2*k+1]))
		} else {
			d := hexVal(s[j+k])
			rgb[k] = uint8(d<<4 | d)
		}
	}
	return rgb, true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// link reads |lc or |lu at s[i]. It is a link only if a |lt and then a |le
// follow; otherwise Evennia leaves the text alone and so does this.
func (lx *lexer) link(i int) (token, bool) {
	mid := lx.find(i+3, 't')
	if mid < 0 {
		return token{}, false
	}
	end := lx.find(mid+3, 'e')
	if end < 0 {
		return token{}, false
	}
	kind := tLinkCmd
	if lx.s[i+2] == 'u' {
		kind = tLinkURL
	}
	return token{kind: kind, n: 3, mid: mid, end: end}, true
}

// find returns the offset of the next "|l"+which token at or after from,
// or -1. It steps over the input the way the renderers do (|| is one
// token, escape sequences are skipped whole) so that it agrees with them on
// where tokens start. Searches start at increasing offsets, so a previous
// answer still holds while from has not passed it.
func (lx *lexer) find(from int, which byte) int {
	fromp, atp := &lx.ltFrom, &lx.ltAt
	if which == 'e' {
		fromp, atp = &lx.leFrom, &lx.leAt
	}
	if *fromp >= 0 && from >= *fromp && (*atp < 0 || from <= *atp) {
		return *atp
	}
	s := lx.s
	at := -1
	for j := from; j < len(s); {
		switch s[j] {
		case '|':
			if j+1 < len(s) && s[j+1] == '|' {
				j += 2
				continue
			}
			if j+2 < len(s) && s[j+1] == 'l' && s[j+2] == which {
				at = j
			}
		case esc:
			j += escLen(s, j)
			continue
		}
		if at >= 0 {
			break
		}
		j++
	}
	*fromp, *atp = from, at
	return at
}

// maxEscString bounds how far escLen looks for the end of an OSC or other
// string sequence, so that many unterminated ones cannot make a render
// quadratic.
const maxEscString = 512

// escLen returns the length of the escape sequence starting with the ESC at
// s[i], as a terminal would read it, so that the whole sequence can be
// removed rather than leaving its tail as garbage. Anything malformed counts
// as the ESC alone; the bytes after it are then ordinary text, which a
// terminal cannot act on without the ESC.
func escLen(s string, i int) int {
	if i+1 >= len(s) {
		return 1
	}
	c := s[i+1]
	switch {
	case c == '[':
		// CSI: parameter bytes, intermediate bytes, one final byte.
		j := i + 2
		for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
			j++
		}
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
			return j + 1 - i
		}
		return 1
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string ended by BEL or ESC \.
		end := min(len(s), i+2+maxEscString)
		for j := i + 2; j < end; j++ {
			switch s[j] {
			case 0x07:
				return j + 1 - i
			case esc:
				if j+1 < len(s) && s[j+1] == '\\' {
					return j + 2 - i
				}
				return 1
			}
		}
		return 1
	case c >= 0x20 && c <= 0x2f:
		// nF: intermediate bytes, then one final byte (ESC ( B).
		j := i + 1
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
			return j + 1 - i
		}
		return 1
	case c >= 0x30 && c <= 0x7e:
		// Two-byte escapes such as ESC c (full reset) and ESC 7.
		return 2
	}
	return 1
}
