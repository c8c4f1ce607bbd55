package main

import (
	"bytes"
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk/contract"
)

// CHARSET (RFC 2066). The server sends WILL CHARSET; once the client says
// DO, the server asks for UTF-8 with REQUEST, and the client answers
// ACCEPTED or REJECTED. A client may also ask (it sent WILL, we said DO):
// its REQUEST is accepted if it lists UTF-8, which is all this server
// speaks, and rejected otherwise.

// CHARSET subnegotiation commands.
const (
	charsetRequest        = 1
	charsetAccepted       = 2
	charsetRejected       = 3
	charsetTTableIs       = 4
	charsetTTableRejected = 5
)

// charsetUTF8 is the one character set this server speaks.
const charsetUTF8 = "UTF-8"

// charsetState is the progress of one connection's CHARSET negotiation.
type charsetState struct {
	// asked is set while our REQUEST is unanswered.
	asked bool
}

func (c *charsetState) pending() bool { return c.asked }

// request sends IAC SB CHARSET REQUEST ";UTF-8" IAC SE.
func (c *charsetState) request(n *negotiation) {
	if c.asked {
		return
	}
	c.asked = true
	n.out.send(codec.Subnegotiation(codec.OptCharset, append([]byte{charsetRequest}, ";"+charsetUTF8...)))
}

// subneg handles the client's CHARSET subnegotiations.
func (c *charsetState) subneg(n *negotiation, payload []byte) {
	if len(payload) == 0 {
		return
	}
	switch payload[0] {
	case charsetAccepted:
		if !c.asked {
			return
		}
		c.asked = false
		if isUTF8Name(string(payload[1:])) {
			n.setFlags(utf8Flags())
		}
	case charsetRejected:
		// The client keeps its own character set; output stays UTF-8,
		// the only one this server has, and the flags stay as they are.
		c.asked = false
	case charsetRequest:
		c.answerRequest(n, payload[1:])
	case charsetTTableIs:
		// This server never offers translation tables ([TTABLE] in a
		// REQUEST), so it declines any it is sent.
		n.out.send(codec.Subnegotiation(codec.OptCharset, []byte{charsetTTableRejected}))
	}
}

// answerRequest answers a client's REQUEST. RFC 2066: a REQUEST is only
// valid from the side that sent WILL and got DO; and when both sides sent
// one at once, the server's wins, so the client's is ignored while ours is
// unanswered.
func (c *charsetState) answerRequest(n *negotiation, list []byte) {
	if c.asked || !n.is(codec.OptCharset, sideHim) {
		return
	}
	// An optional "[TTABLE]" and a version octet come first.
	if rest, ok := bytes.CutPrefix(list, []byte("[TTABLE]")); ok {
		if len(rest) == 0 {
			return
		}
		list = rest[1:]
	}
	if len(list) < 2 {
		n.out.send(codec.Subnegotiation(codec.OptCharset, []byte{charsetRejected}))
		return
	}
	sep := list[0]
	for _, name := range bytes.Split(list[1:], []byte{sep}) {
		if isUTF8Name(string(name)) {
			// The ACCEPTED names the set as the client spelled it.
			n.out.send(codec.Subnegotiation(codec.OptCharset, append([]byte{charsetAccepted}, name...)))
			n.setFlags(utf8Flags())
			return
		}
	}
	n.out.send(codec.Subnegotiation(codec.OptCharset, []byte{charsetRejected}))
}

func isUTF8Name(s string) bool {
	s = strings.TrimSpace(s)
	return strings.EqualFold(s, "UTF-8") || strings.EqualFold(s, "UTF8")
}

func utf8Flags() map[string]any {
	return map[string]any{contract.FlagEncoding: "utf-8", contract.FlagUTF8: true}
}
