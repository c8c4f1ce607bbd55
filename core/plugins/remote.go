package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/edge"
	"github.com/portico-mud/portico/sdk/launch"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Remote plugins: plugins.<name> blocks with remote: true. The operator
// starts such a plugin on another machine (`portico-telnet --connect
// HOST:PORT --identity DIR`); it dials server.portal_listen over TCP with
// mutual TLS, and the host takes the plugin's name from its verified
// certificate. Over the connection (sdk/edge: yamux, one gRPC stream kind
// and one data link kind) the host runs exactly what it runs for a local
// plugin (runOnce): only how the run reaches its plugin differs
// (pluginConn).
//
// A remote plugin whose connection ends has not crashed: its sessions stay
// in the game for server.reattach_grace while it is shown `waiting` with
// its last address. Output to them meanwhile is dropped, as output to a
// local plugin's sessions is between two host images; the plugin keeps
// its players' input and sends it when it is back. When it redials, its
// sessions are rebuilt as after a local reattach (a clean sync: sessions
// it no longer has are dropped). Each run gives the plugin a fresh random
// reattach token in Configure, recorded with the run; the plugin says it
// in its next hello (in place of its own random instance id). A hello that
// does not present the recorded token (another process, or one that only
// read a log) is a fresh start: its earlier sessions are dropped at once. Past the grace the
// sessions are dropped. A host that reloads or restarts keeps the record,
// and waits for its remote plugins to redial.

// StateWaiting is a remote plugin the host is waiting for: not connected
// yet, or connection lost (its sessions are kept for
// server.reattach_grace).
const StateWaiting = "waiting"

// aliveWait bounds the ping of a connected edge when a second connection
// arrives with the same name.
const aliveWait = 2 * time.Second

// edgeConn is a remote plugin's connection (pluginConn).
type edgeConn struct {
	c    *edge.Conn
	pc   portalpb.PortalClient
	addr string
	// serial is the serial number of the edge's verified client
	// certificate: revocation is checked again when the connection is
	// offered and when it is run, not only in the TLS handshake.
	serial *big.Int
	// token is the reattach token this run gives the plugin (Configure's
	// reattach_token): its next hello must present it for the host to
	// reattach, and the run's record keeps it in place of the id the
	// plugin chose.
	token edge.Instance
}

func (e *edgeConn) portal() portalpb.PortalClient { return e.pc }

// dataDialer opens a data link stream on the connection. tc is ignored:
// the connection is already mutually authenticated TLS.
func (e *edgeConn) dataDialer(resp *portalpb.ConfigureResponse, _ *tls.Config) dataDialer {
	return func(ctx context.Context) (net.Conn, *wire.FrameReader, error) {
		st, err := e.c.OpenData()
		if err != nil {
			return nil, nil, err
		}
		return launch.HelloData(ctx, st, "of the edge at "+e.addr, resp.GetDataSecret())
	}
}

func (e *edgeConn) fillRecord(rec *record) {
	rec.Network, rec.Addr, rec.Instance = "tcp", e.addr, e.token.String()
}

// reattachToken is the token the current run gives a remote plugin in
// Configure (nil for a local plugin).
func (r *runner) reattachToken() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.edge == nil {
		return nil
	}
	return r.edge.token[:]
}

func (e *edgeConn) gone() bool { return e.c.Closed() }

func (e *edgeConn) what(record) string { return "the connection from " + e.addr }

func (e *edgeConn) end(*runner, record) { e.c.Close() }

// takeEdge is a remote run's reach: the connection superviseRemote took.
// The record kept from an earlier connection of the same process makes
// the run a reattach (its sessions rebuilt, its grants and input receipt
// kept); another process is a fresh start, and the sessions of the one
// before are dropped.
func (r *runner) takeEdge(ctx context.Context) (pluginConn, *record, error) {
	r.mu.Lock()
	e := r.edge
	r.mu.Unlock()
	if e == nil {
		return nil, nil, fmt.Errorf("plugins: %s: no connection", r.name)
	}
	// Revoked while it said its hello or waited to be taken: it is not
	// run, and its sessions go with it (dropNow).
	if err := r.m.checkRevoked(e); err != nil {
		r.mu.Lock()
		r.dropNow = true
		r.mu.Unlock()
		e.c.Close()
		return nil, nil, fmt.Errorf("plugins: %s: %w", r.name, err)
	}
	// Each run gives the plugin a fresh token; the hello of this
	// connection is checked against the one the last run gave.
	token, err := edge.NewInstance()
	if err != nil {
		e.c.Close()
		return nil, nil, fmt.Errorf("plugins: %s: reattach token: %w", r.name, err)
	}
	e.token = token
	if rec, err := r.m.readRecord(r.name); err == nil && rec.Instance == e.c.Instance.String() {
		return e, rec, nil
	}
	r.log.Info("remote plugin connected as a new process", "addr", e.addr, "instance", e.c.Instance.Fingerprint())
	h := r.m.handler
	reason := fmt.Sprintf("The %s service restarted.", r.name)
	if err := h.Call(ctx, func() { h.PortalDisconnectAll(r.name, reason) }); err != nil {
		e.c.Close()
		return nil, nil, fmt.Errorf("plugins: %s: %w", r.name, err)
	}
	if err := r.launched(ctx); err != nil {
		e.c.Close()
		return nil, nil, err
	}
	r.m.removeRecord(r.name)
	return e, nil, nil
}

// superviseRemote runs a remote plugin: each connection the portal
// listener hands it is run as a local plugin's process is (runOnce); when
// one ends, the plugin's sessions are kept for server.reattach_grace, or
// dropped at once when the edge was refused from then on (revoked).
func (r *runner) superviseRemote(ctx context.Context) {
	defer r.endRemote()
	r.setState(StateWaiting)
	r.settle()
	var grace *time.Timer
	var graceC <-chan time.Time
	stopGrace := func() {
		if grace != nil {
			grace.Stop()
		}
		grace, graceC = nil, nil
	}
	defer stopGrace()
	for {
		// A runner stopped takes no connection queued meanwhile (select
		// would pick either at random).
		if ctx.Err() != nil {
			r.stopped()
			return
		}
		select {
		case <-ctx.Done():
			r.stopped()
			return
		case <-graceC:
			stopGrace()
			r.dropSessions("it did not come back within server.reattach_grace", "was lost")
			continue
		case <-r.revoked:
			// Revoked while disconnected: it is not waited for.
			stopGrace()
			r.dropSessions("its certificate was revoked", "was lost")
			continue
		case e := <-r.edges:
			stopGrace()
			r.mu.Lock()
			r.edge, r.addr = e, e.addr
			r.mu.Unlock()
		}
		err := r.runOnce(ctx)
		r.mu.Lock()
		e := r.edge
		r.client, r.edge = nil, nil
		stopping, drop := r.stopping, r.dropNow
		r.dropNow = false
		r.mu.Unlock()
		if errors.Is(err, errDetached) {
			// The host is handing over to its next image: the connection
			// ends with this one, and the plugin redials the next.
			e.c.Close()
			r.setState(StateDetached)
			r.log.Info("remote plugin handed over for reload")
			return
		}
		e.c.Close()
		if ctx.Err() != nil || stopping {
			r.stopped()
			return
		}
		r.mu.Lock()
		r.state = StateWaiting
		r.listeners = nil
		r.lastErr, r.lastErrAt = err.Error(), time.Now()
		r.mu.Unlock()
		if drop {
			r.dropSessions("its certificate was revoked", "was lost")
			continue
		}
		d := r.m.config().Server.ReattachGrace
		r.log.Warn("remote plugin lost; keeping its sessions while it redials", "addr", e.addr, "err", err,
			"reattach_grace", d)
		grace = time.NewTimer(d)
		graceC = grace.C
	}
}

// endRemote marks a remote runner done. Under offerMu: an offer that saw
// the runner still running has queued its connection by now, and none
// queues one after; what is queued ends with the runner.
func (r *runner) endRemote() {
	r.offerMu.Lock()
	defer r.offerMu.Unlock()
	close(r.done)
	if addr, ok := r.closeQueued(); ok {
		r.log.Info("remote plugin's connection closed: the plugin is no longer run", "addr", addr)
	}
}

// dropSessions ends the sessions the host kept for a remote plugin that
// is gone, saying why in the log; its players are told the service
// "was lost" or "stopped" (what).
func (r *runner) dropSessions(why, what string) {
	r.log.Warn("remote plugin gone; dropping its sessions", "why", why)
	reason := fmt.Sprintf("The %s service %s.", r.name, what)
	r.m.handler.Do(func() { r.m.handler.PortalDisconnectAll(r.name, reason) })
}

// stopped ends a remote plugin's supervision. One stopped on purpose (it
// was disabled, changed to local, or the host stops) takes its kept
// sessions with it, as a local plugin's supervisor does; a context ended
// otherwise (the host handing over for a reload) keeps them for the next
// image.
func (r *runner) stopped() {
	r.mu.Lock()
	stopping := r.stopping
	r.mu.Unlock()
	r.setState(StateStopped)
	if stopping {
		r.dropSessions("the plugin was stopped", "stopped")
	}
}

// offerEdge hands an accepted connection to the runner. A second
// connection while one is live is refused (it reports why); one whose
// predecessor no longer answers replaces it.
func (r *runner) offerEdge(e *edgeConn) error {
	r.offerMu.Lock()
	defer r.offerMu.Unlock()
	select {
	case <-r.done:
		return errors.New("the plugin is not being run (the host is stopping or reloading)")
	default:
	}
	if err := r.m.checkRevoked(e); err != nil {
		return err
	}
	r.mu.Lock()
	cur := r.edge
	r.mu.Unlock()
	if cur != nil && !cur.c.Closed() {
		if cur.c.Alive(aliveWait) {
			return fmt.Errorf("already connected from %s", cur.addr)
		}
		r.log.Warn("remote plugin's connection no longer answers; replacing it", "old", cur.addr, "new", e.addr)
		cur.c.Close()
	}
	// One never taken is superseded by this one.
	r.closeQueued()
	r.edges <- e
	return nil
}

// closeQueued empties the queue of connections offered to superviseRemote
// but not taken, closing them; it returns the address of the one it
// closed, if any. The caller holds offerMu, so that no offer slips in
// between.
func (r *runner) closeQueued() (addr string, ok bool) {
	select {
	case old := <-r.edges:
		old.c.Close()
		return old.addr, true
	default:
		return "", false
	}
}

// checkRevoked refuses a connection whose client certificate has been
// revoked since its handshake (or whose revocation cannot be read: a
// broken file must not let a revoked edge in).
func (m *Manager) checkRevoked(e *edgeConn) error {
	if m.Authority == nil || e.serial == nil {
		return nil
	}
	revoked, err := m.Authority.IsRevoked(e.serial)
	if err != nil {
		return fmt.Errorf("check its certificate's revocation: %w", err)
	}
	if revoked {
		return errors.New("its certificate was revoked")
	}
	return nil
}

// dropEdge closes the plugin's live connection and any connection queued
// for it; its sessions go at once (a revoked edge is not waited for),
// connected or not.
func (r *runner) dropEdge() (addr string, ok bool) {
	r.offerMu.Lock()
	qaddr, queued := r.closeQueued()
	r.offerMu.Unlock()
	r.mu.Lock()
	e := r.edge
	if e != nil {
		r.dropNow = true
	}
	r.mu.Unlock()
	if e == nil {
		// Not connected: the sessions kept for it go now, not at the
		// end of the grace.
		select {
		case r.revoked <- struct{}{}:
		default:
		}
		return qaddr, queued
	}
	e.c.Close()
	return e.addr, true
}

// maxHandshakes bounds the connections the portal verifies at once (TLS
// handshake and hello, each up to edge.HelloTimeout): past it a new
// connection is closed at once, so that a flood of connections that never
// identify themselves costs a bounded number of goroutines and files.
const maxHandshakes = 128

// Portal is the host's listener for remote plugins (server.portal_listen).
type Portal struct {
	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// handshakes holds a token per connection being verified.
	handshakes chan struct{}
	// refusals bounds the log lines about connections that never said
	// who they are (refused before a verified name): one a second after
	// a short burst, each with the count of those left out since.
	refusalsMu sync.Mutex
	refusals   sdk.RefusalLimiter
	unlogged   int
}

// refusedAnonymous logs the refusal of a connection that never identified
// itself, unless such lines come faster than the limiter allows; the next
// line logged says how many were left out.
func (p *Portal) refusedAnonymous(log *slog.Logger, addr string, why error) {
	p.refusalsMu.Lock()
	if !p.refusals.Allow(time.Now()) {
		p.unlogged++
		p.refusalsMu.Unlock()
		return
	}
	n := p.unlogged
	p.unlogged = 0
	p.refusalsMu.Unlock()
	log.Warn(fmt.Sprintf("portal: refused edge from %s: %v", addr, why), "addr", addr, "refused_unlogged", n)
}

// Addr is where the portal listens.
func (p *Portal) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting remote plugins and waits for the connections
// being accepted; the accepted ones are their runners' to end.
func (p *Portal) Close() {
	p.cancel()
	p.ln.Close()
	p.wg.Wait()
}

// ListenPortal accepts remote plugins on addr until the Portal is closed.
// tc is the host's TLS config (TLS 1.3, client certificates of its own CA
// required, revoked ones refused: core/pki); peerName names the plugin a
// verified connection is from. A connection is accepted when that name
// is an enabled remote plugin's; otherwise it is refused with one log line
// (`portal: refused edge NAME from ADDR: why`) and closed before the
// plugin is told anything.
func (m *Manager) ListenPortal(addr string, tc *tls.Config, peerName func(tls.ConnectionState) (string, error)) (*Portal, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("portal: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	limit := m.handshakeLimit
	if limit <= 0 {
		limit = maxHandshakes
	}
	p := &Portal{ln: ln, cancel: cancel, handshakes: make(chan struct{}, limit)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				m.log.Warn("portal: accept", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			select {
			case p.handshakes <- struct{}{}:
			default:
				conn.Close()
				p.refusedAnonymous(m.log, conn.RemoteAddr().String(),
					fmt.Errorf("%d connections are being verified already", cap(p.handshakes)))
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() { <-p.handshakes }()
				m.acceptEdge(ctx, p, tls.Server(conn, tc), peerName)
			}()
		}
	}()
	m.log.Info("portal: accepting remote plugins", "addr", ln.Addr().String())
	return p, nil
}

// acceptEdge verifies one connection and hands it to its plugin's runner.
func (m *Manager) acceptEdge(ctx context.Context, p *Portal, conn *tls.Conn, peerName func(tls.ConnectionState) (string, error)) {
	addr := conn.RemoteAddr().String()
	refuse := func(name string, why error) {
		if name == "" {
			p.refusedAnonymous(m.log, addr, why)
		} else {
			m.log.Warn(fmt.Sprintf("portal: refused edge %s from %s: %v", name, addr, why), "plugin", name, "addr", addr)
		}
		conn.Close()
	}
	// Until it is handed over, the connection ends with the portal.
	unhook := context.AfterFunc(ctx, func() { conn.Close() })
	defer unhook()
	hctx, cancel := context.WithTimeout(ctx, edge.HelloTimeout)
	err := conn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		refuse("", fmt.Errorf("TLS handshake: %w", err))
		return
	}
	name, err := peerName(conn.ConnectionState())
	if err != nil {
		refuse("", err)
		return
	}
	r := m.runner(name)
	if r == nil || !r.remote {
		refuse(name, fmt.Errorf("no enabled plugins.%s block with remote: true in %s", name, m.config().Path))
		return
	}
	c, err := edge.Accept(conn, name)
	if err != nil {
		refuse(name, err)
		return
	}
	if !unhook() {
		c.Close()
		return
	}
	e := &edgeConn{c: c, pc: portalpb.NewPortalClient(c.GRPC), addr: addr, serial: peerSerial(conn.ConnectionState())}
	if err := r.offerEdge(e); err != nil {
		c.Close()
		refuse(name, err)
		return
	}
	m.log.Info("portal: remote plugin connected", "plugin", name, "addr", addr)
}

// peerSerial is the serial of a connection's verified client certificate
// (nil without one: peerName has refused it already).
func peerSerial(cs tls.ConnectionState) *big.Int {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0][0].SerialNumber
}

// DropEdge closes remote plugin name's live connection at once, and drops
// its sessions (its certificate was revoked: it is refused from now on).
func (m *Manager) DropEdge(name, why string) {
	r := m.runner(name)
	if r == nil || !r.remote {
		return
	}
	if addr, ok := r.dropEdge(); ok {
		m.log.Warn(fmt.Sprintf("portal: closed edge %s from %s: %s", name, addr, why), "plugin", name, "addr", addr)
	}
}

// errRemoteRestart is Restart's answer for a remote plugin.
func errRemoteRestart(name string) error {
	return fmt.Errorf("plugins.%s is a remote plugin: the host does not start it; restart it on its edge machine "+
		"(e.g. systemctl restart there), or `portico portal revoke %s` to refuse it", name, name)
}

// dropEdgeQuietly closes the live connection as the host stops.
func (r *runner) dropEdgeQuietly() {
	r.mu.Lock()
	e := r.edge
	r.mu.Unlock()
	if e != nil {
		e.c.Close()
	}
}

// checkProtocol refuses a remote plugin whose reported protocol is not the
// one its block names (plugins.<name>.protocol, when set). A local
// block's protocol names its binary, and is not checked.
func (r *runner) checkProtocol(resp *portalpb.ConfigureResponse) error {
	spec := r.currentSpec()
	if !r.remote || spec.Protocol == "" || resp.GetProtocolKey() == spec.Protocol {
		return nil
	}
	r.mu.Lock()
	addr := r.addr
	r.mu.Unlock()
	err := fmt.Errorf("portal: refused edge %s from %s: it speaks protocol %q, but plugins.%s.protocol is %q",
		r.name, addr, resp.GetProtocolKey(), r.name, spec.Protocol)
	r.log.Warn(err.Error(), "addr", addr)
	return err
}

// applyRemote is Apply for a plugin that is remote (now or before): one
// that changes between local and remote is stopped and started anew; a
// remote one connected is handed a changed block as a local one is
// (Validate, then Configure in place), except that when it cannot apply
// it in place the host cannot restart it: the block waits for its next
// connection, and status says so. One not connected gets the block when
// it connects.
func (m *Manager) applyRemote(ctx context.Context, r *runner, p config.Plugin, next *config.Config, hostChanged bool) {
	switch {
	case r.remote != p.Remote:
		m.log.Info("plugin changed between local and remote; starting it anew", "plugin", r.name, "remote", p.Remote)
		r.stop(fmt.Sprintf("The %s service is moving. Please reconnect.", r.name))
		m.removeRecord(r.name)
		if p.Remote {
			if err := m.startPlugin(ctx, p, nil); err != nil {
				m.log.Error("start plugin", "plugin", p.Name, "err", err)
			}
			return
		}
		m.startChecked(ctx, p, next)
	case r.portalClient() == nil:
		r.mu.Lock()
		r.spec = p
		r.mu.Unlock()
	case !sameBlock(r.currentSpec(), p):
		m.reconfigure(ctx, r, p, next, hostChanged)
	default:
		r.mu.Lock()
		r.spec.Protocol = p.Protocol
		r.mu.Unlock()
		if hostChanged {
			m.refresh(ctx, r, next)
		}
	}
}
