package main

import (
	"strings"
	"unicode/utf16"

	"github.com/portico-mud/portico/sdk/markup"
)

// Discord's limit on a message's content, in characters (UTF-16 code
// units, as Discord's clients count: a character outside the BMP counts
// two).
const maxContent = 2000

// maxMessages bounds the Discord messages one game line may become, so
// that one huge line cannot flood the channel (and the rate limit).
const maxMessages = 5

// maxRelayLines bounds the game lines one Discord message becomes.
const maxRelayLines = 10

// discordContents turns a game line (Evennia markup, perhaps raw ANSI)
// into the contents of Discord messages: markup, escape sequences and
// control characters removed, Discord markdown escaped so that the text
// shows as typed, and split to fit maxContent, preferring a newline, then
// a space. At most maxMessages are returned; blank ones are left out.
func discordContents(s string) []string {
	units := escapeMarkdown(cleanText(markup.Strip(s)))
	var out []string
	for len(units) > 0 && len(out) < maxMessages {
		n, size := 0, 0
		for n < len(units) && size+width(units[n]) <= maxContent {
			size += width(units[n])
			n++
		}
		cut, skip := n, 0
		if n < len(units) {
			// Too long: cut after the last newline, else the last space,
			// in the part that fits; the separator itself is dropped.
			if i := lastUnit(units[:n], "\n"); i > 0 {
				cut, skip = i, 1
			} else if i := lastUnit(units[:n], " "); i > 0 {
				cut, skip = i, 1
			}
		}
		if text := strings.TrimSpace(strings.Join(units[:cut], "")); text != "" {
			out = append(out, text)
		}
		units = units[cut+skip:]
	}
	return out
}

// lastUnit returns the index of the last unit equal to u, or -1.
func lastUnit(units []string, u string) int {
	for i := len(units) - 1; i >= 0; i-- {
		if units[i] == u {
			return i
		}
	}
	return -1
}

// width is a unit's length as Discord counts it.
func width(u string) int {
	n := 0
	for _, r := range u {
		n += utf16.RuneLen(r)
	}
	return n
}

// cleanText removes control characters other than newline and tab, and
// turns CR LF into LF.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// Characters that Discord's markdown gives a meaning anywhere in a line:
// emphasis, strike, code, spoilers, masked links, and <...> (mentions,
// custom emoji, timestamps). A backslash before one shows it as typed.
const inlineMarkdown = "\\*_~`|[]<"

// Characters that mean something at the start of a line only: quotes,
// headings, lists.
const lineStartMarkdown = ">#-+"

// escapeMarkdown returns s as units (a character, or a backslash with the
// character it escapes, which must never be split apart), with Discord's
// markdown escaped: inlineMarkdown everywhere, lineStartMarkdown and a
// numbered list's "1." at the start of a line. URLs are left as they are,
// so that they stay links.
func escapeMarkdown(s string) []string {
	units := make([]string, 0, len(s))
	lineStart := true
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if isURLAt(rs, i) {
			for ; i < len(rs) && rs[i] != ' ' && rs[i] != '\n' && rs[i] != '\t'; i++ {
				units = append(units, string(rs[i]))
			}
			i--
			lineStart = false
			continue
		}
		switch {
		case r == '\n':
			units = append(units, "\n")
			lineStart = true
			continue
		case lineStart && (r == ' ' || r == '\t'):
			units = append(units, string(r))
			continue
		case strings.ContainsRune(inlineMarkdown, r), lineStart && strings.ContainsRune(lineStartMarkdown, r):
			units = append(units, "\\"+string(r))
		case lineStart && r >= '0' && r <= '9':
			// "1. item" is a list: escape its dot.
			j := i
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				units = append(units, string(rs[j]))
				j++
			}
			if j < len(rs) && rs[j] == '.' {
				units = append(units, "\\.")
				j++
			}
			i = j - 1
		default:
			units = append(units, string(r))
		}
		lineStart = false
	}
	return units
}

// isURLAt reports whether an http(s) URL starts at rs[i], at a word's
// start.
func isURLAt(rs []rune, i int) bool {
	if i > 0 && rs[i-1] != ' ' && rs[i-1] != '\n' && rs[i-1] != '\t' {
		return false
	}
	rest := string(rs[i:min(len(rs), i+8)])
	return strings.HasPrefix(rest, "https://") || strings.HasPrefix(rest, "http://")
}

// gameLines turns a Discord message's text into the lines relayed to the
// game: one per line of the message (blank ones left out, at most
// maxRelayLines), control characters removed and game markup escaped, so
// that a Discord user cannot forge colours (`|r` shows as typed).
func gameLines(s string) []string {
	var out []string
	for line := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		// Escape removes escape sequences whole; cleanText what is left
		// of other control characters.
		line = strings.TrimSpace(strings.ReplaceAll(cleanText(markup.Escape(line)), "\t", " "))
		if line == "" {
			continue
		}
		if len(out) == maxRelayLines {
			out[len(out)-1] += " [...]"
			break
		}
		out = append(out, line)
	}
	return out
}
