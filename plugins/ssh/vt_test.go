package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// vt is a minimal VT100 screen for tests: enough of one to check that what
// the line editor sends leaves the screen showing the line, with the
// cursor where the editor thinks it is. It models a screen that grows
// downward without scrolling, one cell per character, and the pending-wrap
// state of the last column, which is what makes cursor arithmetic at the
// margin hard.
type vt struct {
	width    int
	rows     [][]rune
	row, col int
	pending  bool // the last column was written; the next character wraps
	esc      []byte
	inEsc    bool
}

func newVT(width int) *vt { return &vt{width: width} }

func (v *vt) line(r int) []rune {
	for len(v.rows) <= r {
		v.rows = append(v.rows, make([]rune, v.width))
	}
	return v.rows[r]
}

// write interprets b; it returns a non-empty complaint for bytes the
// editor should never send.
func (v *vt) write(b []byte) string {
	for len(b) > 0 {
		if v.inEsc {
			c := b[0]
			b = b[1:]
			v.esc = append(v.esc, c)
			if len(v.esc) == 1 && c != '[' {
				return "ESC not followed by [: " + strconv.Quote(string(v.esc))
			}
			if len(v.esc) > 1 && c >= 0x40 && c <= 0x7e {
				if msg := v.csi(string(v.esc[1:len(v.esc)-1]), c); msg != "" {
					return msg
				}
				v.inEsc, v.esc = false, nil
			}
			continue
		}
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == 0x1b:
			v.inEsc = true
		case r == '\r':
			v.col, v.pending = 0, false
		case r == '\n':
			v.row++
			v.pending = false
		case r == '\b':
			if v.col > 0 {
				v.col--
			}
			v.pending = false
		case r == '\a':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "control character " + strconv.QuoteRune(r)
		default:
			if v.pending {
				v.row++
				v.col = 0
				v.pending = false
			}
			v.line(v.row)[v.col] = r
			if v.col == v.width-1 {
				v.pending = true
			} else {
				v.col++
			}
		}
	}
	return ""
}

func (v *vt) csi(params string, final byte) string {
	if strings.HasPrefix(params, "?") {
		return "" // modes (bracketed paste)
	}
	n := 1
	if params != "" {
		var err error
		if n, err = strconv.Atoi(params); err != nil {
			return "bad CSI parameter " + strconv.Quote(params)
		}
	}
	v.pending = false
	switch final {
	case 'A':
		v.row = max(v.row-n, 0)
	case 'B':
		v.row += n
	case 'C':
		v.col = min(v.col+n, v.width-1)
	case 'D':
		v.col = max(v.col-n, 0)
	case 'H':
		v.row, v.col = 0, 0
	case 'J':
		if params == "2" {
			v.rows = nil
			return ""
		}
		l := v.line(v.row)
		for i := v.col; i < v.width; i++ {
			l[i] = 0
		}
		if len(v.rows) > v.row+1 {
			v.rows = v.rows[:v.row+1]
		}
	case 'K':
		l := v.line(v.row)
		for i := v.col; i < v.width; i++ {
			l[i] = 0
		}
	default:
		return "unexpected CSI final " + string(final)
	}
	return ""
}

// text returns rows from..end as strings, trailing blanks cut.
func (v *vt) text(from int) []string {
	var out []string
	for r := from; r < len(v.rows); r++ {
		out = append(out, strings.TrimRight(strings.Map(func(c rune) rune {
			if c == 0 {
				return ' '
			}
			return c
		}, string(v.rows[r])), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
