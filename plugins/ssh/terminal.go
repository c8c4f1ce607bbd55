package main

import (
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
)

// This file is the input side of a session: keystrokes through the line
// editor (modeTerminal) or lines from a pipe (modeLines), and the window
// size of a terminal.

// typed feeds keystrokes to the line editor and acts on what it returns.
func (c *conn) typed(p []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	out, acts := c.ed.feed(p)
	c.writeLocked(out)
	c.mu.Unlock()
	for _, a := range acts {
		switch a.kind {
		case actLine:
			c.line([]byte(a.line), false)
		case actTooLong:
			c.notice(sdk.MsgTooLong)
		case actQuit:
			c.p.portal.Disconnect(c.sess, msgGoodbye)
			return
		}
	}
}

// line sends one line of input to the game, or tells the client why not.
func (c *conn) line(b []byte, tooLong bool) {
	if tooLong {
		c.notice(sdk.MsgTooLong)
		return
	}
	text, refusal := sdk.TextInput(b, c.maxLine)
	if refusal != "" {
		c.notice(refusal)
		return
	}
	c.sess.DataIn(sdk.Text(text))
}

// watchWindow follows the terminal's size until the channel closes. It
// must run from the moment the session starts: gliderlabs blocks its
// request loop until each size is taken from the channel.
func (c *conn) watchWindow(sizes <-chan gliderssh.Window) {
	for win := range sizes {
		c.resize(win)
	}
}

// resize takes a new window size: the line editor wraps at the new width
// at once, and the host hears of it shortly (coalesced).
func (c *conn) resize(win gliderssh.Window) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || win == c.win {
		return
	}
	c.win = win
	if w, _ := screenSize(win); w > 0 && c.ed != nil {
		c.writeLocked(c.ed.setWidth(w, nil))
	}
	if c.sess != nil && c.syncTimer == nil {
		c.syncTimer = time.AfterFunc(windowSyncDelay, c.syncWindow)
	}
}

// syncWindow sends the latest window size to the host.
func (c *conn) syncWindow() {
	c.mu.Lock()
	c.syncTimer = nil
	win, closed, sess := c.win, c.closed, c.sess
	c.mu.Unlock()
	if closed {
		return
	}
	if f := sizeFlags(win); f != nil {
		sess.SetFlags(f)
	}
}
