package main

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SSH clients with a terminal send raw keystrokes and echo nothing
// themselves, so the server edits the line: it echoes what is typed, moves
// the cursor, keeps a history, and hands over the line at Enter. This file
// is that editor. It does no I/O: each call returns the bytes to send to
// the terminal and the actions for the connection to take, which keeps it
// exact to test.
//
// The screen model: the editor owns an "input area" at the bottom of the
// screen, which starts at column 0 of some row and holds the prompt (the
// last line of the game's most recent prompt) followed by the input, wrapped
// at the terminal's width. (cx, cy) is where the cursor is, relative to the
// area's first cell. Game output is written by hiding the area, writing the
// output (which always ends with a line end) and showing the area again
// below it, so that typing is never garbled by output arriving meanwhile.
//
// Wrapping: a VT100-style terminal that writes into the last column leaves
// the cursor there, pending a wrap, until the next character. The editor
// never leaves it in that state: when written text ends exactly at the
// margin it sends CR LF, so the cursor is really where (cx, cy) says.
// Characters are taken to be one cell wide.

// actionKind is what the editor asks the connection to do.
type actionKind uint8

const (
	actLine    actionKind = iota + 1 // a line was entered: send it to the game
	actTooLong                       // a line over the limit was entered: refuse it
	actQuit                          // the user asked to leave (Ctrl-D on an empty line, Ctrl-\)
)

// action is one thing the connection must do after feeding input.
type action struct {
	kind actionKind
	line string // for actLine
}

const (
	// maxHistory is how many lines the up arrow can bring back.
	maxHistory = 100
	// defaultWidth is assumed when the client did not tell its width.
	defaultWidth = 80
	// unlimitedRunes bounds a line when no limit is configured, so that a
	// client can never grow a session's memory without end.
	unlimitedRunes = 1 << 18
	// shrinkCap is the buffer capacity above which a finished line's
	// storage is dropped rather than kept for the next one.
	shrinkCap = 4096
)

// Terminal control sequences the editor sends.
const (
	seqEraseDown   = "\x1b[J"        // erase from the cursor to the end of the screen
	seqClearScreen = "\x1b[H\x1b[2J" // cursor home, erase the whole screen
	seqBackspace   = "\b \b"         // erase the character left of the cursor
	seqInterrupt   = "^C\r\n"        // what Ctrl-C leaves on the screen
)

// editor is one terminal's line editor. It is not safe for concurrent use:
// the connection calls it under its lock.
type editor struct {
	keys keyParser
	// width is the terminal's width in columns.
	width int
	// maxRunes is the longest line accepted, in characters.
	maxRunes int

	// prompt is shown before the input (rendered, possibly with colour
	// codes); promptWidth is how many cells it takes on the screen.
	prompt      string
	promptWidth int

	buf     []rune
	pos     int  // cursor position in buf
	echo    bool // show what is typed (off while a password is typed)
	tooLong bool // the line went over maxRunes; it will be refused
	paste   bool // inside a bracketed paste: keys are text, not commands

	history []string
	// hist is the history entry shown; len(history) means the line being
	// typed, which is kept in draft while older lines are browsed.
	hist  int
	draft []rune

	cx, cy int

	out  []byte
	acts []action
}

// newEditor returns an editor for a terminal width columns wide that
// accepts lines of up to maxRunes characters (0: no configured limit).
func newEditor(width, maxRunes int) *editor {
	if maxRunes <= 0 || maxRunes > unlimitedRunes {
		maxRunes = unlimitedRunes
	}
	return &editor{width: width, maxRunes: maxRunes, echo: true}
}

// feed handles bytes typed by the user. It returns what to write to the
// terminal and what to do, in order; the write comes first.
func (e *editor) feed(p []byte) (out []byte, acts []action) {
	e.keys.feed(p, e.handle)
	out, acts = e.out, e.acts
	e.out, e.acts = nil, nil
	return out, acts
}

// hide appends to dst what erases the input area from the screen, leaving
// the cursor at the area's start, ready for output.
func (e *editor) hide(dst []byte) []byte {
	if !e.drawn() {
		return dst
	}
	e.out = dst
	e.moveTo(0)
	e.out = append(e.out, seqEraseDown...)
	dst, e.out = e.out, nil
	return dst
}

// show appends to dst what draws the input area again (after hide and
// output that ended with a line end).
func (e *editor) show(dst []byte) []byte {
	e.out = dst
	e.writeText(e.prompt, e.promptWidth)
	if e.echo {
		e.writeRunes(e.buf)
		e.moveTo(e.off(e.pos))
	}
	dst, e.out = e.out, nil
	return dst
}

// setPrompt sets the prompt shown before the input. Call it between hide
// and show.
func (e *editor) setPrompt(rendered string, width int) {
	e.prompt, e.promptWidth = rendered, width
}

// setEcho turns echoing of typed characters on or off (a password). Call it
// between hide and show.
func (e *editor) setEcho(on bool) { e.echo = on }

// setWidth changes the terminal width, redrawing the input area. The area
// is erased as it was laid out for the old width: a terminal that reflows
// its lines on resize may leave a stray line, which Ctrl-L clears.
func (e *editor) setWidth(width int, dst []byte) []byte {
	if width == e.width {
		return dst
	}
	dst = e.hide(dst)
	e.width = width
	return e.show(dst)
}

// drawn reports whether the input area shows anything.
func (e *editor) drawn() bool {
	return e.prompt != "" || (e.echo && len(e.buf) > 0) || e.cx != 0 || e.cy != 0
}

func (e *editor) handle(k key) {
	if e.paste {
		// A pasted text is text: its control characters and escape
		// sequences are not commands, but its line ends still enter lines.
		switch k.kind {
		case keyRune:
			e.insert(k.r)
		case keyTab:
			e.insert(' ')
		case keyEnter:
			e.enter()
		case keyPasteEnd:
			e.paste = false
		}
		return
	}
	switch k.kind {
	case keyRune:
		e.insert(k.r)
	case keyTab:
		// A tab's width depends on the column; a space keeps the cursor
		// arithmetic exact.
		e.insert(' ')
	case keyEnter:
		e.enter()
	case keyBackspace:
		e.backspace()
	case keyDelete:
		e.deleteForward()
	case keyLeft:
		e.moveCursor(e.pos - 1)
	case keyRight:
		e.moveCursor(e.pos + 1)
	case keyHome:
		e.moveCursor(0)
	case keyEnd:
		e.moveCursor(len(e.buf))
	case keyUp:
		e.historyPrev()
	case keyDown:
		e.historyNext()
	case keyInterrupt:
		e.interrupt()
	case keyEOF:
		if len(e.buf) == 0 {
			e.acts = append(e.acts, action{kind: actQuit})
			return
		}
		e.deleteForward()
	case keyQuit:
		e.acts = append(e.acts, action{kind: actQuit})
	case keyKillLine:
		e.killLine()
	case keyKillToEnd:
		e.killToEnd()
	case keyKillWord:
		e.killWord()
	case keyRedraw:
		e.out = append(e.out, seqClearScreen...)
		e.cx, e.cy = 0, 0
		e.out = e.show(e.out)
	case keyPasteStart:
		e.paste = true
	}
}

func (e *editor) insert(r rune) {
	if e.tooLong {
		return
	}
	if len(e.buf) >= e.maxRunes {
		// The rest of the line is dropped; Enter refuses it. One bell
		// tells the user at once.
		e.tooLong = true
		e.out = append(e.out, '\a')
		return
	}
	e.buf = slices.Insert(e.buf, e.pos, r)
	e.pos++
	if !e.echo {
		return
	}
	e.writeRunes(e.buf[e.pos-1:])
	if e.pos < len(e.buf) {
		e.moveTo(e.off(e.pos))
	}
}

func (e *editor) enter() {
	if e.echo {
		e.moveTo(e.off(len(e.buf)))
	}
	e.out = append(e.out, '\r', '\n')
	line := string(e.buf)
	if e.tooLong {
		e.acts = append(e.acts, action{kind: actTooLong})
	} else {
		e.acts = append(e.acts, action{kind: actLine, line: line})
		// Lines typed unseen (passwords) are never kept.
		if e.echo && strings.TrimSpace(line) != "" &&
			(len(e.history) == 0 || e.history[len(e.history)-1] != line) {
			if len(e.history) == maxHistory {
				e.history = slices.Delete(e.history, 0, 1)
			}
			e.history = append(e.history, line)
		}
	}
	// The prompt belonged to this line: it stays on the screen above and
	// the next one comes from the game.
	e.prompt, e.promptWidth = "", 0
	e.clearLine()
	e.cx, e.cy = 0, 0
}

// clearLine empties the line and leaves history browsing.
func (e *editor) clearLine() {
	if cap(e.buf) > shrinkCap {
		e.buf = nil
	}
	e.buf = e.buf[:0]
	e.pos = 0
	e.tooLong = false
	e.hist = len(e.history)
	e.draft = nil
}

func (e *editor) backspace() {
	if e.pos == 0 {
		return
	}
	atEnd := e.pos == len(e.buf)
	e.buf = slices.Delete(e.buf, e.pos-1, e.pos)
	e.pos--
	if !e.echo {
		return
	}
	if atEnd && e.cx > 0 {
		e.out = append(e.out, seqBackspace...)
		e.cx--
		return
	}
	e.moveTo(e.off(e.pos))
	e.redrawTail()
}

func (e *editor) deleteForward() {
	if e.pos == len(e.buf) {
		return
	}
	e.buf = slices.Delete(e.buf, e.pos, e.pos+1)
	if e.echo {
		e.redrawTail()
	}
}

func (e *editor) moveCursor(pos int) {
	if pos < 0 || pos > len(e.buf) || pos == e.pos {
		return
	}
	e.pos = pos
	if e.echo {
		e.moveTo(e.off(pos))
	}
}

func (e *editor) killLine() {
	if e.pos == 0 {
		return
	}
	e.buf = slices.Delete(e.buf, 0, e.pos)
	e.pos = 0
	if e.echo {
		e.moveTo(e.off(0))
		e.redrawTail()
	}
}

func (e *editor) killToEnd() {
	if e.pos == len(e.buf) {
		return
	}
	e.buf = e.buf[:e.pos]
	if e.echo {
		e.out = append(e.out, seqEraseDown...)
	}
}

func (e *editor) killWord() {
	start := e.pos
	for start > 0 && e.buf[start-1] == ' ' {
		start--
	}
	for start > 0 && e.buf[start-1] != ' ' {
		start--
	}
	if start == e.pos {
		return
	}
	e.buf = slices.Delete(e.buf, start, e.pos)
	e.pos = start
	if e.echo {
		e.moveTo(e.off(start))
		e.redrawTail()
	}
}

func (e *editor) interrupt() {
	e.moveTo(e.off(len(e.buf)))
	e.out = append(e.out, seqInterrupt...)
	e.cx, e.cy = 0, 0
	e.clearLine()
	e.paste = false
	e.writeText(e.prompt, e.promptWidth)
}

func (e *editor) historyPrev() {
	if !e.echo || e.hist == 0 {
		return
	}
	if e.hist == len(e.history) {
		e.draft = slices.Clone(e.buf)
	}
	e.hist--
	e.setLine([]rune(e.history[e.hist]))
}

func (e *editor) historyNext() {
	if !e.echo || e.hist >= len(e.history) {
		return
	}
	e.hist++
	if e.hist == len(e.history) {
		e.setLine(e.draft)
		e.draft = nil
		return
	}
	e.setLine([]rune(e.history[e.hist]))
}

// setLine replaces the line (from history) and puts the cursor at its end.
func (e *editor) setLine(line []rune) {
	e.moveTo(e.off(0))
	e.buf = append(e.buf[:0], line...)
	e.pos = len(e.buf)
	e.tooLong = false
	e.writeRunes(e.buf)
	e.out = append(e.out, seqEraseDown...)
}

// redrawTail rewrites the line from the cursor on, erases what the old
// line left beyond it, and puts the cursor back.
func (e *editor) redrawTail() {
	e.writeRunes(e.buf[e.pos:])
	e.out = append(e.out, seqEraseDown...)
	e.moveTo(e.off(e.pos))
}

// off returns the area offset (in cells) of line position i.
func (e *editor) off(i int) int {
	if !e.echo {
		return e.promptWidth
	}
	return e.promptWidth + i
}

func (e *editor) cols() int {
	if e.width > 0 {
		return e.width
	}
	return defaultWidth
}

func (e *editor) writeRunes(rs []rune) {
	if len(rs) == 0 {
		return
	}
	for _, r := range rs {
		e.out = utf8.AppendRune(e.out, r)
	}
	e.advance(len(rs))
}

// writeText writes s, which takes width cells.
func (e *editor) writeText(s string, width int) {
	e.out = append(e.out, s...)
	e.advance(width)
}

// advance moves the tracked cursor over n cells just written, as the
// terminal wraps them, and resolves a pending wrap at the margin.
func (e *editor) advance(n int) {
	if n <= 0 {
		return
	}
	w := e.cols()
	total := e.cx + n
	e.cy += total / w
	e.cx = total % w
	if e.cx == 0 {
		e.out = append(e.out, '\r', '\n')
	}
}

// moveTo moves the cursor to area offset off with relative movements.
func (e *editor) moveTo(off int) {
	w := e.cols()
	ty, tx := off/w, off%w
	switch {
	case ty < e.cy:
		e.out = appendCSI(e.out, e.cy-ty, 'A')
	case ty > e.cy:
		e.out = appendCSI(e.out, ty-e.cy, 'B')
	}
	switch {
	case tx == e.cx:
	case tx == 0:
		e.out = append(e.out, '\r')
	case tx == e.cx-1:
		e.out = append(e.out, '\b')
	case tx < e.cx:
		e.out = appendCSI(e.out, e.cx-tx, 'D')
	default:
		e.out = appendCSI(e.out, tx-e.cx, 'C')
	}
	e.cx, e.cy = tx, ty
}

// appendCSI appends ESC [ n c, leaving out n when it is 1.
func appendCSI(dst []byte, n int, c byte) []byte {
	dst = append(dst, 0x1b, '[')
	if n != 1 {
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return append(dst, c)
}
