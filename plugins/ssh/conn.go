package main

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

// connMode is how a session talks to its client.
type connMode uint8

const (
	// modeTerminal: an interactive shell with a pty. The server edits the
	// line (lineedit.go) and draws output around it.
	modeTerminal connMode = iota + 1
	// modeLines: a shell without a pty (`ssh -T host`, or input from a
	// pipe). Lines in, plain text out; at the end of input the output is
	// awaited and the session closed, so `printf 'who\n' | ssh host`
	// works as a script.
	modeLines
	// modeExec: `ssh host command`. The command runs once logged in, its
	// output is printed and the session ends (exec.go).
	modeExec
)

// Terminal sequences for bracketed paste: with it on, a terminal marks
// pasted text, so that the editor takes a paste as text and not as keys.
const (
	seqPasteOn  = "\x1b[?2004h"
	seqPasteOff = "\x1b[?2004l"
)

// msgGoodbye is shown when the user leaves with Ctrl-D or Ctrl-\.
const msgGoodbye = "Goodbye."

// windowSyncDelay coalesces window changes into one sync to the host, so
// that a client resizing continuously (or a hostile one sending endless
// window-change requests) cannot flood the link.
const windowSyncDelay = 20 * time.Millisecond

// conn is one SSH session (a shell or a command on a connection) behind
// one portal session.
//
// Goroutines: the session handler reads input; the portal's calls Send,
// Close and LoggedIn; the window watcher follows resizes; timers (window
// sync, exec timeout) fire. Everything that produces output does so under
// mu, so output bytes come out in one order. Lock order: mu before the
// session's lock (sdk.Session methods that do not call back into the conn
// may be called under mu); DataIn and Portal.Disconnect, which may call
// Send or Close, are called without mu.
type conn struct {
	p   *Plugin
	s   gliderssh.Session
	ch  *chanConn
	out *connio.Writer
	// killTimer closes the connection when the client does not answer the
	// channel's close (armed by ch's onClose).
	killTimer *time.Timer
	mode      connMode
	// pty is set when the client has a terminal: line ends are CR LF.
	pty     bool
	maxLine int

	mu sync.Mutex
	// sess is set once, under mu, before the session is announced.
	sess     *sdk.Session
	closed   bool
	loggedIn bool
	ed       *editor // modeTerminal
	// win is the latest window size; syncTimer is set while a sync of it
	// to the host is scheduled.
	win       gliderssh.Window
	syncTimer *time.Timer
	// eof is set when the client's input ended: the next get_value
	// answer ends the session.
	eof      bool
	eofTimer *time.Timer
	exec     *execState // modeExec
}

var (
	_ sdk.Conn          = (*conn)(nil)
	_ sdk.LoginNotifier = (*conn)(nil)
)

// LoggedIn records that the host logged the session in (SLOGIN).
func (c *conn) LoggedIn(*sdk.Session) {
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
}

// Send renders the host's output for the client. Only text and prompts
// are shown; OOB messages have no way to an SSH client and are dropped,
// as in Evennia, except the get_value answers this plugin asked for.
func (c *conn) Send(s *sdk.Session, msgs []sdk.Message) {
	var mode markup.Mode
	var raw bool
	s.View(func(d *sdk.SessionData) {
		mode = markup.ModeOf(&d.ProtocolFlags)
		raw = d.FlagBool(contract.FlagRaw)
	})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	var after func()
	switch c.mode {
	case modeTerminal:
		after = c.sendTerminalLocked(msgs, mode, raw)
	case modeLines:
		after = c.sendLinesLocked(msgs, mode, raw)
	case modeExec:
		after = c.sendExecLocked(msgs, mode, raw)
	}
	c.mu.Unlock()
	if after != nil {
		after()
	}
}

// sendTerminalLocked writes output around the input line: the line is
// hidden, the output written, and the line drawn again below it. A prompt
// becomes the line's prompt, so that it stays below later output until
// Enter. The echo option hides or shows what is typed (a password).
func (c *conn) sendTerminalLocked(msgs []sdk.Message, mode markup.Mode, raw bool) (after func()) {
	out := c.ed.hide(nil)
	for _, m := range msgs {
		opts := m.Options()
		if on, ok := opts["echo"].(bool); ok {
			c.ed.setEcho(on)
		}
		switch m.Name {
		case "text":
			out = appendText(out, m, mode, raw, true)
		case "prompt":
			text, ok := m.FirstString()
			if !ok {
				continue
			}
			rendered := render(text, opts, mode, raw)
			// The prompt's last line stays with the input; what comes
			// before it is output like any other.
			if i := strings.LastIndexByte(rendered, '\n'); i >= 0 {
				out = appendCRLF(out, rendered[:i+1])
				rendered = rendered[i+1:]
			}
			plain := markup.Render(text, markup.Plain)
			if i := strings.LastIndexByte(plain, '\n'); i >= 0 {
				plain = plain[i+1:]
			}
			c.ed.setPrompt(rendered, utf8.RuneCountInString(plain))
		case "get_value":
			if c.eof && isBarrier(m) {
				after = c.disconnect
			}
		}
	}
	out = c.ed.show(out)
	c.writeLocked(out)
	return after
}

// sendLinesLocked writes output for a client without a terminal.
func (c *conn) sendLinesLocked(msgs []sdk.Message, mode markup.Mode, raw bool) (after func()) {
	var out []byte
	for _, m := range msgs {
		switch m.Name {
		case "text":
			out = appendText(out, m, mode, raw, false)
		case "prompt":
			if text, ok := m.FirstString(); ok {
				out = append(out, render(text, m.Options(), mode, raw)...)
			}
		case "get_value":
			if c.eof && isBarrier(m) {
				after = c.disconnect
			}
		}
	}
	c.writeLocked(out)
	return after
}

// appendText renders one text message, with a line end added if it has
// none. An empty text carries only options (Evennia drops empty text
// before it reaches a protocol): it shows nothing.
func appendText(dst []byte, m sdk.Message, mode markup.Mode, raw, crlf bool) []byte {
	text, ok := m.FirstString()
	if !ok || text == "" {
		return dst
	}
	// Whether a line end is missing is judged on the text as written:
	// rendering may add a colour reset after its "\n".
	needEnd := !strings.HasSuffix(text, "\n")
	text = render(text, m.Options(), mode, raw)
	if needEnd {
		text += "\n"
	}
	if crlf {
		return appendCRLF(dst, text)
	}
	return append(dst, text...)
}

// render renders markup for the session's colour mode, unless the message
// or the session asks for raw text; the nocolor option forces plain.
func render(text string, opts map[string]any, mode markup.Mode, raw bool) string {
	if r, _ := opts["raw"].(bool); r || raw {
		return text
	}
	if nc, _ := opts["nocolor"].(bool); nc {
		mode = markup.Plain
	}
	return markup.Render(text, mode)
}

// appendCRLF appends s with every LF not already after a CR sent as CR LF,
// as a terminal in raw mode needs.
func appendCRLF(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			dst = append(dst, '\r')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// writeLocked queues output. connio owns the slice from here on.
func (c *conn) writeLocked(b []byte) {
	if len(b) > 0 {
		_ = c.out.Write(b)
	}
}

// notice shows one line from the plugin itself (a refused line).
func (c *conn) notice(text string) {
	if c.sess == nil {
		return
	}
	c.Send(c.sess, []sdk.Message{sdk.Text(text)})
}

// Close shows reason and closes the session's channel once the output is
// written.
func (c *conn) Close(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, t := range []*time.Timer{c.syncTimer, c.eofTimer} {
		if t != nil {
			t.Stop()
		}
	}
	var final []byte
	switch c.mode {
	case modeTerminal:
		final = c.ed.hide(nil)
		if reason != "" {
			final = appendCRLF(final, reason+"\n")
		}
		final = append(final, seqPasteOff...)
	case modeLines:
		if reason != "" {
			final = append(final, reason+"\n"...)
		}
	case modeExec:
		if c.exec != nil {
			final = c.exec.finishLocked(c, reason)
		}
	}
	c.mu.Unlock()
	c.out.Close(final)
}

// disconnect ends the session from the plugin's side: the host is told
// (PDISCONN) and Close writes what is left.
func (c *conn) disconnect() {
	c.p.portal.Disconnect(c.sess, "")
}

// isBarrier reports whether m answers the get_value request this plugin
// sends to learn that all earlier output has arrived.
func isBarrier(m sdk.Message) bool {
	name, _ := m.Kwargs["name"].(string)
	return name == barrierValue
}
