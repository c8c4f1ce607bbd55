package main

import "unicode/utf8"

// keyKind is what one keystroke (or escape sequence) from a terminal means
// to the line editor.
type keyKind uint8

const (
	keyRune       keyKind = iota + 1 // a printable character (key.r)
	keyEnter                         // CR, LF or CR LF
	keyBackspace                     // DEL (0x7f) or Ctrl-H
	keyDelete                        // the Delete key: the character under the cursor
	keyUp                            // arrow up, Ctrl-P: older history
	keyDown                          // arrow down, Ctrl-N: newer history
	keyLeft                          // arrow left, Ctrl-B
	keyRight                         // arrow right, Ctrl-F
	keyHome                          // Home, Ctrl-A
	keyEnd                           // End, Ctrl-E
	keyTab                           // Tab
	keyInterrupt                     // Ctrl-C: clear the line
	keyEOF                           // Ctrl-D: quit on an empty line, else delete
	keyQuit                          // Ctrl-\: quit
	keyKillLine                      // Ctrl-U: delete from the line start to the cursor
	keyKillToEnd                     // Ctrl-K: delete from the cursor to the line end
	keyKillWord                      // Ctrl-W: delete the word before the cursor
	keyRedraw                        // Ctrl-L: clear the screen and redraw the line
	keyPasteStart                    // ESC [ 200 ~: bracketed paste begins
	keyPasteEnd                      // ESC [ 201 ~: bracketed paste ends
)

// key is one decoded keystroke.
type key struct {
	kind keyKind
	r    rune // for keyRune
}

// maxCSIParams bounds the parameter bytes kept for one escape sequence. A
// sequence with more is read to its end and ignored, so that a client
// cannot grow the parser's memory.
const maxCSIParams = 16

// parser states.
const (
	stGround = iota // plain input
	stEsc           // after ESC
	stCSI           // after ESC [
	stSS3           // after ESC O
)

// keyParser turns the raw bytes a terminal sends over SSH into keys. It
// keeps state between calls to feed (a sequence or a UTF-8 character split
// across reads), so one parser belongs to one connection. Bytes that mean
// nothing to a line editor (other control characters, unknown or malformed
// escape sequences, invalid UTF-8, C1 controls) are dropped here: no
// control byte ever reaches the line, and so never the game.
type keyParser struct {
	state int
	// params holds a CSI sequence's parameter bytes (at most maxCSIParams);
	// overlong is set when more arrived.
	params   [maxCSIParams]byte
	nparams  int
	overlong bool
	// utf holds the start of a UTF-8 character whose rest has not arrived.
	utf  [utf8.UTFMax]byte
	nutf int
	// afterCR is set after a CR, so that the LF (or NUL) of a CR LF (CR NUL)
	// pair does not count as a second Enter.
	afterCR bool
}

// feed decodes p and calls emit for each key, in order.
func (k *keyParser) feed(p []byte, emit func(key)) {
	for _, b := range p {
		k.byte(b, emit)
	}
}

func (k *keyParser) byte(b byte, emit func(key)) {
	if k.nutf > 0 {
		if b&0xc0 == 0x80 {
			k.utf[k.nutf] = b
			k.nutf++
			if utf8.FullRune(k.utf[:k.nutf]) {
				k.flushUTF8(emit)
			}
			return
		}
		// The character was cut short: drop it, then read b afresh.
		k.nutf = 0
	}
	afterCR := k.afterCR
	k.afterCR = false
	switch k.state {
	case stEsc:
		switch {
		case b == '[':
			k.state, k.nparams, k.overlong = stCSI, 0, false
			return
		case b == 'O':
			k.state = stSS3
			return
		case b == 0x1b:
			// ESC ESC: the first one was a lone Escape key press.
			return
		case b < 0x20 || b == 0x7f:
			// A lone Escape followed by a control key: the key counts.
			k.state = stGround
		default:
			// Alt+key and other two-byte sequences mean nothing here. The
			// rest of an Alt+non-ASCII character is dropped as stray
			// continuation bytes.
			k.state = stGround
			return
		}
	case stCSI:
		switch {
		case b >= 0x30 && b <= 0x3f: // parameter bytes
			if k.nparams < maxCSIParams {
				k.params[k.nparams] = b
				k.nparams++
			} else {
				k.overlong = true
			}
			return
		case b >= 0x20 && b <= 0x2f: // intermediate bytes: no key uses them
			k.overlong = true
			return
		case b >= 0x40 && b <= 0x7e: // final byte
			k.state = stGround
			if !k.overlong {
				k.csi(string(k.params[:k.nparams]), b, emit)
			}
			return
		default:
			// Not part of a sequence: abandon it and read b as input.
			k.state = stGround
		}
	case stSS3:
		k.state = stGround
		if b >= 0x40 && b <= 0x7e {
			if kind := cursorKey(b); kind != 0 {
				emit(key{kind: kind})
			}
			return
		}
	}
	k.ground(b, afterCR, emit)
}

// ground reads b outside any escape sequence.
func (k *keyParser) ground(b byte, afterCR bool, emit func(key)) {
	switch {
	case b >= 0x20 && b < 0x7f:
		emit(key{kind: keyRune, r: rune(b)})
	case b >= 0x80:
		k.startUTF8(b, emit)
	case b == '\r':
		k.afterCR = true
		emit(key{kind: keyEnter})
	case b == '\n' || b == 0:
		if !afterCR && b == '\n' {
			emit(key{kind: keyEnter})
		}
	case b == 0x1b:
		k.state = stEsc
	default:
		if kind := controlKeys[b]; kind != 0 {
			emit(key{kind: kind})
		}
	}
}

// controlKeys maps the C0 control characters a line editor acts on.
var controlKeys = [0x80]keyKind{
	0x01: keyHome,      // Ctrl-A
	0x02: keyLeft,      // Ctrl-B
	0x03: keyInterrupt, // Ctrl-C
	0x04: keyEOF,       // Ctrl-D
	0x05: keyEnd,       // Ctrl-E
	0x06: keyRight,     // Ctrl-F
	0x08: keyBackspace, // Ctrl-H
	0x09: keyTab,
	0x0b: keyKillToEnd, // Ctrl-K
	0x0c: keyRedraw,    // Ctrl-L
	0x0e: keyDown,      // Ctrl-N
	0x10: keyUp,        // Ctrl-P
	0x15: keyKillLine,  // Ctrl-U
	0x17: keyKillWord,  // Ctrl-W
	0x1c: keyQuit,      // Ctrl-\
	0x7f: keyBackspace, // DEL: what the Backspace key sends
}

// cursorKey maps the final byte of a cursor-key sequence (CSI or SS3, in
// normal or application cursor mode).
func cursorKey(final byte) keyKind {
	switch final {
	case 'A':
		return keyUp
	case 'B':
		return keyDown
	case 'C':
		return keyRight
	case 'D':
		return keyLeft
	case 'H':
		return keyHome
	case 'F':
		return keyEnd
	}
	return 0
}

// csi acts on a complete CSI sequence. Modifier parameters (Ctrl+Left is
// ESC [ 1 ; 5 D) do not change which key it is.
func (k *keyParser) csi(params string, final byte, emit func(key)) {
	if final != '~' {
		if kind := cursorKey(final); kind != 0 {
			emit(key{kind: kind})
		}
		return
	}
	// VT220 keys: ESC [ n ~ (with optional ;modifier).
	n := params
	for i := 0; i < len(n); i++ {
		if n[i] == ';' {
			n = n[:i]
			break
		}
	}
	var kind keyKind
	switch n {
	case "1", "7":
		kind = keyHome
	case "4", "8":
		kind = keyEnd
	case "3":
		kind = keyDelete
	case "200":
		kind = keyPasteStart
	case "201":
		kind = keyPasteEnd
	}
	if kind != 0 {
		emit(key{kind: kind})
	}
}

func (k *keyParser) startUTF8(b byte, emit func(key)) {
	if b < 0xc2 || b > 0xf4 {
		return // a continuation byte or a byte UTF-8 never uses
	}
	k.utf[0] = b
	k.nutf = 1
}

// flushUTF8 emits the completed character if it is valid and printable.
func (k *keyParser) flushUTF8(emit func(key)) {
	r, size := utf8.DecodeRune(k.utf[:k.nutf])
	k.nutf = 0
	if r == utf8.RuneError && size <= 1 {
		return
	}
	if r >= 0x80 && r < 0xa0 {
		return // C1 controls: 8-bit terminals take them for escapes
	}
	emit(key{kind: keyRune, r: r})
}
