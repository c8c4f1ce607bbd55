package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/lines"
)

// readBufferSize is the size of the read buffers connections borrow while
// bytes come: small, since lines are.
const readBufferSize = 2048

// maxUnlimitedLine bounds a line's buffer even when no line limit is set,
// so that a client can never grow a session's memory without end.
const maxUnlimitedLine = 1 << 20

// conn is one telnet client.
//
// Three goroutines touch a conn: its reader (the plugin's poller for a
// plain connection, a goroutine of its own for TLS), the portal's (Send,
// Close) and timers (its negotiation deadline, the plugin's keepalive). Everything that
// decides or produces output is done under mu, so that output bytes, and
// with MCCP the compressed stream, come out in one order. Lock order: mu
// before the session's own lock (sdk.Session methods are called under mu);
// the SDK never calls into a Conn while holding a session lock. Session
// methods that may call Send back (DataIn) are called without mu.
type conn struct {
	p *Plugin
	// nc is the client's connection, read by connio: by the plugin's
	// poller itself when it is a plain socket; under TLS, in a goroutine
	// while the client sends and parked in the poller while it is quiet.
	nc          *connio.Conn
	w           *connio.Writer
	sess        *sdk.Session
	protocolKey string

	// Reader-goroutine state.
	parser codec.Parser
	split  lines.Splitter
	// sawLine is set after the first line; refused is set once the
	// connection is being closed as an HTTP request, after which nothing
	// it sent reaches the game.
	sawLine, refused bool
	// refusals bounds how often bad input is answered.
	refusals sdk.RefusalLimiter

	mu  sync.Mutex
	neg *negotiation
	// obuf collects output until the end of the current batch, when it is
	// written (compressed, once MCCP2 is on) as one piece.
	obuf []byte
	// z is the MCCP2 stream while compression is on.
	z *deflater
	// synced is set once the negotiated flags were sent to the host; from
	// then on every change is synced as it happens.
	synced bool
	closed bool
	// live is set once the connection is set up (its session connected,
	// negotiation started): from then on the plugin's keepalive reaches
	// it.
	live     bool
	deadline *time.Timer // ends the wait for negotiation
}

var (
	_ sdk.Conn         = (*conn)(nil)
	_ sdk.SyncNotifier = (*conn)(nil)
	_ sink             = (*conn)(nil)
)

func newConn(p *Plugin, nc net.Conn, protocolKey string) *conn {
	c := &conn{p: p, nc: p.poller.Conn(nc), protocolKey: protocolKey}
	c.neg = newNegotiation(p.policy(), c)
	c.split.Max = splitMax(p.maxLine())
	c.w = connio.NewWriter(c.nc, connio.Options{OnError: func(err error) {
		p.log.Debug("telnet: write", "addr", nc.RemoteAddr().String(), "err", err)
	}})
	return c
}

// serve sets the connection up (TLS handshake, session, negotiation) and
// starts reading it; done is called once the client has gone and the
// connection is closed (from the reading goroutine, or before serve
// returns when set-up failed).
func (c *conn) serve(ctx context.Context, done func()) {
	if !c.setUp(ctx) {
		c.nc.Close()
		done()
		return
	}
	c.nc.Serve(c.read, func(error) {
		c.mu.Lock()
		c.stopTimersLocked()
		c.mu.Unlock()
		c.sess.Disconnected("connection closed")
		c.nc.Close()
		done()
	}, connio.ReadOptions{BufferSize: readBufferSize, IdleAfter: c.p.idleAfter, OnIdle: c.rest})
}

// read handles what the client sent (in a buffer valid during the call).
func (c *conn) read(b []byte) { c.parser.Feed(b, c.handleEvent) }

// rest drops the reader's buffers that hold nothing (a subnegotiation's,
// a partial line's) as the connection goes idle. It runs on the reading
// goroutine, which owns them.
func (c *conn) rest() {
	c.parser.Release()
	c.split.Release()
}

// setUp runs the TLS handshake, gets the session (waiting the client's
// turn to connect) and starts negotiation; it reports whether the
// connection is to be read. When it is not, the client has been told why
// where there is a reason to tell.
func (c *conn) setUp(ctx context.Context) bool {
	if tc, ok := c.nc.NetConn().(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.p.figure("tls_handshakes_failed")
			c.p.log.Debug("telnet: TLS handshake", "addr", c.nc.RemoteAddr().String(), "err", err)
			c.w.Close(nil)
			return false
		}
		c.p.figure("tls_handshakes")
	}
	// NewSession may queue the client for its turn (the connection rate);
	// the watcher notices if it hangs up meanwhile, so that it gives its
	// place up, and keeps what it typed.
	watch := connio.Watch(ctx, c.nc, readBufferSize)
	sess, err := c.p.portal.NewSession(watch.Context(), c, c.protocolKey, c.nc.RemoteAddr().String())
	early, gone := watch.Stop()
	if errors.Is(err, sdk.ErrRefused) {
		// A connection limit: the SDK told the client and closed it.
		<-c.w.Done()
		return false
	}
	if gone != nil {
		// It left while queued (err), or just as its turn came.
		if err == nil {
			sess.Disconnected("connection closed")
		}
		c.p.log.Debug("telnet: client left while queued to connect", "addr", c.nc.RemoteAddr().String(), "err", gone)
		c.w.Close(nil)
		<-c.w.Done()
		return false
	}
	if err != nil {
		c.p.log.Warn("telnet: no session for connection", "err", err)
		c.w.Close([]byte("The server is not ready; please try again in a moment.\r\n"))
		<-c.w.Done()
		return false
	}
	c.sess = sess
	sess.Update(func(d *sdk.SessionData) {
		d.ProtocolFlags.SetAll(initialFlags())
	})
	// The offers go out first; the host hears of the session at once, so
	// that the connection screen does not wait for negotiation. The flags
	// negotiation produces follow in a sync when it ends, or after the
	// timeout for a client that answers nothing.
	c.mu.Lock()
	c.neg.start()
	c.flushLocked()
	c.deadline = time.AfterFunc(c.p.timeout(), c.negotiationTimedOut)
	c.live = true
	c.mu.Unlock()
	sess.Connect()

	if len(early) > 0 {
		c.parser.Feed(early, c.handleEvent)
	}
	return true
}

// splitMax is the splitter's bound for lines of maxLine characters:
// bytes, not characters, since a character may take up to four bytes; the
// character count is checked per line.
func splitMax(maxLine int) int {
	if maxLine > 0 {
		return maxLine*4 + 4
	}
	return maxUnlimitedLine
}

func (c *conn) handleEvent(ev codec.Event) {
	switch ev.Kind {
	case codec.EventData:
		// Read afresh: a live edit may have changed the limit.
		c.split.Max = splitMax(c.p.maxLine())
		c.split.Feed(ev.Data, c.handleLine)
	case codec.EventNegotiation:
		c.mu.Lock()
		c.neg.receive(ev.Command, ev.Option)
		c.afterNegotiationLocked()
		c.mu.Unlock()
	case codec.EventSubneg:
		if ev.Truncated {
			c.p.log.Debug("telnet: oversized subnegotiation dropped", "option", ev.Option,
				"addr", c.nc.RemoteAddr().String())
			return
		}
		c.mu.Lock()
		msgs := c.neg.subneg(ev.Option, ev.Data)
		c.afterNegotiationLocked()
		c.mu.Unlock()
		if len(msgs) > 0 {
			c.sess.DataIn(msgs...)
		}
	default:
		// Commands (NOP, AYT, GA, EOR ...) from a client carry nothing a
		// MUD acts on; they are read and never shown.
	}
}

// afterNegotiationLocked writes what negotiation produced and sends the
// negotiated flags to the host if it just finished.
func (c *conn) afterNegotiationLocked() {
	if !c.synced && c.neg.checkDone() {
		c.syncNegotiatedLocked()
	}
	c.flushLocked()
}

// negotiationTimedOut syncs whatever was negotiated when the client did
// not finish within the timeout (a raw socket, a slow client).
func (c *conn) negotiationTimedOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced && !c.closed {
		c.syncNegotiatedLocked()
		c.flushLocked()
	}
}

// syncNegotiatedLocked sends every flag negotiation set, as one sync.
// Re-asserting all of them (not just the ones that changed since Connect)
// means a flag sync from the host that crossed the negotiation cannot
// leave the host with stale values.
func (c *conn) syncNegotiatedLocked() {
	c.synced = true
	if c.deadline != nil {
		// Dropped, not kept stopped: an idle session holds no timer it
		// will not use again.
		c.deadline.Stop()
		c.deadline = nil
	}
	c.sess.SetFlags(c.neg.finish())
}

// Synced implements sdk.SyncNotifier: the host pushed the session's data,
// merging its protocol flags over ours. Before the negotiation's own sync,
// the host's copy of a negotiated flag is either the value it got at Connect
// (stale: put the negotiated value back, the coming sync carries it) or one
// it set itself since, through client_options from GMCP's Core.Hello for
// instance (deliberate: it stands, and the coming sync leaves it alone).
// Mudlet sends Core.Hello while TTYPE is still being asked, which is why
// this matters. After the negotiation's sync each change is synced as it
// happens, and the host's word is final.
func (c *conn) Synced(s *sdk.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.synced || c.closed || c.neg.flags == nil {
		return
	}
	start := initialFlags()
	data := s.GetSyncData()
	restore := map[string]any{}
	for k, v := range c.neg.flags {
		cur, ok := data.ProtocolFlags.Get(k)
		switch {
		case ok && sameFlag(cur, v):
		case !ok || sameFlag(cur, start[k]):
			restore[k] = v
		default:
			delete(c.neg.flags, k)
		}
	}
	if len(restore) > 0 {
		s.Update(func(d *sdk.SessionData) {
			d.ProtocolFlags.SetAll(restore)
		})
	}
}

// sameFlag compares two flag values as the host would see them: numbers by
// value (an int here is an int64 or float64 after a trip through JSON).
func sameFlag(a, b any) bool {
	if x, ok := flagNumber(a); ok {
		y, ok := flagNumber(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

func flagNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// flagsChanged implements sink: flags are the session's at once (output
// rendering reads them); the host hears of them in the negotiation's sync,
// or at once after it.
func (c *conn) flagsChanged(flags map[string]any) {
	if !c.synced {
		c.sess.Update(func(d *sdk.SessionData) {
			d.ProtocolFlags.SetAll(flags)
		})
		return
	}
	c.sess.SetFlags(flags)
}

// msspTable implements sink.
func (c *conn) msspTable() []msspVar { return c.p.msspTable() }

// sendKeepalive writes IAC NOP to a connection that is set up and open.
func (c *conn) sendKeepalive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.closed {
		return
	}
	c.send([]byte{codec.IAC, codec.NOP})
	c.flushLocked()
}

func (c *conn) stopTimersLocked() {
	if c.deadline != nil {
		c.deadline.Stop()
	}
}

func (c *conn) handleLine(line []byte, tooLong bool) {
	if c.refused {
		return
	}
	first := !c.sawLine
	c.sawLine = true
	if first && !tooLong && isHTTPRequest(line) {
		c.refused = true
		c.p.log.Debug("telnet: HTTP request on the telnet port", "addr", c.nc.RemoteAddr().String())
		c.Close(httpNotice(c.p.webclientURL()))
		return
	}
	if tooLong {
		c.refuse(sdk.MsgTooLong)
		return
	}
	text, refusal := sdk.TextInput(line, c.p.maxLine())
	if refusal != "" {
		c.refuse(refusal)
		return
	}
	c.sess.DataIn(sdk.Text(text))
}

// refuse tells the client its line was refused, a few times at most for a
// flood of bad lines (sdk.RefusalLimiter).
func (c *conn) refuse(why string) {
	if c.refusals.Allow(time.Now()) {
		c.sendText(why)
	}
}

// sendText writes one line of plain text from the plugin itself.
func (c *conn) sendText(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.obuf = codec.EscapeText(c.obuf, text+"\n")
	c.flushLocked()
}

// Close shows reason and closes the connection once output is written. A
// compressed stream is ended properly first, so that the client's
// decompressor sees a complete stream.
func (c *conn) Close(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.stopTimersLocked()
	if reason != "" {
		c.obuf = codec.EscapeText(c.obuf, reason+"\n")
	}
	final := c.takeOutputLocked()
	if c.z != nil {
		final = append(final, c.z.finish()...)
		c.z = nil
	}
	c.mu.Unlock()
	c.w.Close(final)
}

// figure counts one more of the plugin's own figure name, which the host
// serves as portico_plugin_figure_total{plugin="telnet",name}: what only
// the plugin knows of its clients' negotiation (TLS) beside the session
// flags the host counts itself (MCCP and the others).
func (p *Plugin) figure(name string) {
	if err := p.portal.AddFigure(name, 1); err != nil {
		p.log.Warn("telnet: figure", "name", name, "err", err)
	}
}
