package sdk

import (
	"strings"
	"unicode/utf8"
)

// Messages a client is told when its input is refused (Evennia's words).
const (
	MsgBadUTF8  = "Your client sent an incorrect UTF-8 sequence."
	MsgTooLong  = "You entered a string that was too long. Please break it up into multiple parts."
	IdleCommand = "idle"
)

// TextInput turns one line of client bytes into the text a session sends
// to the host. It refuses invalid UTF-8 and lines longer than maxChars
// characters (0: no limit) with the message to show the client, and removes
// control characters other than tab, so that no player can send terminal
// escapes to the others. A line that is a lone NUL is Evennia's keepalive
// and becomes "idle".
func TextInput(line []byte, maxChars int) (text, refusal string) {
	if len(line) == 1 && line[0] == 0 {
		return IdleCommand, ""
	}
	if !utf8.Valid(line) {
		return "", MsgBadUTF8
	}
	if maxChars > 0 && len(line) > maxChars && utf8.RuneCount(line) > maxChars {
		return "", MsgTooLong
	}
	clean := true
	for i, b := range line {
		// C0 controls and DEL, and C1 controls (U+0080-U+009F, which UTF-8
		// encodes as 0xC2 0x80-0x9F).
		if (b < 0x20 && b != '\t') || b == 0x7f ||
			(b == 0xc2 && i+1 < len(line) && line[i+1] >= 0x80 && line[i+1] < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return string(line), ""
	}
	var sb strings.Builder
	sb.Grow(len(line))
	for _, r := range string(line) {
		if (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String(), ""
}
