package main

import (
	"fmt"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/markup"
)

// `ssh host command` runs one command and ends with its output, like a
// shell's `sh -c`. The game has no notion of a command being finished, so
// the plugin sends a barrier after it: a get_value request, which the host
// answers in order after everything the command printed, because it runs a
// session's input in order on one loop and its output keeps that order.
// The same barrier first tells whether the credentials logged the session
// in: the host holds input while it checks them.

// barrierValue is the get_value name used as a barrier.
const barrierValue = "servername"

// barrier is the message sent as a barrier.
func barrier() sdk.Message {
	return sdk.Message{Name: "get_value", Kwargs: map[string]any{"name": barrierValue}}
}

// Exit statuses of an exec session.
const (
	exitOK     = 0
	exitFailed = 1
)

// execPhase is where an exec session is.
type execPhase uint8

const (
	// phaseLogin: waiting for the first barrier, behind the login.
	phaseLogin execPhase = iota
	// phaseOutput: the command was sent; collecting its output until the
	// second barrier.
	phaseOutput
	// phaseDone: the outcome is decided; the session is being closed.
	phaseDone
)

// execState is an exec session's progress.
type execState struct {
	// commands are the command's lines, ready to send.
	commands []sdk.Message
	phase    execPhase
	// buf collects output until the end: the output of a failed login
	// (the login screen), or of the command.
	buf   []byte
	timer *time.Timer
}

// startExec turns the command into input lines, or refuses it with the
// message to show.
func startExec(command string, maxLine int) (*execState, string) {
	st := &execState{}
	var refusal string
	var split lines.Splitter
	split.Max = lineBytes(maxLine)
	split.Feed([]byte(command+"\n"), func(line []byte, tooLong bool) {
		if refusal != "" {
			return
		}
		if tooLong {
			refusal = sdk.MsgTooLong
			return
		}
		text, why := sdk.TextInput(line, maxLine)
		if why != "" {
			refusal = why
			return
		}
		if text != "" {
			st.commands = append(st.commands, sdk.Text(text))
		}
	})
	return st, refusal
}

// lineBytes bounds a line's bytes for a limit in characters, which may
// take up to four bytes each.
func lineBytes(maxChars int) int {
	if maxChars <= 0 {
		return unlimitedRunes * 4
	}
	return maxChars*4 + 4
}

// sendExecLocked collects output and moves the exec session on at each
// barrier.
func (c *conn) sendExecLocked(msgs []sdk.Message, mode markup.Mode, raw bool) (after func()) {
	st := c.exec
	for _, m := range msgs {
		switch m.Name {
		case "text":
			st.buf = appendText(st.buf, m, mode, raw, c.pty)
		case "prompt":
			if text, ok := m.FirstString(); ok {
				st.buf = append(st.buf, render(text, m.Options(), mode, raw)...)
			}
		case "get_value":
			if !isBarrier(m) {
				continue
			}
			switch st.phase {
			case phaseLogin:
				if !c.loggedIn {
					// Wrong or no credentials: show what the host said
					// (the message and the login screen) and fail.
					st.phase = phaseDone
					c.ch.exit.Store(exitFailed)
					after = c.disconnect
					continue
				}
				// Logged in: what the login printed is not the command's
				// output.
				st.buf = st.buf[:0]
				st.phase = phaseOutput
				msgs := append(append([]sdk.Message{}, st.commands...), barrier())
				sess := c.sess
				after = func() { sess.DataIn(msgs...) }
			case phaseOutput:
				st.phase = phaseDone
				c.ch.exit.Store(exitOK)
				after = c.disconnect
			}
		}
	}
	return after
}

// finishLocked returns the exec session's final output when it is closed,
// and sets its exit status if the outcome was not decided yet: closed by
// the host during the command (`quit`) is a success, before the login
// a failure.
func (st *execState) finishLocked(c *conn, reason string) []byte {
	if st.timer != nil {
		st.timer.Stop()
	}
	switch st.phase {
	case phaseLogin:
		c.ch.exit.Store(exitFailed)
	case phaseOutput:
		c.ch.exit.Store(exitOK)
	}
	st.phase = phaseDone
	out := st.buf
	st.buf = nil
	if reason != "" {
		line := reason + "\n"
		if c.pty {
			out = appendCRLF(out, line)
		} else {
			out = append(out, line...)
		}
	}
	return out
}

// execTimedOut ends an exec session whose outcome did not come in time.
func (c *conn) execTimedOut() {
	c.mu.Lock()
	st := c.exec
	if c.closed || st.phase == phaseDone {
		c.mu.Unlock()
		return
	}
	st.phase = phaseDone
	c.ch.exit.Store(exitFailed)
	msg := fmt.Sprintf("The server did not finish the command within %s.\n", time.Duration(c.p.conf().ExecTimeout))
	if c.pty {
		st.buf = appendCRLF(st.buf, msg)
	} else {
		st.buf = append(st.buf, msg...)
	}
	c.mu.Unlock()
	c.disconnect()
}

// inputEnded is called when the client's input ends (a pipe ran dry, or
// `ssh -T host </dev/null`): the session ends once all the output of the
// input so far has arrived.
func (c *conn) inputEnded() {
	c.mu.Lock()
	if c.closed || c.eof {
		c.mu.Unlock()
		return
	}
	c.eof = true
	// A host that never answers (gone for good) must not keep the session
	// open: the same bound as a command's.
	c.eofTimer = time.AfterFunc(time.Duration(c.p.conf().ExecTimeout), c.disconnect)
	c.mu.Unlock()
	c.sess.DataIn(barrier())
}
