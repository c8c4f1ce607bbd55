package main

import (
	"strings"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk/contract"
)

// flagTerm is the terminal type's protocol flag, as the telnet plugin
// names it.
const flagTerm = contract.FlagTerm

const (
	// maxScreen bounds the window size reported to the game: a client
	// claiming a window four billion columns wide must not make the game
	// pad lines to that width.
	maxScreen = 1000
	// maxTermLen bounds the terminal type kept from a pty request.
	maxTermLen = 64
)

// ptyFlags returns the protocol flags of a session with a terminal: its
// type and size, and colour as the terminal type and the client's
// environment (when the client sends COLORTERM or NO_COLOR) suggest.
// Unlike Evennia's SSH, which claims every colour for every client,
// colour follows the terminal, so that TERM=dumb or a linux console gets
// no escapes it cannot show.
func ptyFlags(pty gliderssh.Pty, env []string, clientVersion string) map[string]any {
	term := pty.Term
	if len(term) > maxTermLen {
		term = term[:maxTermLen]
	}
	term = strings.ToLower(strings.TrimSpace(strings.ToValidUTF8(term, "")))
	f := map[string]any{
		flagTerm:          term,
		contract.FlagUTF8: true,
	}
	if name := clientName(clientVersion); name != "" {
		f[contract.FlagClientName] = name
	}
	if w, h := screenSize(pty.Window); w > 0 && h > 0 {
		f[contract.FlagScreenWidth] = w
		f[contract.FlagScreenHeight] = h
	}
	ansi := term != "dumb"
	xterm256 := ansi && (strings.HasSuffix(term, "-256color") || strings.HasPrefix(term, "xterm") ||
		strings.Contains(term, "direct") || term == "alacritty" || term == "xterm-kitty")
	colorterm := strings.ToLower(envValue(env, "COLORTERM"))
	truecolor := ansi && (colorterm == "truecolor" || colorterm == "24bit" || strings.Contains(term, "direct"))
	f[contract.FlagANSI] = ansi
	f[contract.FlagXterm256] = xterm256 || truecolor
	f[contract.FlagTrueColor] = truecolor
	if envValue(env, "NO_COLOR") != "" {
		// https://no-color.org: the user asked for no colour at all.
		f[contract.FlagNoColor] = true
	}
	return f
}

// plainFlags returns the protocol flags of a session without a terminal
// (`ssh host command`, or a pipe): no colour codes, since the output goes
// to a file or a program.
func plainFlags(clientVersion string) map[string]any {
	f := map[string]any{
		contract.FlagANSI:      false,
		contract.FlagXterm256:  false,
		contract.FlagTrueColor: false,
		contract.FlagUTF8:      true,
	}
	if name := clientName(clientVersion); name != "" {
		f[contract.FlagClientName] = name
	}
	return f
}

// sizeFlags returns the flags for a new window size, or nil for a size
// that says nothing.
func sizeFlags(win gliderssh.Window) map[string]any {
	w, h := screenSize(win)
	if w <= 0 || h <= 0 {
		return nil
	}
	return map[string]any{contract.FlagScreenWidth: w, contract.FlagScreenHeight: h}
}

// screenSize clamps a window's size to what a game can use; 0 means the
// client did not say.
func screenSize(win gliderssh.Window) (w, h int) {
	return clampScreen(win.Width), clampScreen(win.Height)
}

func clampScreen(n int) int {
	switch {
	case n <= 0:
		return 0
	case n > maxScreen:
		return maxScreen
	}
	return n
}

// clientName turns an SSH version string ("SSH-2.0-OpenSSH_9.2p1 Debian")
// into a client name for CLIENTNAME ("OpenSSH_9.2p1 Debian").
func clientName(version string) string {
	name := strings.TrimPrefix(version, "SSH-2.0-")
	if len(name) > maxTermLen {
		name = name[:maxTermLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
}

// envValue returns the value of name in a list of "KEY=value" strings.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
