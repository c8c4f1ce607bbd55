package plugins

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// fakePlugin is the plugin end of a data socket, speaking raw frames: it
// checks the host's hello and answers it, then behaves as told.
type fakePlugin struct {
	path   string
	secret []byte
	ln     net.Listener
	// conns receives the authenticated connection (and its reader).
	conns chan fakeConn
}

type fakeConn struct {
	conn net.Conn
	rd   *wire.FrameReader
}

func newFakePlugin(t *testing.T) *fakePlugin {
	t.Helper()
	dir, err := os.MkdirTemp("", "dl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &fakePlugin{path: filepath.Join(dir, "data1"), secret: bytes.Repeat([]byte{3}, wire.SecretSize),
		conns: make(chan fakeConn, 1)}
	p.ln, err = net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		rd := wire.NewFrameReader(conn)
		rd.Agree(wire.DataLinkVersion)
		typ, body, err := rd.Next()
		if err != nil || typ != wire.FrameHello {
			conn.Close()
			return
		}
		if _, secret, _ := wire.ParseHello(body); wire.CheckSecret(secret, p.secret) != nil {
			conn.Close()
			return
		}
		if _, err := conn.Write(wire.AppendHello(nil, wire.DataLinkVersion, nil)); err != nil {
			conn.Close()
			return
		}
		p.conns <- fakeConn{conn, rd}
	}()
	t.Cleanup(func() {
		p.ln.Close()
		<-done
		select {
		case c := <-p.conns:
			c.conn.Close()
		default:
		}
	})
	return p
}

// dataRunner is a runner on a manager with the given server settings, as
// far as a data link needs one.
func dataRunner(t *testing.T, s config.Server) *runner {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &config.Config{Server: s}
	m := NewManager(cfg, nil, nil, log, io.Discard)
	return &runner{m: m, name: "fake", log: log, outbox: wire.NewOutbox(0), accepting: true, state: StateRunning}
}

// linkEnd is how a served link ended: err, once done is closed.
type linkEnd struct {
	done chan struct{}
	err  error
}

// serveData opens r's data link to p and serves it; the end of serve is
// reported by the returned linkEnd, after the link is closed.
func serveData(t *testing.T, r *runner, p *fakePlugin) (fakeConn, *linkEnd) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := r.openDataLink(ctx, unixData(p.path, p.secret, nil), r.outbox)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var c fakeConn
	select {
	case c = <-p.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the host did not link")
	}
	end := &linkEnd{done: make(chan struct{})}
	go func() {
		defer close(end.done)
		end.err = d.serve(ctx)
		cancel()
		d.close()
	}()
	t.Cleanup(func() {
		c.conn.Close()
		cancel()
		select {
		case <-end.done:
		case <-time.After(10 * time.Second):
			t.Error("the link did not end")
		}
	})
	return c, end
}

func awaitEnd(t *testing.T, end *linkEnd) error {
	t.Helper()
	select {
	case <-end.done:
		return end.err
	case <-time.After(10 * time.Second):
		t.Fatal("the link did not end")
		return nil
	}
}

// bigOutput is a 1 KiB output event for one session.
func bigOutput() *portalpb.Event {
	return &portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{1},
		Messages: []*portalpb.Message{{Name: "text", StrArgs: []string{strings.Repeat("z", 1024)}}}}}}
}

// TestDataLinkNeverWaitsForPlugin: against a plugin that reads nothing,
// the host's sends (the game's loop makes them) return at once, every
// one; the output held for the plugin stays under plugin_outbox_mib, and
// passing it marks the plugin unresponsive and ends its link.
func TestDataLinkNeverWaitsForPlugin(t *testing.T) {
	r := dataRunner(t, config.Server{PluginPingInterval: time.Hour, PluginPingTimeout: time.Hour, PluginOutboxMiB: 1})
	p := newFakePlugin(t)
	_, out := serveData(t, r, p)
	start := time.Now()
	var slowest time.Duration
	for range 5000 {
		s := time.Now()
		r.send(bigOutput())
		slowest = max(slowest, time.Since(s))
	}
	t.Logf("5000 sends of 1 KiB to a plugin that reads nothing: %v, the slowest %v", time.Since(start), slowest)
	if slowest > 500*time.Millisecond {
		t.Errorf("a send waited %v for a plugin that reads nothing", slowest)
	}
	err := awaitEnd(t, out)
	if !errors.Is(err, errUnresponsive) || !strings.Contains(err.Error(), "output unread") {
		t.Fatalf("the link ended with %v; want the plugin unresponsive for output left unread", err)
	}
	if st := r.status(); st.State != StateUnresponsive || !strings.Contains(st.LastError, "unresponsive") {
		t.Fatalf("status %+v; want unresponsive", st)
	}
	// Nothing more is held for a plugin whose link failed (the event
	// that failed it may be).
	held := r.outbox.Len()
	for range 100 {
		r.send(bigOutput())
	}
	if n := r.outbox.Len(); n > held || n > 1 {
		t.Fatalf("%d events queued for a plugin whose link failed (%d when it failed)", n, held)
	}
}

// TestDataLinkPing: a plugin that answers the host's pings keeps its link
// through many ping timeouts; one that reads the pings but answers none is
// found unresponsive within the ping timeout.
func TestDataLinkPing(t *testing.T) {
	s := config.Server{PluginPingInterval: 20 * time.Millisecond, PluginPingTimeout: 300 * time.Millisecond, PluginOutboxMiB: 1}
	t.Run("answered", func(t *testing.T) {
		r := dataRunner(t, s)
		c, out := serveData(t, r, newFakePlugin(t))
		pings := 0
		deadline := time.Now().Add(4 * s.PluginPingTimeout)
		for time.Now().Before(deadline) {
			_ = c.conn.SetReadDeadline(deadline)
			typ, body, err := c.rd.Next()
			if err != nil {
				break
			}
			if typ != wire.FramePing {
				t.Fatalf("a %v frame from the host", typ)
			}
			nonce, err := wire.ParseNonce(body)
			if err != nil {
				t.Fatal(err)
			}
			pings++
			if _, err := c.conn.Write(wire.AppendPong(nil, nonce)); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-out.done:
			t.Fatalf("the link ended (%v) although every ping was answered", out.err)
		default:
		}
		if pings < 3 {
			t.Fatalf("%d pings in %v", pings, 4*s.PluginPingTimeout)
		}
	})
	t.Run("unanswered", func(t *testing.T) {
		r := dataRunner(t, s)
		c, out := serveData(t, r, newFakePlugin(t))
		start := time.Now()
		go func() { _, _ = io.Copy(io.Discard, c.conn) }()
		err := awaitEnd(t, out)
		if !errors.Is(err, errUnresponsive) || !strings.Contains(err.Error(), "no answer to a ping") {
			t.Fatalf("the link ended with %v; want no answer to a ping", err)
		}
		if took := time.Since(start); took < s.PluginPingTimeout {
			t.Fatalf("given up after %v, before the ping timeout", took)
		}
	})
}

// TestDataLinkRefusesWrongSecret: a data socket that does not take the
// host's secret (here: a listener that wants another) fails the dial with
// a message, and the host does not link.
func TestDataLinkRefusesWrongSecret(t *testing.T) {
	r := dataRunner(t, config.Server{PluginPingInterval: time.Hour, PluginPingTimeout: time.Hour, PluginOutboxMiB: 1})
	p := newFakePlugin(t)
	wrong := bytes.Repeat([]byte{4}, wire.SecretSize)
	_, err := r.openDataLink(context.Background(), unixData(p.path, wrong, nil), r.outbox)
	if err == nil || !strings.Contains(err.Error(), "refused the secret") {
		t.Fatalf("dial with a wrong secret: %v", err)
	}
}
