package main

import (
	"slices"
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/markup"
)

// Send renders the host's output for the client: text and prompts in band
// (colour by the session's flags, MXP links when agreed, GA or EOR as
// negotiated), every other outputfunc out of band as GMCP and/or MSDP. One
// Send is one output batch: one write, one compression flush.
func (c *conn) Send(s *sdk.Session, msgs []sdk.Message) {
	// Read in place under the session's lock, not copied: a copy of the
	// flags map on every output was a kilobyte of garbage per session per
	// line, a broadcast's worth at once.
	var flags outFlags
	s.View(func(d *sdk.SessionData) { flags = outFlagsOf(&d.ProtocolFlags) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	gmcp := c.neg.is(codec.OptGMCP, sideUs)
	msdp := c.neg.is(codec.OptMSDP, sideUs)
	for _, m := range msgs {
		switch m.Name {
		case "text", "prompt":
			c.appendText(m, flags)
		default:
			if gmcp || msdp {
				c.obuf = appendOOB(c.obuf, m, gmcp, msdp)
			}
			// A client with neither has no way to receive it.
		}
	}
	c.flushLocked()
}

// outFlags are the protocol flags output rendering reads, taken from the
// session's map once per batch.
type outFlags struct {
	mode markup.Mode
	// raw is RAW: markup is sent as written.
	raw bool
	// mxp is MXP as the session has it (the option must be agreed too).
	mxp bool
	// noGA and noPromptGA are NOGOAHEAD and NOPROMPTGOAHEAD, with their
	// defaults (NOPROMPTGOAHEAD unset follows NOGOAHEAD).
	noGA, noPromptGA bool
}

func outFlagsOf(flags *contract.Flags) outFlags {
	noGA := flagTrue(flags, flagNoGoAhead, true)
	return outFlags{
		mode:       markup.ModeOf(flags),
		raw:        flagTrue(flags, "RAW", false),
		mxp:        flagTrue(flags, flagMXP, false),
		noGA:       noGA,
		noPromptGA: flagTrue(flags, flagNoPromptGoAhead, noGA),
	}
}

// appendText renders one text or prompt message into the output.
//
// Text: markup rendered for the client (unless raw), a line end added if
// missing, IAC doubled, LF sent as CR LF; IAC GA after it only for a client
// that refused to suppress go-ahead (NOGOAHEAD false), as Evennia does.
// Prompt: no line end added; then IAC EOR if the client agreed to EOR,
// else IAC GA unless NOPROMPTGOAHEAD (or, when unset, NOGOAHEAD) says not
// to. Clients use EOR or GA to tell a prompt from a line still arriving.
func (c *conn) appendText(m sdk.Message, flags outFlags) {
	text, _ := m.FirstString()
	opts := m.Options()
	c.echo(opts)
	prompt := m.Name == "prompt"
	// Whether a line end is missing is judged on the text as written:
	// rendering may add a colour reset after its "\n".
	needEnd := !prompt && !strings.HasSuffix(text, "\n")
	raw, _ := opts["raw"].(bool)
	if !raw && !flags.raw {
		mode := flags.mode
		if noColor, _ := opts["nocolor"].(bool); noColor {
			mode = markup.Plain
		}
		if c.neg.is(codec.OptMXP, sideUs) && flags.mxp {
			text = renderMXP(text, mode)
		} else {
			text = markup.Render(text, mode)
		}
	}
	if needEnd && strings.HasSuffix(text, "\r") {
		// The added LF makes one CR LF with this CR: escaped apart, the CR
		// would go out as CR NUL.
		text += "\n"
		needEnd = false
	}
	// Room for the line at once, not a doubling every few bytes (with
	// some for escaping): a broadcast renders this for every session
	// together, and the line end is appended, not concatenated first.
	c.obuf = slices.Grow(c.obuf, len(text)+len(text)/16+4)
	c.obuf = codec.EscapeText(c.obuf, text)
	if needEnd {
		c.obuf = append(c.obuf, '\r', '\n')
	}
	switch {
	case !prompt:
		if !flags.noGA {
			c.obuf = append(c.obuf, codec.IAC, codec.GA)
		}
	case c.neg.is(codec.OptEOR, sideUs):
		c.obuf = append(c.obuf, codec.IAC, codec.EOR)
	case !flags.noPromptGA:
		c.obuf = append(c.obuf, codec.IAC, codec.GA)
	}
}

// echo turns the echo output option into telnet: echo=false makes the
// server take over echoing (IAC WILL ECHO) and echo nothing, which hides a
// password; echo=true gives echoing back to the client (IAC WONT ECHO).
// The request goes through the Q method, so a client that negotiates is
// never sent a second request before answering the first; one that has
// never negotiated anything gets each change at once (qSide.force).
func (c *conn) echo(opts map[string]any) {
	on, ok := opts["echo"].(bool)
	if !ok {
		return
	}
	c.neg.request(codec.OptEcho, sideUs, !on)
}
