package plugins

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/sdk/edge"
	"github.com/portico-mud/portico/sdk/identity"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// pipeEdge is a host's side of an edge connection over an in-memory pipe,
// with serial as its certificate's: the plugin's side says its hello and
// runs yamux, and ends with the test.
func pipeEdge(t *testing.T, serial *big.Int) *edgeConn {
	t.Helper()
	host, plugin := net.Pipe()
	id, err := edge.NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	hello := make(chan error, 1)
	go func() { hello <- edge.WriteHello(plugin, id) }()
	c, err := edge.Accept(host, "edge1")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-hello; err != nil {
		t.Fatal(err)
	}
	sess, err := yamux.Server(plugin, edge.MuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		sess.Close()
	})
	return &edgeConn{c: c, pc: portalpb.NewPortalClient(c.GRPC), addr: "pipe", serial: serial}
}

// edgeRig is a remote runner (not supervised) on a manager with a
// certificate authority that has issued edge1 a certificate.
type edgeRig struct {
	m      *Manager
	r      *runner
	a      *pki.Authority
	serial *big.Int
	log    *bytes.Buffer
}

func newEdgeRig(t *testing.T) *edgeRig {
	t.Helper()
	dir := t.TempDir()
	a, err := pki.Open(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "edge1")
	if err := a.Issue("edge1", out); err != nil {
		t.Fatal(err)
	}
	tc, err := identity.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	cert := tc.Certificates[0].Leaf
	buf := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	m := NewManager(&config.Config{Server: config.Server{DataDir: dir}}, nil, nil, log, io.Discard)
	m.Authority = a
	r := &runner{m: m, name: "edge1", spec: config.Plugin{Name: "edge1", Remote: true}, log: log,
		done: make(chan struct{}), settled: make(chan struct{})}
	r.remote, r.edges = true, make(chan *edgeConn, 1)
	return &edgeRig{m: m, r: r, a: a, serial: cert.SerialNumber, log: buf}
}

// waitClosed fails unless e's connection has ended.
func waitClosed(t *testing.T, e *edgeConn, what string) {
	t.Helper()
	select {
	case <-e.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s is still open", what)
	}
}

// TestRevokedEdgeIsNotOffered: an edge revoked after its TLS handshake
// (while it said its hello) is refused when it is offered to its runner.
func TestRevokedEdgeIsNotOffered(t *testing.T) {
	g := newEdgeRig(t)
	e := pipeEdge(t, g.serial)
	if err := g.a.Revoke("edge1"); err != nil {
		t.Fatal(err)
	}
	err := g.r.offerEdge(e)
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("offerEdge of a revoked edge = %v, want refused as revoked", err)
	}
	if len(g.r.edges) != 0 {
		t.Error("the revoked edge was queued for its runner")
	}
}

// TestDropEdgeClosesQueued: revoking an edge whose connection is queued
// for its runner (not yet taken) closes it and empties the queue.
func TestDropEdgeClosesQueued(t *testing.T) {
	g := newEdgeRig(t)
	e := pipeEdge(t, g.serial)
	if err := g.r.offerEdge(e); err != nil {
		t.Fatal(err)
	}
	if addr, ok := g.r.dropEdge(); !ok || addr != "pipe" {
		t.Errorf("dropEdge = %q, %v; want the queued connection's address", addr, ok)
	}
	if len(g.r.edges) != 0 {
		t.Error("the queued connection is still queued after dropEdge")
	}
	waitClosed(t, e, "the queued connection")
}

// TestTakeEdgeRefusesRevoked: a connection superviseRemote took before
// its edge was revoked is not run, and its sessions are to go at once.
func TestTakeEdgeRefusesRevoked(t *testing.T) {
	g := newEdgeRig(t)
	e := pipeEdge(t, g.serial)
	if err := g.a.Revoke("edge1"); err != nil {
		t.Fatal(err)
	}
	g.r.edge = e
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pc, _, err := g.r.takeEdge(ctx)
	if err == nil || pc != nil {
		t.Fatalf("takeEdge of a revoked edge = %v, %v; want refused", pc, err)
	}
	if !g.r.dropNow {
		t.Error("takeEdge refused a revoked edge but its sessions are not to be dropped at once")
	}
	waitClosed(t, e, "the revoked connection")
}

// TestStoppedRemoteDropsSessions: a remote plugin stopped (disabled live,
// or changed to local) while the host keeps its sessions for it takes
// them out of the game, as a local plugin's do.
func TestStoppedRemoteDropsSessions(t *testing.T) {
	g, _ := probeRig(t)
	r := g.runner("edge1", true)
	if got := g.connect(r, 1); got != "edge1" {
		t.Fatalf("session 1 is owned by %q, want edge1", got)
	}
	r.remote, r.edges = true, make(chan *edgeConn, 1)
	r.done, r.settled = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go r.superviseRemote(ctx)
	r.stop("The edge1 service is moving. Please reconnect.")
	if got := g.owner(1); got != "" {
		t.Errorf("session 1 is still in the game (owned by %q) after its remote plugin was stopped", got)
	}
}

// TestPortalBoundsHandshakes: connections that never finish their TLS
// handshake hold at most the portal's limit of slots; one past it is
// closed at once (not kept for the handshake's 10 s), and a flood of them
// is logged a few times, not once each.
func TestPortalBoundsHandshakes(t *testing.T) {
	g := newEdgeRig(t)
	logged := &syncBuffer{}
	g.m.log = slog.New(slog.NewTextHandler(logged, nil))
	g.m.handshakeLimit = 2
	tc, err := g.a.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.m.ListenPortal("127.0.0.1:0", tc, pki.PeerName)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Two silent connections take both slots.
	for range 2 {
		dial()
	}
	const excess = 20
	start := time.Now()
	for i := range excess {
		c := dial()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d past the limit: read %v, want it closed at once", i+1, err)
		}
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("closing %d connections past the limit took %v", excess, d)
	}
	// Every refusal has been logged or counted once the portal is closed;
	// within 4 s the limiter lets 3 lines through, then 1 a second.
	p.Close()
	if n := strings.Count(logged.String(), "portal: refused edge from"); n == 0 || n > 8 {
		t.Errorf("%d refusal lines for %d refused connections, want a few:\n%s", n, excess, logged.String())
	}
}

// TestStoppedRunnerClosesQueued: a connection queued for a remote runner
// that stops before taking it (offered between offerEdge's check and the
// runner's end) is closed with the runner, not left open.
func TestStoppedRunnerClosesQueued(t *testing.T) {
	g := newEdgeRig(t)
	e := pipeEdge(t, g.serial)
	g.r.edges <- e
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	g.r.superviseRemote(ctx)
	waitClosed(t, e, "the connection queued for a stopped runner")
	if len(g.r.edges) != 0 {
		t.Error("the connection is still queued for a stopped runner")
	}
}

// TestRevokedWhileDisconnectedDropsSessions: revoking a remote plugin
// whose sessions the host keeps while it is disconnected drops them at
// once, not at the end of the reattach grace.
func TestRevokedWhileDisconnectedDropsSessions(t *testing.T) {
	g, _ := probeRig(t)
	r := g.runner("edge1", true)
	if got := g.connect(r, 1); got != "edge1" {
		t.Fatalf("session 1 is owned by %q, want edge1", got)
	}
	r.remote, r.edges, r.revoked = true, make(chan *edgeConn, 1), make(chan struct{}, 1)
	r.done, r.settled = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go r.superviseRemote(ctx)
	defer func() {
		cancel()
		<-r.done
	}()
	r.dropEdge()
	deadline := time.Now().Add(3 * time.Second)
	for g.owner(1) != "" {
		if time.Now().After(deadline) {
			t.Fatal("session 1 is still in the game after its remote plugin was revoked")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReattachTokenReplacesInstance: a connection whose hello presents
// what the last run recorded is reattached, and this run records (and
// gives the plugin, in Configure) a fresh token of the host's in place of
// what the hello said: the next reattach needs that token, which only the
// plugin at the other end of this connection was told.
func TestReattachTokenReplacesInstance(t *testing.T) {
	g := newEdgeRig(t)
	e := pipeEdge(t, g.serial)
	said := e.c.Instance
	if err := g.m.writeRecord(record{Name: "edge1", Instance: said.String()}); err != nil {
		t.Fatal(err)
	}
	g.r.edge = e
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, rec, err := g.r.takeEdge(ctx)
	if err != nil || rec == nil {
		t.Fatalf("takeEdge = %v, %v; want a reattach to the recorded hello", rec, err)
	}
	token := g.r.reattachToken()
	if len(token) != edge.InstanceSize || bytes.Equal(token, said[:]) {
		t.Fatalf("reattach token %x: want a fresh one, not the hello's %x", token, said[:])
	}
	var next record
	e.fillRecord(&next)
	if next.Instance != hex.EncodeToString(token) {
		t.Errorf("the run records %s, want its reattach token %x", next.Instance, token)
	}
}
