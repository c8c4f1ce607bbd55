package main

import (
	"context"
	"net"
	"strings"
	"sync"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/lines"
	"github.com/portico-mud/portico/sdk/markup"
)

// readBufferSize is the per-connection read buffer: small, since lines are.
const readBufferSize = 2048

// maxUnlimitedLine bounds a line's buffer even when no line limit is set,
// so that a client can never grow a session's memory without end.
const maxUnlimitedLine = 1 << 20

// conn is one telnet client.
type conn struct {
	p    *Plugin
	nc   net.Conn
	w    *connio.Writer
	sess *sdk.Session

	// Reader-goroutine state.
	parser codec.Parser
	split  lines.Splitter

	mu sync.Mutex
	// echoOff is set while the server echoes nothing (password entry).
	echoOff bool
	// answered records options already refused, so that a client that
	// keeps asking gets no answer loop.
	answered map[[2]byte]bool
}

var (
	_ sdk.Conn = (*conn)(nil)
)

func newConn(p *Plugin, nc net.Conn) *conn {
	c := &conn{p: p, nc: nc, answered: map[[2]byte]bool{}}
	// Bytes, not characters: a line of MaxLineLength characters may take
	// up to four bytes each; the character count is checked per line.
	c.split.Max = maxUnlimitedLine
	if p.cfg.MaxLineLength > 0 {
		c.split.Max = p.cfg.MaxLineLength*4 + 4
	}
	c.w = connio.NewWriter(nc, connio.Options{OnError: func(err error) {
		p.log.Debug("telnet: write", "addr", nc.RemoteAddr().String(), "err", err)
	}})
	return c
}

// serve runs the connection's reader until the client goes away.
func (c *conn) serve(ctx context.Context) {
	defer c.nc.Close()
	sess, err := c.p.portal.NewSession(ctx, c, ProtocolKey, c.nc.RemoteAddr().String())
	if err != nil {
		c.p.log.Warn("telnet: no session for connection", "err", err)
		c.w.Close([]byte("The server is not ready; please try again in a moment.\r\n"))
		<-c.w.Done()
		return
	}
	c.sess = sess
	sess.Connect()
	buf := make([]byte, readBufferSize)
	reason := "connection closed"
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.parser.Feed(buf[:n], c.handleEvent)
		}
		if err != nil {
			break
		}
	}
	sess.Disconnected(reason)
}

func (c *conn) handleEvent(ev codec.Event) {
	switch ev.Kind {
	case codec.EventData:
		c.split.Feed(ev.Data, c.handleLine)
	case codec.EventNegotiation:
		c.negotiate(ev.Command, ev.Option)
	default:
		// Commands (NOP, AYT ...) and subnegotiations of options this basic
		// plugin does not negotiate are read and ignored, never shown.
	}
}

func (c *conn) handleLine(line []byte, tooLong bool) {
	if tooLong {
		c.sendText(sdk.MsgTooLong)
		return
	}
	text, refusal := sdk.TextInput(line, c.p.cfg.MaxLineLength)
	if refusal != "" {
		c.sendText(refusal)
		return
	}
	c.sess.DataIn(sdk.Text(text))
}

// negotiate answers option negotiation: ECHO is ours to offer (password
// entry); everything else is refused, once per option and verb, so that no
// loop can start.
func (c *conn) negotiate(verb, opt byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if opt == codec.OptEcho && (verb == codec.DO || verb == codec.DONT) {
		return // the answer to our WILL/WONT ECHO
	}
	var answer byte
	switch verb {
	case codec.DO:
		answer = codec.WONT
	case codec.WILL:
		answer = codec.DONT
	default:
		return // WONT/DONT need no answer when we never agreed
	}
	key := [2]byte{verb, opt}
	if c.answered[key] {
		return
	}
	c.answered[key] = true
	_ = c.w.Write(codec.Negotiation(answer, opt))
}

// sendText writes one line of plain text from the plugin itself.
func (c *conn) sendText(text string) {
	_ = c.w.Write(codec.EscapeText(nil, text+"\n"))
}

// Send renders the host's output for the client.
func (c *conn) Send(s *sdk.Session, msgs []sdk.Message) {
	var out []byte
	data := s.GetSyncData()
	mode := markup.ModeFor(data.ProtocolFlags)
	for _, m := range msgs {
		switch m.Name {
		case "text", "prompt":
			text, _ := m.FirstString()
			opts := m.Options()
			out = c.echoOption(out, opts)
			// Whether a line end is missing is judged on the text as
			// written: rendering may add a colour reset after its "\n".
			needEnd := m.Name == "text" && !strings.HasSuffix(text, "\n")
			if raw, _ := opts["raw"].(bool); !raw && !data.FlagBool("RAW") {
				text = markup.Render(text, mode)
			}
			if needEnd {
				text += "\n"
			}
			out = codec.EscapeText(out, text)
		default:
			// Out-of-band messages need GMCP or MSDP, which this client has
			// not negotiated.
		}
	}
	if len(out) > 0 {
		_ = c.w.Write(out)
	}
}

// echoOption turns the echo option into telnet: echo=false makes the
// server take over echoing (and echo nothing), hiding a password;
// echo=true gives echoing back to the client.
func (c *conn) echoOption(out []byte, opts map[string]any) []byte {
	echo, ok := opts["echo"].(bool)
	if !ok {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !echo && !c.echoOff {
		c.echoOff = true
		return append(out, codec.Negotiation(codec.WILL, codec.OptEcho)...)
	}
	if echo && c.echoOff {
		c.echoOff = false
		return append(out, codec.Negotiation(codec.WONT, codec.OptEcho)...)
	}
	return out
}

// Close shows reason and closes the connection once output is written.
func (c *conn) Close(reason string) {
	var final []byte
	if reason != "" {
		final = codec.EscapeText(nil, reason+"\n")
	}
	c.w.Close(final)
}
