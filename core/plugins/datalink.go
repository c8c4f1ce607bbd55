package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// A run's link to its plugin. The plugin's events and the host's travel
// on the plugin's data socket (sdk's ListenData) as frames (sdk/wire):
// the host writes inline, from whichever goroutine has an event (the
// game's loop, mostly), never waiting (wire.FrameWriter), and one
// goroutine reads the plugin's frames and hands them to handleEvents. A
// ping on the link, with a deadline, tells a plugin that stopped answering
// from a quiet one.
//
// The gRPC Link stream stays as the fallback, for a plugin that offers no
// data socket: one built with an SDK from before it (contract version 2
// promises the stream, and a host upgraded by a reload reattaches to
// plugins its older image launched), or one whose data socket speaks TLS
// while this host kept no key pair to present. It is the old path, kept
// whole rather than emulated: both sides already serve it, the
// conformance kit runs every check over it too (Suite.StreamLink), and
// nothing else would let such a plugin keep its players across the
// upgrade.

// link is one run's link to its plugin: the data socket (dataLink) or the
// Link stream (streamLink).
type link interface {
	// serve hands the plugin's frames to handleEvents until the link ends,
	// and returns why it ended.
	serve(ctx context.Context) error
	// finish is the reload's second step (finishDetach): what the host
	// queued goes out, then the host closes its side; the plugin then ends
	// the link.
	finish()
	// close ends the link's goroutines and connection; serve has returned.
	close()
}

// openLink opens the run's link: the data socket the plugin named in its
// Configure answer, or the Link stream when it named none, or when its
// data socket needs TLS this host cannot speak. It returns the link and
// the data socket's path ("" for the stream).
func (r *runner) openLink(ctx context.Context, pc pluginConn, outbox *wire.Outbox,
	resp *portalpb.ConfigureResponse) (link, string, error) {
	if path := resp.GetDataPath(); path != "" {
		tc, err := r.dataTLS(resp)
		if err == nil {
			l, err := r.openDataLink(ctx, pc.dataDialer(resp, tc), outbox)
			return l, path, err
		}
		r.log.Warn("linking over the Link stream instead of the data socket", "err", err)
	}
	l, err := r.openStreamLink(ctx, pc.portal(), outbox)
	return l, "", err
}

// dataTLS is the TLS config for the plugin's data socket: nil when it is
// plain, the kept AutoMTLS pair against the certificate the plugin named
// when it speaks TLS. It fails when the run's gRPC link is mutually
// authenticated and the data socket would be less (plain, or a pair this
// host did not keep): the caller then uses the Link stream.
func (r *runner) dataTLS(resp *portalpb.ConfigureResponse) (*tls.Config, error) {
	r.mu.Lock()
	mt := r.mtls
	r.mu.Unlock()
	cert := resp.GetDataCert()
	switch {
	case len(cert) == 0 && mt == nil:
		return nil, nil
	case len(cert) == 0:
		return nil, errors.New("the link runs mutual TLS but the plugin's data socket is plain")
	case mt == nil:
		return nil, errors.New("the plugin's data socket speaks mutual TLS, and this host has no key pair of its link to present")
	}
	pair, err := tls.X509KeyPair([]byte(mt.clientCert), []byte(mt.clientKey))
	if err != nil {
		return nil, fmt.Errorf("plugin_mtls: kept key pair: %w", err)
	}
	return launch.DataTLS(pair, cert)
}

// dataLink is a run's link over the plugin's data socket.
type dataLink struct {
	r      *runner
	conn   net.Conn
	rd     *wire.FrameReader
	w      *wire.FrameWriter
	outbox *wire.Outbox
	// stopPing ends the pinger; pingDone is closed when it has.
	stopPing context.CancelFunc
	pingDone chan struct{}
	// pongs carries each pong's nonce from the reader to the pinger.
	pongs chan uint64

	mu sync.Mutex
	// hung is why the host gave up on the plugin (nil while it answers).
	hung error
}

// corkReplies holds the plugin's data link writes while a batch of n of
// its events runs (n > 1), and returns what writes them: the replies to a
// batch go out in one write, not one each. A lone event's reply goes at
// once, as it is made.
func (r *runner) corkReplies(n int) (uncork func()) {
	if n < 2 {
		return func() {}
	}
	r.mu.Lock()
	ob := r.outbox
	r.mu.Unlock()
	if ob == nil {
		return func() {}
	}
	return ob.Cork()
}

// errUnresponsive is a run ended because its plugin stopped answering on
// its link: no pong within the ping timeout, or output left unread.
var errUnresponsive = errors.New("plugin unresponsive")

// openDataLink dials the plugin's data link (dial proves the host with
// the secret), and attaches it to the outbox: what was queued goes out first,
// then every event is written at once.
func (r *runner) openDataLink(ctx context.Context, dial dataDialer, outbox *wire.Outbox) (*dataLink, error) {
	conn, rd, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	s := r.m.config().Server
	d := &dataLink{r: r, conn: conn, rd: rd, outbox: outbox, pongs: make(chan uint64, 1), pingDone: make(chan struct{})}
	d.w = wire.NewFrameWriter(conn, wire.WriterOptions{MaxBacklog: s.PluginOutboxMiB << 20,
		WriteTimeout: s.PluginPingTimeout, OnError: d.writeFailed, Version: rd.Version()})
	if err := outbox.Attach(d.w); err != nil {
		conn.Close()
		return nil, fmt.Errorf("data socket: %w", err)
	}
	pctx, stop := context.WithCancel(ctx)
	d.stopPing = stop
	go d.pinger(pctx)
	r.mu.Lock()
	r.dataWriter = d.w
	r.mu.Unlock()
	return d, nil
}

// serve reads the plugin's frames until the link ends. The events of
// every frame already read in run together, as one batch: one hold of the
// game's ownership per read, as with the Link stream's batches.
func (d *dataLink) serve(ctx context.Context) error {
	b := d.r.newBatch(64)
	for {
		typ, body, err := d.rd.Next()
		if err != nil {
			return d.why(err)
		}
		size := 0 // the events' bytes, for the link's figures
		for {
			if err := d.read(ctx, b, typ, body); err != nil {
				b.run(size)
				return d.why(err)
			}
			if typ != wire.FramePong {
				size += len(body)
			}
			if b.events >= wire.MaxFrameEvents || !d.rd.Ready() {
				break
			}
			if typ, body, err = d.rd.Next(); err != nil {
				b.run(size)
				return d.why(err)
			}
		}
		b.run(size)
	}
}

// read takes one frame from the plugin into b (events, data), or answers
// it (a pong).
func (d *dataLink) read(ctx context.Context, b *batch, typ wire.FrameType, body []byte) error {
	switch typ {
	case wire.FrameEvents:
		evs, err := wire.ParseEvents(body)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			b.add(ctx, ev)
		}
	case wire.FrameData:
		return wire.ParseData(body, b.addData)
	case wire.FramePong:
		nonce, err := wire.ParseNonce(body)
		if err != nil {
			return err
		}
		select {
		case d.pongs <- nonce:
		default:
		}
	default:
		return fmt.Errorf("data link: unexpected %v from the plugin", typ)
	}
	return nil
}

// why is the error a link ended with: the plugin being unresponsive when
// the host gave up on it, else err.
func (d *dataLink) why(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hung != nil {
		return d.hung
	}
	return err
}

// finish is the reload's second step on the data socket: inline writing
// stops, what was written goes out, then anything queued since, then the
// host closes its writing side.
func (d *dataLink) finish() {
	d.outbox.Detach(d.w)
	if err := d.w.Stop(nil); err != nil {
		d.r.log.Warn("flush before reload", "err", err)
		return
	}
	timeout := d.r.m.config().Server.PluginPingTimeout
	err := d.outbox.Flush(func(f *portalpb.Frame) error {
		b, err := wire.AppendEvents(nil, f.GetEvents()...)
		if err != nil {
			return err
		}
		_ = d.conn.SetWriteDeadline(time.Now().Add(timeout))
		_, err = d.conn.Write(b)
		return err
	})
	if err != nil {
		d.r.log.Warn("flush before reload", "err", err)
	}
	cw, ok := d.conn.(interface{ CloseWrite() error })
	if !ok {
		d.r.log.Warn("close link before reload", "err", fmt.Sprintf("a %T cannot close its writing side", d.conn))
		return
	}
	if err := cw.CloseWrite(); err != nil {
		d.r.log.Warn("close link before reload", "err", err)
	}
}

// close ends the pinger and the connection; events are queued again.
func (d *dataLink) close() {
	d.stopPing()
	<-d.pingDone
	d.outbox.Detach(d.w)
	d.conn.Close()
	d.r.mu.Lock()
	if d.r.dataWriter == d.w {
		d.r.dataWriter = nil
	}
	d.r.mu.Unlock()
}

// pinger pings the plugin every plugin_ping_interval and gives up on it
// when a pong does not come within plugin_ping_timeout (both read afresh
// for each ping: a live edit applies at the next one). A link being
// handed over for a reload is not pinged: the plugin stops answering once
// it has sent Detached.
func (d *dataLink) pinger(ctx context.Context) {
	defer close(d.pingDone)
	var nonce uint64
	for {
		s := d.r.m.config().Server
		t := time.NewTimer(s.PluginPingInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if d.r.isDetaching() {
			continue
		}
		nonce++
		n := nonce
		if err := d.w.Append(func(b []byte) ([]byte, error) { return wire.AppendPing(b, n), nil }); err != nil {
			return // stopped for a reload, or failed: the link is ending
		}
		if !d.awaitPong(ctx, nonce, s.PluginPingTimeout) && !d.r.isDetaching() {
			d.giveUp(fmt.Errorf("no answer to a ping within %s", s.PluginPingTimeout))
			return
		}
	}
}

// awaitPong waits for the pong of ping nonce; it reports false when none
// came within timeout.
func (d *dataLink) awaitPong(ctx context.Context, nonce uint64, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case got := <-d.pongs:
			if got == nonce {
				return true
			}
		case <-t.C:
			return false
		}
	}
}

// writeFailed is the writer's OnError. Output left unread past the bound,
// or a write that made no progress within the ping timeout, is the plugin
// not answering; any other error is the link breaking, which the reader
// sees too.
func (d *dataLink) writeFailed(err error) {
	// The plugin's sessions go with the link: nothing more is held for
	// them (the outbox would otherwise queue what the link refuses until
	// the run has ended).
	d.r.mu.Lock()
	d.r.accepting = false
	d.r.mu.Unlock()
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrLinkBacklog):
		d.giveUp(fmt.Errorf("it left more than %d MiB of output unread (server.plugin_outbox_mib)",
			d.r.m.config().Server.PluginOutboxMiB))
	case errors.As(err, &ne) && ne.Timeout():
		d.giveUp(fmt.Errorf("its link took no output for %s", d.r.m.config().Server.PluginPingTimeout))
	}
}

// giveUp marks the plugin unresponsive and ends its link: the run ends
// with errUnresponsive, and supervise drops its sessions and restarts it
// (runOnce ends the process first).
func (d *dataLink) giveUp(why error) {
	d.mu.Lock()
	first := d.hung == nil
	if first {
		d.hung = fmt.Errorf("plugins: %s: %w: %w", d.r.name, errUnresponsive, why)
	}
	d.mu.Unlock()
	if !first {
		return
	}
	d.r.markUnresponsive(why)
	d.conn.Close()
}
