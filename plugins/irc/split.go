package main

import "unicode/utf8"

// cell is one character of text with its formatting.
type cell struct {
	r  rune
	st style
}

// ircLines converts markup to mIRC-formatted lines of at most max bytes
// each, ready to be the text of PRIVMSGs. A newline in the text starts a
// new line; a line too long is split at the last space that fits (the
// space itself is dropped), or between two characters when a word alone
// is too long, never inside a UTF-8 sequence or a colour code. Each line
// starts with the formatting in effect at its first character and ends
// with a reset when it leaves any on, because IRC clients reset
// formatting at the end of every message. Control characters are
// removed, so that no text can end the IRC line early (CR/LF injection)
// or start a CTCP. Blank lines are left out: IRC cannot send them.
func ircLines(s string, max int) []string {
	var out []string
	var line []cell
	emit := func() {
		out = layout(out, line, max)
		line = line[:0]
	}
	for _, sp := range markupSpans(s) {
		for _, r := range sp.text {
			switch {
			case r == '\n':
				emit()
			case cleanRune(r):
				line = append(line, cell{r: r, st: sp.st})
			}
		}
	}
	emit()
	return out
}

// layout appends the IRC lines for one line of text to out.
func layout(out []string, cells []cell, max int) []string {
	for i := 0; i < len(cells); {
		var b []byte
		cur := plainStyle
		// The break candidate: the last space, with the output length and
		// style just before it.
		brk, brkLen, brkStyle := -1, 0, plainStyle
		j := i
		for ; j < len(cells); j++ {
			c := cells[j]
			n := len(appendTransition(nil, cur, c.st)) + utf8.RuneLen(c.r)
			if c.r == ' ' && j > i {
				brk, brkLen, brkStyle = j, len(b), cur
			}
			// One byte stays free for the closing reset.
			if len(b)+n+1 > max && j > i {
				break
			}
			b = appendTransition(b, cur, c.st)
			b = utf8.AppendRune(b, c.r)
			cur = c.st
		}
		next := j
		if j < len(cells) && brk > i {
			b, cur, next = b[:brkLen], brkStyle, brk+1
		}
		if cur != plainStyle {
			b = append(b, mircReset)
		}
		if !blank(cells[i:next]) {
			out = append(out, string(b))
		}
		i = next
	}
	return out
}

// blank reports whether cells hold nothing but spaces and tabs.
func blank(cells []cell) bool {
	for _, c := range cells {
		if c.r != ' ' && c.r != '\t' {
			return false
		}
	}
	return true
}
