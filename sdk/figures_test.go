package sdk

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/connio"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
	"google.golang.org/protobuf/proto"
)

// countedPair accepts one connection through a FileLimitListener that
// counts into f, and returns the plugin's end (as the listener gives it)
// and the client's.
func countedPair(t *testing.T, f *figures) (server, client net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := FileLimitListener(raw, FileLimitOptions{})
	ln.(*fileLimitListener).figures = f
	t.Cleanup(func() { ln.Close() })
	client, err = net.DialTimeout("tcp", raw.Addr().String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// readN reads exactly n bytes from c within the test's timeout.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// TestCountedConnBytesExact: every byte a client sends and is sent over a
// real socket is counted once, whichever way the plugin writes (Write, a
// connio.Writer straight to the socket, through a connio.Conn), the
// socket stays reachable, and the connection counts as open until its
// first Close.
func TestCountedConnBytesExact(t *testing.T) {
	f := &figures{}
	server, client := countedPair(t, f)
	if f.accepted.Load() != 1 || f.open.Load() != 1 {
		t.Fatalf("after accept: %d accepted, %d open; want 1, 1", f.accepted.Load(), f.open.Load())
	}
	if _, ok := server.(syscall.Conn); !ok {
		t.Fatal("the counted connection hides its socket (syscall.Conn): connio could not park it")
	}

	// In: 3 writes of different sizes, read by the plugin in pieces.
	sent := 0
	for _, n := range []int{1, 1000, 70000} {
		if _, err := client.Write(bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	readN(t, server, sent)
	if got := f.bytesIn.Load(); got != uint64(sent) {
		t.Errorf("bytes in = %d, want %d", got, sent)
	}
	// And read past Read, straight from the socket (connio.SocketReader,
	// as telnet's connections and the data link read).
	if _, err := client.Write(bytes.Repeat([]byte{'y'}, 5000)); err != nil {
		t.Fatal(err)
	}
	sent += 5000
	if _, err := io.ReadFull(connio.SocketReader(server), make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	if got := f.bytesIn.Load(); got != uint64(sent) {
		t.Errorf("bytes in after a SocketReader = %d, want %d", got, sent)
	}

	// Out: a plain Write, a connio.Writer on the connection (which writes
	// to the socket itself), and one on a connio.Conn around it.
	out := 0
	if _, err := server.Write([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	out += 7
	w := connio.NewWriter(server, connio.Options{})
	if err := w.Write(bytes.Repeat([]byte{'y'}, 5000)); err != nil {
		t.Fatal(err)
	}
	out += 5000
	poller, err := connio.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer poller.Close()
	cc := poller.Conn(server)
	w2 := connio.NewWriter(cc, connio.Options{})
	if err := w2.Write(bytes.Repeat([]byte{'z'}, 300)); err != nil {
		t.Fatal(err)
	}
	out += 300
	readN(t, client, out)
	if got := f.bytesOut.Load(); got != uint64(out) {
		t.Errorf("bytes out = %d, want %d", got, out)
	}

	// Closed twice (a TLS server and the plugin both close): counted out
	// once.
	server.Close()
	server.Close()
	if got := f.open.Load(); got != 0 {
		t.Errorf("open after Close = %d, want 0", got)
	}
}

// TestCountConnDialed: a connection the plugin makes (a bot's) counts its
// bytes and as open, not as accepted.
func TestCountConnDialed(t *testing.T) {
	before := processFigures.event().GetFigures()
	a, b := net.Pipe()
	defer b.Close()
	c := CountConn(a)
	go func() {
		_, _ = b.Write([]byte("PING :x\r\n"))
		buf := make([]byte, 9)
		_, _ = io.ReadFull(b, buf)
	}()
	buf := make([]byte, 9)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("PONG :x\r\n")); err != nil {
		t.Fatal(err)
	}
	during := processFigures.event().GetFigures()
	c.Close()
	after := processFigures.event().GetFigures()
	if during.GetClientBytesIn()-before.GetClientBytesIn() != 9 || during.GetClientBytesOut()-before.GetClientBytesOut() != 9 {
		t.Errorf("bytes in/out = +%d/+%d, want +9/+9", during.GetClientBytesIn()-before.GetClientBytesIn(),
			during.GetClientBytesOut()-before.GetClientBytesOut())
	}
	if during.GetConnectionsOpen() != before.GetConnectionsOpen()+1 || after.GetConnectionsOpen() != before.GetConnectionsOpen() {
		t.Errorf("open = %d while open, %d after, want %d then %d", during.GetConnectionsOpen(), after.GetConnectionsOpen(),
			before.GetConnectionsOpen()+1, before.GetConnectionsOpen())
	}
	if after.GetConnectionsAccepted() != before.GetConnectionsAccepted() {
		t.Error("a dialed connection counted as accepted")
	}
}

// TestRefusalsCounted: the per-address limits count what they refuse.
func TestRefusalsCounted(t *testing.T) {
	before := processFigures.refusedAddress.Load()
	p := NewTestPortalWith(discardLog(), HostInfo{Limits: Limits{ConnectionsPerIP: 1}})
	newSession(t, p, newFakeConn())
	if _, err := p.NewSession(testCtx(t), newFakeConn(), "telnet", "192.0.2.1"); err == nil {
		t.Fatal("a second connection from the address was let in")
	}
	if got := processFigures.refusedAddress.Load() - before; got != 1 {
		t.Errorf("refused by the address limit: +%d, want +1", got)
	}
}

// TestOwnFigures: a plugin's own counters add up, its gauges are set, and
// bad names are refused; the event lists them by name.
func TestOwnFigures(t *testing.T) {
	p := NewTestPortal(discardLog())
	p.figures = &figures{}
	for _, err := range []error{p.AddFigure("tls_handshakes", 2), p.AddFigure("tls_handshakes", 1), p.SetFigure("rooms", 7),
		p.SetFigure("rooms", 5), p.AddFigure("a_count", 1)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"", "Caps", "1st", "with-dash", "x" + string(bytes.Repeat([]byte{'y'}, 63))} {
		if err := p.AddFigure(name, 1); err == nil {
			t.Errorf("AddFigure(%q) accepted", name)
		}
	}
	if err := p.AddFigure("down", -1); err == nil {
		t.Error("a counter went down")
	}
	pf := p.figures.event().GetFigures()
	if pf.GetProcess() == 0 || pf.GetProcess() != processID {
		t.Errorf("process = %d", pf.GetProcess())
	}
	want := &portalpb.PluginFigures{Process: processID,
		Counters: []*portalpb.Figure{{Name: "a_count", Value: 1}, {Name: "tls_handshakes", Value: 3}},
		Gauges:   []*portalpb.Figure{{Name: "rooms", Value: 5}}}
	if !proto.Equal(pf, want) {
		t.Errorf("figures = %v, want %v", pf, want)
	}
	for i := range contract.MaxFigures {
		_ = p.SetFigure("g"+string(rune('a'+i/26))+string(rune('a'+i%26)), 1)
	}
	if err := p.SetFigure("one_too_many", 1); err == nil {
		t.Error("more than maxFigures gauges accepted")
	}
}

// TestFiguresOverTheLink: the figures go to a host that asks for them, on
// the gRPC Link stream and on the data socket alike, decoded as sent; a
// host that does not ask gets none.
func TestFiguresOverTheLink(t *testing.T) {
	p := newTestPlugin()
	h := newHarness(t, p)
	host := hostInfo(1, 100)
	host.FiguresIntervalMs = 50
	resp := h.configure(t, `{}`, host)
	if err := h.srv.Portal().AddFigure("figures_test", 1); err != nil {
		t.Fatal(err)
	}
	check := func(how string, pf *portalpb.PluginFigures) {
		t.Helper()
		if pf.GetProcess() != processID {
			t.Errorf("%s: process %d, want %d", how, pf.GetProcess(), processID)
		}
		found := false
		for _, c := range pf.GetCounters() {
			found = found || c.GetName() == "figures_test"
		}
		if !found {
			t.Errorf("%s: the plugin's own counter is missing: %v", how, pf)
		}
	}

	// gRPC: at once, then again after the interval.
	l := h.link(t)
	for n := 0; n < 2; {
		f := wait(t, l.frames, "figures on the Link stream")
		for _, ev := range f.GetEvents() {
			if ev.GetFigures() == nil {
				t.Fatalf("Link stream: %v, want figures only", kinds(f.GetEvents()))
			}
			check("Link stream", ev.GetFigures())
			n++
		}
	}

	// The data socket (which takes the link over).
	if err := h.srv.ListenData(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	resp = h.configure(t, `{}`, host)
	conn, err := net.DialTimeout("unix", resp.GetDataPath(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(wire.AppendHello(nil, wire.DataLinkVersion, resp.GetDataSecret())); err != nil {
		t.Fatal(err)
	}
	rd := wire.NewFrameReader(conn)
	if typ, _, err := rd.Next(); err != nil || typ != wire.FrameHello {
		t.Fatalf("hello: %v %v", typ, err)
	}
	for n := 0; n < 2; {
		typ, body, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if typ != wire.FrameEvents {
			continue
		}
		evs, err := wire.ParseEvents(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if pf := ev.GetFigures(); pf != nil {
				check("data socket", pf)
				n++
			}
		}
	}
	conn.Close()

	// A host that asks for none (one built before them) gets none.
	p2 := newTestPlugin()
	h2 := newHarness(t, p2)
	h2.configure(t, `{}`, hostInfo(1, 100))
	l2 := h2.link(t)
	select {
	case f := <-l2.frames:
		t.Errorf("a host that asked for no figures got %v", kinds(f.GetEvents()))
	case <-time.After(300 * time.Millisecond):
	}
}

// TestFiguresEncoding: the event survives the data link's frame codec and
// gRPC's (proto) encoding alike.
func TestFiguresEncoding(t *testing.T) {
	ev := &portalpb.Event{Kind: &portalpb.Event_Figures{Figures: &portalpb.PluginFigures{Process: 42, ClientBytesIn: 1 << 40,
		ClientBytesOut: 7, ConnectionsOpen: 3, ConnectionsAccepted: 9, RefusedAddressLimit: 1, RefusedQueue: 2, RefusedFileLimit: 3,
		Counters: []*portalpb.Figure{{Name: "c", Value: 1.5}}, Gauges: []*portalpb.Figure{{Name: "g", Value: -2}}}}}
	b, err := wire.AppendEvents(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	typ, body, err := wire.NewFrameReader(bytes.NewReader(b)).Next()
	if err != nil || typ != wire.FrameEvents {
		t.Fatalf("frame: %v %v", typ, err)
	}
	evs, err := wire.ParseEvents(body)
	if err != nil || len(evs) != 1 || !proto.Equal(evs[0], ev) {
		t.Errorf("through a frame: %v (%v), want %v", evs, err, ev)
	}
	raw, err := proto.Marshal(&portalpb.Frame{Events: []*portalpb.Event{ev}})
	if err != nil {
		t.Fatal(err)
	}
	var f portalpb.Frame
	if err := proto.Unmarshal(raw, &f); err != nil || len(f.GetEvents()) != 1 || !proto.Equal(f.GetEvents()[0], ev) {
		t.Errorf("through proto: %v (%v)", f.GetEvents(), err)
	}
}
