package main

import (
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk/markup"
)

// MXP (MUD eXtension Protocol), the part Evennia uses: clickable links.
// After DO MXP the server sends IAC SB MXP IAC SE and then ESC[7z, "lock
// locked mode", so that no ordinary text is ever read as an MXP tag: a
// player's "<name>" stays text and needs no escaping (Evennia #1058, PRs
// #3910/#3922). Each link tag is sent after ESC[4z ("temp secure"), which
// lets just the next tag through:
//
//	|lc look|lt Look around|le -> ESC[4z<SEND HREF="look">Look around ESC[4z</SEND>
//	|lu https://x|lt site|le   -> ESC[4z<A HREF="https://x">site ESC[4z</A>
//
// sdk/markup shows links as plain text and has no MXP mode, so the links are
// taken out here before rendering: each is replaced by private-use marker
// runes around its label, which the renderer passes through as text, and the
// markers are turned into tags afterwards. Marker runes a player typed are
// removed first, so that no one can forge a tag.

const (
	mxpTempSecure = "\x1b[4z"
	mxpLockLocked = "\x1b[7z"
)

// Marker runes (Unicode private use area) standing for a link's opening
// tag (the nth href) and its closing tag.
const (
	mxpOpenSend = '\uF8F0'
	mxpOpenA    = '\uF8F1'
	mxpClose    = '\uF8F2'
	mxpCloseA   = '\uF8F3'
)

// mxpStart is what the server sends once the client agreed to MXP.
func mxpStart() []byte {
	return append(codec.Subnegotiation(codec.OptMXP, nil), mxpLockLocked...)
}

// renderMXP renders s for mode with its links as MXP tags.
func renderMXP(s string, mode markup.Mode) string {
	if !strings.Contains(s, "|l") {
		return markup.Render(s, mode)
	}
	pre, hrefs := extractLinks(stripMXPMarkers(s))
	if len(hrefs) == 0 {
		return markup.Render(s, mode)
	}
	out := markup.Render(pre, mode)
	var b strings.Builder
	b.Grow(len(out) + len(hrefs)*32)
	next := 0
	for _, r := range out {
		switch r {
		case mxpOpenSend, mxpOpenA:
			tag := "SEND"
			if r == mxpOpenA {
				tag = "A"
			}
			href := ""
			if next < len(hrefs) {
				href = hrefs[next]
			}
			next++
			b.WriteString(mxpTempSecure + "<" + tag + ` HREF="`)
			b.WriteString(mxpAttr(href))
			b.WriteString(`">`)
		case mxpClose:
			b.WriteString(mxpTempSecure + "</SEND>")
		case mxpCloseA:
			b.WriteString(mxpTempSecure + "</A>")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func stripMXPMarkers(s string) string {
	if !strings.ContainsAny(s, string([]rune{mxpOpenSend, mxpOpenA, mxpClose, mxpCloseA})) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= mxpOpenSend && r <= mxpCloseA {
			return -1
		}
		return r
	}, s)
}

// extractLinks replaces each |lc/|lu link in s by a marker, its label and a
// closing marker, and returns the hrefs in order. It reads links as
// sdk/markup does: || is an escaped bar, a link needs a |lt and then a |le
// after it, and link markers inside a link are plain text (so they are
// escaped in the label, which the renderer will see again).
func extractLinks(s string) (string, []string) {
	var b strings.Builder
	var hrefs []string
	start := 0
	for i := 0; i < len(s); {
		if s[i] != '|' || i+1 >= len(s) {
			i++
			continue
		}
		if s[i+1] == '|' {
			i += 2
			continue
		}
		if s[i+1] != 'l' || i+2 >= len(s) || (s[i+2] != 'c' && s[i+2] != 'u') {
			i++
			continue
		}
		mid := findLinkMarker(s, i+3, 't')
		if mid < 0 {
			i++
			continue
		}
		end := findLinkMarker(s, mid+3, 'e')
		if end < 0 {
			i++
			continue
		}
		b.WriteString(s[start:i])
		href := strings.TrimSpace(markup.Strip(s[i+3 : mid]))
		hrefs = append(hrefs, href)
		openR, closeR := mxpOpenSend, mxpClose
		if s[i+2] == 'u' {
			openR, closeR = mxpOpenA, mxpCloseA
		}
		b.WriteRune(openR)
		writeLabel(&b, s[mid+3:end])
		b.WriteRune(closeR)
		i = end + 3
		start = i
	}
	if hrefs == nil {
		return s, nil
	}
	b.WriteString(s[start:])
	return b.String(), hrefs
}

// findLinkMarker returns the offset of the next "|l"+which at or after
// from, stepping over || as one token, or -1.
func findLinkMarker(s string, from int, which byte) int {
	for j := from; j+2 < len(s); {
		if s[j] != '|' {
			j++
			continue
		}
		if s[j+1] == '|' {
			j += 2
			continue
		}
		if s[j+1] == 'l' && s[j+2] == which {
			return j
		}
		j++
	}
	return -1
}

// writeLabel copies a link's label, escaping the bar of any link marker in
// it so that the renderer shows it as text, as it would inside a link.
func writeLabel(b *strings.Builder, label string) {
	for i := 0; i < len(label); i++ {
		c := label[i]
		if c == '|' && i+1 < len(label) {
			if label[i+1] == '|' {
				b.WriteString("||")
				i++
				continue
			}
			if label[i+1] == 'l' {
				b.WriteString("||")
				continue
			}
		}
		b.WriteByte(c)
	}
}

// mxpAttr escapes an attribute value for MXP, whose entities are HTML's.
func mxpAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
