package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

// A guard bounds what one TCP connection may hold, so that no client can
// stop the plugin or starve other players: how many connections one
// address may hold before they log in, how long a connection may take to
// authenticate and to open a session, how many sessions it may open, how
// many env requests it may send, and when a dead one is closed.
// gliderlabs/ssh has none of these of its own except a whole-connection
// idle and absolute timeout.

const (
	// lingerAfterLast is how long a connection whose last session ended is
	// left for the client to close, before the server closes it. Closing
	// at once could cut off the client's reply to the channel close, which
	// OpenSSH reports as an error.
	lingerAfterLast = 10 * time.Second
	// maxEnvRequests bounds env requests per session: gliderlabs keeps
	// every one, so an endless stream would grow memory without end.
	maxEnvRequests = 64
	// keepaliveMisses is how many keepalives in a row may go unanswered.
	keepaliveMisses = 3
	// keepaliveRequest is OpenSSH's keepalive global request; any answer,
	// even a refusal, proves the client is there.
	keepaliveRequest = "keepalive@openssh.com"
)

// guardKey is the context key of a connection's guard.
type guardKey struct{}

// guard is one TCP connection's limits.
type guard struct {
	p  *Plugin
	nc net.Conn // the tracked TCP connection; Close ends everything
	// addr is the client's network as the per-address limit counts it
	// (sdk.ClientNetwork).
	addr string

	mu sync.Mutex
	// graceTimer closes the connection at login_grace unless the client
	// authenticated; loginTimer at login_timeout unless a shell or
	// command started.
	graceTimer *time.Timer
	loginTimer *time.Timer
	authed     bool // the SSH user authentication succeeded
	closed     bool // the connection is closed: no timer is started
	sessions   int
	started    bool // a shell or command ran: the login timer is off
	// admitted counts this connection's sessions the portal took (past
	// its connection limits).
	admitted int
	linger   *time.Timer
}

// trackedConn is a TCP connection that counts itself out once closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

// Close closes the connection and runs onClose once.
func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(t.onClose)
	return err
}

// connCallback is gliderlabs' ConnCallback, run for each accepted TCP
// connection before anything is read from it or written to it. It refuses
// the connection when its address already holds connections_per_ip
// connections still logging in, or when max_connections are open, and
// starts the login_grace and login_timeout timers. Returning nil makes
// gliderlabs close the connection at once: a refused client costs no key
// exchange.
func (p *Plugin) connCallback(ctx gliderssh.Context, nc net.Conn) net.Conn {
	g := &guard{p: p, addr: sdk.ClientNetwork(nc.RemoteAddr().String())}
	tc := &trackedConn{Conn: nc}
	tc.onClose = func() {
		p.open.Add(-1)
		g.stop()
	}
	g.nc = tc
	if why := p.startups.admit(g, &p.open, p.conf().MaxConnections); why != "" {
		p.log.Debug("ssh: connection refused: "+why, "addr", nc.RemoteAddr().String())
		return nil
	}
	g.mu.Lock()
	// Shutdown may have closed the connection already; its timers would
	// only outlive it.
	if !g.closed {
		g.graceTimer = time.AfterFunc(time.Duration(p.conf().LoginGrace), g.graceExpired)
		g.loginTimer = time.AfterFunc(time.Duration(p.conf().LoginTimeout), func() {
			p.log.Debug("ssh: login timeout", "addr", nc.RemoteAddr().String())
			tc.Close()
		})
	}
	g.mu.Unlock()
	ctx.SetValue(guardKey{}, g)
	return tc
}

// guardOf returns the connection's guard (nil for a connection the
// callback did not see, which only a test can make).
func guardOf(ctx gliderssh.Context) *guard {
	g, _ := ctx.Value(guardKey{}).(*guard)
	return g
}

// stop ends the guard's timers once the connection is closed, and counts
// it out of its address's connections logging in if it still was one.
func (g *guard) stop() {
	g.mu.Lock()
	g.closed = true
	for _, t := range []*time.Timer{g.graceTimer, g.loginTimer, g.linger} {
		if t != nil {
			t.Stop()
		}
	}
	g.mu.Unlock()
	g.p.startups.remove(g)
}

// authenticated records that the SSH user authentication succeeded: the
// login_grace timer is off. (The plugin admits every client; the host
// judges the credentials once a shell or command starts.)
func (g *guard) authenticated() {
	g.mu.Lock()
	g.authed = true
	if g.graceTimer != nil {
		g.graceTimer.Stop()
	}
	g.mu.Unlock()
}

// graceExpired closes a connection that did not authenticate within
// login_grace (OpenSSH's LoginGraceTime).
func (g *guard) graceExpired() {
	g.mu.Lock()
	authed := g.authed
	g.mu.Unlock()
	if authed {
		return
	}
	g.p.log.Debug("ssh: login grace expired", "addr", g.nc.RemoteAddr().String())
	g.nc.Close()
}

// admit counts a session of the connection that the portal took.
func (g *guard) admit() {
	g.mu.Lock()
	g.admitted++
	g.mu.Unlock()
}

// dismiss counts an admitted session out once it ended.
func (g *guard) dismiss() {
	g.mu.Lock()
	g.admitted--
	g.mu.Unlock()
}

// refused closes the connection after the portal refused one of its
// sessions (a connection limit; the client was told why), unless another
// of its sessions is in the game. Left open, a refused connection would
// linger uncounted (it no longer counts as logging in), and a client could
// pile them up past every limit.
func (g *guard) refused() {
	g.mu.Lock()
	alone := g.admitted == 0
	g.mu.Unlock()
	if alone {
		g.nc.Close()
	}
}

// begin counts a new session channel; it reports false past max_sessions.
func (g *guard) begin() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sessions >= g.p.conf().MaxSessions {
		return false
	}
	g.sessions++
	if g.linger != nil {
		g.linger.Stop()
		g.linger = nil
	}
	return true
}

// end counts a session channel out; after the last one the connection is
// closed unless the client closes it first.
func (g *guard) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sessions--
	if g.sessions == 0 && g.started {
		g.linger = time.AfterFunc(lingerAfterLast, func() { g.nc.Close() })
	}
}

// sessionStarted stops the login timer when the first shell or command
// starts, counts the connection out of those logging in (its sessions go
// to the portal, whose per-address limit counts them from here on), and
// starts keepalives on the connection.
func (g *guard) sessionStarted(ctx gliderssh.Context) {
	g.mu.Lock()
	first := !g.started
	g.started = true
	if first && g.loginTimer != nil {
		g.loginTimer.Stop()
	}
	g.mu.Unlock()
	if !first {
		return
	}
	g.p.startups.remove(g)
	if every := time.Duration(g.p.conf().Keepalive); every > 0 {
		if sc, ok := ctx.Value(gliderssh.ContextKeyConn).(*gossh.ServerConn); ok {
			go g.keepalive(ctx, sc, every)
		}
	}
}

// keepalive probes the client every interval until the connection ends,
// and closes it after keepaliveMisses probes in a row went unanswered. A
// probe waits in its own goroutine; it ends when the answer comes or the
// connection closes.
func (g *guard) keepalive(ctx gliderssh.Context, sc *gossh.ServerConn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var pending atomic.Bool
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if pending.Load() {
			missed++
			if missed >= keepaliveMisses {
				g.p.log.Debug("ssh: keepalive unanswered; closing", "addr", sc.RemoteAddr().String())
				g.nc.Close()
				return
			}
			continue
		}
		missed = 0
		pending.Store(true)
		go func() {
			if _, _, err := sc.SendRequest(keepaliveRequest, true, nil); err == nil {
				pending.Store(false)
			}
		}()
	}
}

// sessionChannel is the "session" channel handler: gliderlabs' own, behind
// the per-connection session limit and a filter on the channel's requests.
func (p *Plugin) sessionChannel(srv *gliderssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx gliderssh.Context) {
	g := guardOf(ctx)
	if g != nil {
		if !g.begin() {
			_ = nc.Reject(gossh.ResourceShortage, "too many sessions on this connection")
			return
		}
		defer g.end()
	}
	gliderssh.DefaultSessionHandler(srv, conn, filteredChannel{nc}, ctx)
}

// filteredChannel hands gliderlabs a session channel whose requests pass
// through filterRequests.
type filteredChannel struct{ gossh.NewChannel }

// Accept accepts the channel and filters its requests.
func (f filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := f.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go filterRequests(reqs, out)
	return ch, out, nil
}

// filterRequests passes a session's requests on to gliderlabs, in order,
// except:
//   - env requests past maxEnvRequests, which are refused;
//   - window changes before the shell or command starts, of which only the
//     latest is kept and passed on right after the start. gliderlabs
//     queues window sizes in a channel of one that only the session
//     handler drains, and the handler only runs after the shell request:
//     a resize in between would block gliderlabs' request loop for good.
func filterRequests(in <-chan *gossh.Request, out chan<- *gossh.Request) {
	defer close(out)
	env := 0
	started := false
	var heldResize *gossh.Request
	for req := range in {
		switch req.Type {
		case "env":
			env++
			if env > maxEnvRequests {
				if req.WantReply {
					_ = req.Reply(false, nil)
				}
				continue
			}
		case "window-change":
			if !started {
				if heldResize != nil && heldResize.WantReply {
					_ = heldResize.Reply(true, nil)
				}
				heldResize = req
				continue
			}
		}
		out <- req
		if !started && (req.Type == "shell" || req.Type == "exec" || req.Type == "subsystem") {
			started = true
			if heldResize != nil {
				out <- heldResize
				heldResize = nil
			}
		}
	}
	if heldResize != nil && heldResize.WantReply {
		_ = heldResize.Reply(false, nil)
	}
}
