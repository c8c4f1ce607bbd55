package sdk

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// graceConn records what a session's client was sent and how it closed.
type graceConn struct {
	mu     sync.Mutex
	sent   []string
	closed string
	done   chan struct{}
	// told is signalled on every Send.
	told chan struct{}
}

func (c *graceConn) Send(_ *Session, msgs []Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		s, _ := m.FirstString()
		c.sent = append(c.sent, s)
	}
	select {
	case c.told <- struct{}{}:
	default:
	}
}

func (c *graceConn) Close(reason string) {
	c.mu.Lock()
	c.closed = reason
	c.mu.Unlock()
	close(c.done)
}

type gracePlugin struct{ shutdown chan struct{} }

func (p *gracePlugin) Configure(context.Context, Config, *Portal) (Info, error) {
	return Info{ProtocolKey: "grace"}, nil
}

func (p *gracePlugin) Shutdown(context.Context) error { close(p.shutdown); return nil }

// graceFixture is a plugin server on an in-memory gRPC connection, with
// one connected session and its link open.
type graceFixture struct {
	srv    *Server
	client portalpb.PortalClient
	plugin *gracePlugin
	conn   *graceConn
	sess   *Session
	lost   chan struct{}
	ctx    context.Context
	// dropLink ends the first link without a word, as a dying host does.
	dropLink context.CancelFunc
}

func newGraceFixture(t *testing.T, graceMs int64) *graceFixture {
	t.Helper()
	f := &graceFixture{plugin: &gracePlugin{shutdown: make(chan struct{})}, lost: make(chan struct{})}
	f.srv = NewServer(f.plugin, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.srv.OnHostLost = func() { close(f.lost) }
	ln := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	portalpb.RegisterPortalServer(gs, f.srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return ln.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	f.client = portalpb.NewPortalClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	f.ctx = ctx
	if _, err := f.client.Configure(ctx, &portalpb.ConfigureRequest{Host: &portalpb.HostInfo{
		SessidStart: 1, SessidCount: 100, ReattachGraceMs: graceMs}}); err != nil {
		t.Fatal(err)
	}
	f.conn = &graceConn{done: make(chan struct{}), told: make(chan struct{}, 1)}
	if f.sess, err = f.srv.Portal().NewSession(ctx, f.conn, "grace", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	f.sess.Connect()
	linkCtx, dropLink := context.WithCancel(ctx)
	f.dropLink = dropLink
	stream, err := f.client.Link(linkCtx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the Connect frame: the link is up
		t.Fatal(err)
	}
	return f
}

// TestHostLostGrace: when the host's link drops without a Detach (a host
// crash), clients are told the server is restarting; when no host comes
// back within the grace period they are closed with a message and the
// plugin shuts down, so that no plugin runs forever without a host.
func TestHostLostGrace(t *testing.T) {
	f := newGraceFixture(t, 300)
	conn, lost, plugin, srv := f.conn, f.lost, f.plugin, f.srv
	start := time.Now()
	f.dropLink() // the host dies without a word

	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin did not give up after the grace period")
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("gave up after %v, before the 300ms grace", waited)
	}
	<-conn.done
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.sent) == 0 || conn.sent[0] != MsgHostLost {
		t.Fatalf("client was not told the server is restarting: %q", conn.sent)
	}
	if conn.closed != MsgHostNotBack {
		t.Fatalf("closed with %q, want %q", conn.closed, MsgHostNotBack)
	}
	select {
	case <-plugin.shutdown:
	default:
		t.Fatal("plugin was not shut down")
	}
	if srv.Portal().Count() != 0 {
		t.Fatalf("%d sessions left", srv.Portal().Count())
	}
}

// TestHostBackWithinGrace: a new link within the grace period cancels it;
// nobody is closed.
func TestHostBackWithinGrace(t *testing.T) {
	f := newGraceFixture(t, 400)
	conn, lost, sess, client, ctx := f.conn, f.lost, f.sess, f.client, f.ctx
	f.dropLink()
	// Once the plugin has noticed (and told its client), input typed while
	// no host is attached waits in the outbox. Input sent into a link in
	// the instant before a crash is noticed can be lost: delivery is at
	// most once, never twice.
	select {
	case <-conn.told:
	case <-time.After(5 * time.Second):
		t.Fatal("client not told the server is restarting")
	}
	sess.DataIn(Text("hello?"))
	stream2, err := client.Link(ctx)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := stream2.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := frame.GetEvents()[0].GetDataIn().GetMessages()[0].GetStrArgs(); len(got) != 1 || got[0] != "hello?" {
		t.Fatalf("buffered input not delivered on the new link: %v", frame)
	}
	select {
	case <-lost:
		t.Fatal("gave up although a host came back")
	case <-time.After(700 * time.Millisecond):
	}
	select {
	case <-conn.done:
		t.Fatal("client closed although a host came back")
	default:
	}
}

// TestNoIDsWhileHostAway: a connection that finds the session ids used up
// while the host is away is told to come back in a moment, at once, and
// the one already waiting for an id is told too; with the host linked it
// waits for the grant as before.
func TestNoIDsWhileHostAway(t *testing.T) {
	f := newGraceFixture(t, 10_000)
	for range 99 { // the fixture's session holds the first of 100 ids
		if _, err := f.srv.Portal().NewSession(f.ctx, newFakeConn(), "grace", "127.0.0.1:2"); err != nil {
			t.Fatal(err)
		}
	}
	waiting := newFakeConn()
	waited := make(chan error, 1)
	go func() {
		_, err := f.srv.Portal().NewSession(f.ctx, waiting, "grace", "127.0.0.1:3")
		waited <- err
	}()
	none(t, waiting.closes, "close while the host is linked")
	f.dropLink()
	wait(t, f.conn.told, "the client being told the server is restarting")
	if err := wait(t, waited, "the waiting connection's answer"); !errors.Is(err, ErrRefused) || !errors.Is(err, ErrNoSessionID) {
		t.Fatalf("waiting connection: %v", err)
	}
	if got := wait(t, waiting.closes, "the waiting connection's close"); got != MsgWaitForHost {
		t.Fatalf("waiting connection told %q", got)
	}
	late := newFakeConn()
	if _, err := f.srv.Portal().NewSession(f.ctx, late, "grace", "127.0.0.1:4"); !errors.Is(err, ErrRefused) {
		t.Fatalf("new connection: %v", err)
	}
	if got := wait(t, late.closes, "the new connection's close"); got != MsgWaitForHost {
		t.Fatalf("new connection told %q", got)
	}
}
