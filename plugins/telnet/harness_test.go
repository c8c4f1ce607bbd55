package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// waitFor bounds every wait in these tests: for an event from the portal,
// for bytes at the client, for a goroutine to end.
const waitFor = 5 * time.Second

// Telnet bytes, spelled out so that the expected wire data reads plainly.
const (
	iac  = "\xff"
	will = "\xfb"
	wont = "\xfc"
	do   = "\xfd"
	dont = "\xfe"
	sb   = "\xfa"
	se   = "\xf0"
	nop  = "\xf1"
	ga   = "\xf9"
	eor  = "\xef"
	echo = "\x01"
)

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// collector forwards what the portal puts in its outbox (what would reach
// the host) to channels, in order: session syncs (negotiated flags) to
// syncs, everything else to events, so that a test about input is not
// disturbed by a sync arriving when negotiation ends.
type collector struct {
	events chan *portalpb.Event
	syncs  chan *portalpb.Event
	cancel context.CancelFunc
	done   chan struct{}
}

func collect(portal *sdk.Portal) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{events: make(chan *portalpb.Event, 4096), syncs: make(chan *portalpb.Event, 4096),
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		_ = portal.Outbox().Run(ctx, func(f *portalpb.Frame) error {
			for _, ev := range f.GetEvents() {
				if ev.GetSync() != nil {
					c.syncs <- ev
				} else {
					c.events <- ev
				}
			}
			return nil
		})
	}()
	return c
}

// stop ends the collector; afterwards every event taken from the outbox is
// in the channel.
func (c *collector) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		t.Fatal("outbox collector did not stop")
	}
}

// drain stops the collector and returns every event not yet consumed,
// including any still in the outbox. Call it only once nothing puts events
// any more (the connection's serve has returned).
func (c *collector) drain(t *testing.T, portal *sdk.Portal) []*portalpb.Event {
	t.Helper()
	c.stop(t)
	var evs []*portalpb.Event
	for len(c.events) > 0 {
		evs = append(evs, <-c.events)
	}
	// Run may stop with events left in the outbox. Nothing adds to it any
	// more, so a second Run that stops once it is empty takes them all.
	if portal.Outbox().Len() > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_ = portal.Outbox().Run(ctx, func(f *portalpb.Frame) error {
			for _, ev := range f.GetEvents() {
				if ev.GetSync() == nil {
					evs = append(evs, ev)
				}
			}
			if portal.Outbox().Len() == 0 {
				cancel()
			}
			return nil
		})
	}
	return evs
}

func (c *collector) next(t *testing.T) *portalpb.Event {
	t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for an event to the host")
		return nil
	}
}

// nextSync returns the next session sync to the host, within d.
func (c *collector) nextSync(t *testing.T, d time.Duration) *portalpb.SessionSync {
	t.Helper()
	select {
	case ev := <-c.syncs:
		return ev.GetSync()
	case <-time.After(d):
		t.Fatalf("no sync to the host within %v", d)
		return nil
	}
}

// noSync checks that no sync is waiting.
func (c *collector) noSync(t *testing.T) {
	t.Helper()
	select {
	case ev := <-c.syncs:
		t.Fatalf("unexpected sync %v", ev.GetSync())
	default:
	}
}

// harness is one telnet conn served in-process, its client end and the
// portal's outbox.
type harness struct {
	t      *testing.T
	p      *Plugin
	portal *sdk.Portal
	col    *collector
	client net.Conn
	c      *conn
	sess   *sdk.Session
	id     uint64
	// connect is the session's Connect event.
	connect *portalpb.Connect
	// served is closed when conn.serve returns.
	served chan struct{}
	// in holds bytes the client received (decompressed, while MCCP2 is
	// on) that no check has consumed yet.
	in    []byte
	syncs int
	// raw reads the client's socket without reading ahead, so that the
	// end of a compressed stream leaves what follows it unread.
	raw *rawReader
	// inflating is set from startInflate until the compressed stream
	// ends; zr is its decompressor, made at its first read (the zlib
	// header comes with the first compressed output).
	inflating bool
	zr        io.ReadCloser
	// streamEnded counts compressed streams that ended cleanly.
	streamEnded int
}

// rawReader reads a net.Conn with a deadline, byte by byte when asked
// (io.ByteReader), so that a decompressor never reads past its stream.
type rawReader struct {
	conn     net.Conn
	buf      []byte
	deadline time.Time
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		b := make([]byte, 4096)
		_ = r.conn.SetReadDeadline(r.deadline)
		n, err := r.conn.Read(b)
		r.buf = b[:n]
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *rawReader) ReadByte() (byte, error) {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			return b[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// startInflate says that what follows the bytes consumed so far is an
// MCCP2 stream: bytes already read but not consumed belong to it.
func (h *harness) startInflate() {
	h.raw.buf = append(append([]byte(nil), h.in...), h.raw.buf...)
	h.in = nil
	h.inflating = true
	h.zr = nil
}

// fill reads more of what the client receives into h.in, decompressing
// while a compressed stream is on. The end of a compressed stream is not
// an error: reading continues in clear.
func (h *harness) fill(deadline time.Time) error {
	h.raw.deadline = deadline
	buf := make([]byte, 4096)
	if h.inflating {
		if h.zr == nil {
			zr, err := zlib.NewReader(h.raw)
			if err != nil {
				return fmt.Errorf("MCCP2 stream header: %w", err)
			}
			h.zr = zr
		}
		n, err := h.zr.Read(buf)
		h.in = append(h.in, buf[:n]...)
		if errors.Is(err, io.EOF) {
			h.inflating, h.zr = false, nil
			h.streamEnded++
			return nil
		}
		return err
	}
	n, err := h.raw.Read(buf)
	h.in = append(h.in, buf[:n]...)
	return err
}

type transport int

const (
	overTCP transport = iota
	// overPipe uses net.Pipe, where a Read never spans two Writes: each
	// client write reaches the parser as its own chunk, so a sequence split
	// across writes is certain to be split when parsed.
	overPipe
)

func (tr transport) String() string {
	if tr == overPipe {
		return "pipe"
	}
	return "tcp"
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.DialTimeout("tcp", ln.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	return client, r.c
}

// newHarness serves one connection with cfg and waits for its Connect; it
// reads the server's connect offers (checking them) so that each test's
// output starts after them.
func newHarness(t *testing.T, cfg Config, tr transport) *harness {
	t.Helper()
	return newHarnessWith(t, cfg, tr, nil)
}

// newHarnessWith is newHarness with a chance to adjust the plugin (its
// option policy, its negotiation timeout) before the connection is served.
func newHarnessWith(t *testing.T, cfg Config, tr transport, adjust func(p *Plugin)) *harness {
	t.Helper()
	portal := sdk.NewTestPortal(testLogger())
	p := &Plugin{cfg: cfg, portal: portal, log: portal.Log(), conns: map[*conn]uint64{}, started: time.Now()}
	if adjust != nil {
		adjust(p)
	}
	var client, server net.Conn
	if tr == overPipe {
		client, server = net.Pipe()
	} else {
		client, server = tcpPair(t)
	}
	h := &harness{t: t, p: p, portal: portal, col: collect(portal), client: client, served: make(chan struct{}),
		raw: &rawReader{conn: client}}
	h.c = newConn(p, server, ProtocolKey)
	// The connection is the plugin's, as an accepted one would be, so that
	// the plugin's keepalive reaches it.
	p.mu.Lock()
	p.conns[h.c] = 0
	p.restartKeepaliveLocked()
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go h.c.serve(ctx, func() { close(h.served) })
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.restartKeepaliveLocked() // stops it
		p.mu.Unlock()
		client.Close()
		select {
		case <-h.served:
		case <-time.After(waitFor):
			t.Error("conn.serve did not return after the client closed")
		}
		cancel()
		h.col.stop(t)
	})

	ev := h.col.next(t)
	cn := ev.GetConnect()
	if cn == nil {
		t.Fatalf("first event to the host = %v, want Connect", ev)
	}
	h.connect = cn
	h.id = cn.GetSession().GetSessid()
	h.sess = portal.Session(h.id)
	if h.sess == nil {
		t.Fatalf("portal has no session %d after Connect", h.id)
	}
	if want := string(p.policy().offerBytes); want != "" {
		if got := string(h.readN(len(want))); got != want {
			t.Fatalf("connect offers = %q, want %q", got, want)
		}
	}
	return h
}

// readN reads exactly n bytes from the client (after any already read).
func (h *harness) readN(n int) []byte {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for len(h.in) < n {
		err := h.fill(deadline)
		if err != nil && len(h.in) < n {
			h.t.Fatalf("reading %d bytes from the server: %v (have %q)", n, err, h.in)
		}
	}
	out := append([]byte(nil), h.in[:n]...)
	h.in = h.in[n:]
	return out
}

// write sends raw bytes from the client, each call one Write.
func (h *harness) write(chunks ...string) {
	h.t.Helper()
	for _, s := range chunks {
		_ = h.client.SetWriteDeadline(time.Now().Add(waitFor))
		if _, err := h.client.Write([]byte(s)); err != nil {
			h.t.Fatalf("client write %q: %v", s, err)
		}
	}
}

// expectText checks that the next events to the host are DataIn events
// carrying exactly these text inputs, in order.
func (h *harness) expectText(want ...string) {
	h.t.Helper()
	for _, w := range want {
		ev := h.col.next(h.t)
		di := ev.GetDataIn()
		if di == nil {
			h.t.Fatalf("event to the host = %v, want DataIn %q", ev, w)
		}
		if di.GetSessid() != h.id {
			h.t.Fatalf("DataIn sessid = %d, want %d", di.GetSessid(), h.id)
		}
		msgs, err := wire.MessagesFromPB(di.GetMessages())
		if err != nil {
			h.t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].Name != "text" {
			h.t.Fatalf("DataIn messages = %#v, want one text %q", msgs, w)
		}
		got, ok := msgs[0].FirstString()
		if !ok || len(msgs[0].Args) != 1 || got != w {
			h.t.Fatalf("DataIn text = %#v, want %q", msgs[0].Args, w)
		}
	}
}

// readUntil reads from the client until the bytes received contain suffix
// and returns them up to and including it.
func (h *harness) readUntil(suffix string) []byte {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if i := bytes.Index(h.in, []byte(suffix)); i >= 0 {
			out := append([]byte(nil), h.in[:i+len(suffix)]...)
			h.in = h.in[i+len(suffix):]
			return out
		}
		err := h.fill(deadline)
		if err != nil && !bytes.Contains(h.in, []byte(suffix)) {
			h.t.Fatalf("reading %q from the server: %v (have %q)", suffix, err, h.in)
		}
	}
}

// flush waits until the server has acted on everything the client sent so
// far (the client must be at a line boundary) and everything the test sent
// through conn.Send, and returns every byte the client received since the
// last flush. It sends a marker line in band: once the marker reaches the
// host, every earlier answer of the reader goroutine has been queued, and
// output queued after that is written after it.
func (h *harness) flush() []byte {
	h.t.Helper()
	h.syncs++
	tok := fmt.Sprintf("~%d", h.syncs) // short: some tests allow 5 characters a line
	h.write(tok + "\r\n")
	h.expectText(tok)
	h.c.Send(h.sess, []sdk.Message{sdk.Text(tok)})
	// A client that refused SGA gets IAC GA after every line.
	suffix := tok + "\r\n"
	if d := h.sess.GetSyncData(); !flagTrue(&d.ProtocolFlags, flagNoGoAhead, true) {
		suffix += iac + ga
	}
	got := h.readUntil(suffix)
	return got[:len(got)-len(suffix)]
}

// expectOutput checks the client received exactly want since the last
// flush.
func (h *harness) expectOutput(want string) {
	h.t.Helper()
	if got := h.flush(); string(got) != want {
		h.t.Fatalf("client received %q, want %q", got, want)
	}
}

// expectClosed reads the rest of the output until the server closes the
// connection and checks it is exactly want.
func (h *harness) expectClosed(want string) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := h.fill(deadline)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			h.t.Fatalf("waiting for the server to close: %v (have %q)", err, h.in)
		}
	}
	if string(h.in) != want {
		h.t.Fatalf("client received %q before close, want %q", h.in, want)
	}
	h.in = nil
}

func (h *harness) waitServed() {
	h.t.Helper()
	select {
	case <-h.served:
	case <-time.After(waitFor):
		h.t.Fatal("conn.serve did not return")
	}
}

// rest stops the collector once serve has returned and gives every event
// to the host not yet consumed.
func (h *harness) rest() []*portalpb.Event {
	h.t.Helper()
	h.waitServed()
	return h.col.drain(h.t, h.portal)
}

// send is conn.Send of the session.
func (h *harness) send(msgs ...sdk.Message) { h.c.Send(h.sess, msgs) }

// withOptions returns a message name(text) with kwargs options.
func withOptions(name, text string, opts map[string]any) sdk.Message {
	return sdk.Message{Name: name, Args: []any{text}, Kwargs: map[string]any{"options": opts}}
}
