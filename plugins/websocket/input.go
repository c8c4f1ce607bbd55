package main

import (
	"errors"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// handleInput decodes one message from s and passes it to the host: the
// command rate is checked first, then the wire format, then the text
// limits. Refused input gets a message to this client and a log line,
// never more.
func (c *client) handleInput(s *socket, typ websocket.MessageType, data []byte) {
	if !c.current(s) {
		// A connection that was replaced may still be sending for a
		// moment; its input is no longer the session's.
		return
	}
	if ok, warn := c.limiter.allow(time.Now()); !ok {
		if warn {
			c.notice(MsgTooFast)
			c.p.log.Info("websocket: command rate exceeded", "sessid", c.sess.ID(), "addr", s.addr)
		}
		return
	}
	in, err := s.format.Decode(typ, data)
	if err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			c.notice(ie.client)
		}
		// The first bad message of a connection is worth a line in the
		// log; a stream of them is not.
		level := c.p.log.Debug
		if s.badInputs == 0 {
			level = c.p.log.Info
		}
		s.badInputs++
		level("websocket: input refused", "sessid", c.sess.ID(), "addr", s.addr, "format", s.format.Name(), "err", err)
		return
	}
	if in.close {
		c.endByClient(s)
		return
	}
	if msgs := c.checkText(in.msgs); len(msgs) > 0 {
		c.sess.DataIn(msgs...)
	}
}

// current reports whether s is the client's attached socket.
func (c *client) current(s *socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sock == s && !c.ended
}

// checkText applies the line rules to text input, as the telnet plugin
// does: one command per line, the host's max_input_length, valid UTF-8,
// no control characters. Other inputfuncs pass as they are; the message
// size limit bounds them.
func (c *client) checkText(msgs []sdk.Message) []sdk.Message {
	out := msgs[:0:0]
	for _, m := range msgs {
		text, ok := "", false
		if strings.EqualFold(strings.TrimSpace(m.Name), "text") && len(m.Args) > 0 {
			text, ok = m.Args[0].(string)
		}
		if !ok {
			out = append(out, m)
			continue
		}
		for _, line := range splitLines(text) {
			clean, refusal := sdk.TextInput([]byte(line), c.p.settings().host.MaxInputLength)
			if refusal != "" {
				c.notice(refusal)
				continue
			}
			args := append([]any{clean}, m.Args[1:]...)
			out = append(out, sdk.Message{Name: m.Name, Args: args, Kwargs: m.Kwargs})
		}
	}
	return out
}
