package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

// serverVersion is what the server says it is in the SSH version exchange
// ("SSH-2.0-Portico").
const serverVersion = "Portico"

// shutdownWait bounds how long Shutdown waits for goodbyes to be written
// and sessions to end.
const shutdownWait = 2 * time.Second

// Plugin is the SSH protocol plugin.
type Plugin struct {
	cfg     Config
	maxLine int
	portal  *sdk.Portal
	log     *slog.Logger
	ln      net.Listener
	srv     *gliderssh.Server
	hostKey gossh.Signer
	// open counts TCP connections, for max_connections.
	open atomic.Int64
	// startups counts the connections still logging in, per address.
	startups *startups
	// serving is closed when the accept loop has ended.
	serving chan struct{}

	mu    sync.Mutex
	conns map[*conn]struct{}
	// requests holds what sessions asked for, from the moment their shell
	// or command is accepted until their handler takes it.
	requests map[gliderssh.Session]sessionRequest
	// closed is set by Shutdown; a session starting after it is refused.
	closed bool
	wg     sync.WaitGroup
}

var _ sdk.Plugin = (*Plugin)(nil)

// Configure validates the config, loads (or generates) the host key and
// starts listening.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("ssh: %w", err)
	}
	if err := c.Validate(); err != nil {
		return sdk.Info{}, err
	}
	maxLine := c.MaxLineLength
	if maxLine == 0 {
		maxLine = cfg.Host.MaxInputLength
	}
	if cfg.Host.DataDir == "" && c.HostKey == "" {
		return sdk.Info{}, errors.New("ssh: no data dir to keep the host key in; set config key host_key")
	}
	log := portal.Log()
	path, generate := c.hostKeyPath(cfg.Host.DataDir)
	signer, err := loadHostKey(path, generate, log)
	if err != nil {
		return sdk.Info{}, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("ssh: listen %s: %w", c.Listen, err)
	}
	p.cfg, p.maxLine, p.portal, p.log, p.ln, p.hostKey = c, maxLine, portal, log, ln, signer
	p.conns = map[*conn]struct{}{}
	p.startups = newStartups(portal.NewAddressCounter())
	p.requests = map[gliderssh.Session]sessionRequest{}
	p.srv = p.newServer()
	p.serving = make(chan struct{})
	go func() {
		defer close(p.serving)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, gliderssh.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			p.log.Error("ssh: serve", "err", err)
		}
	}()
	log.Info("ssh: listening", "addr", ln.Addr().String(),
		"host_key", gossh.FingerprintSHA256(signer.PublicKey()))
	return sdk.Info{ProtocolKey: ProtocolKey}, nil
}

// newServer builds the gliderlabs server: the auth rules of auth.go, the
// limits of guard.go, sessions handled by handle, and nothing else (no
// port forwarding, no subsystems such as sftp).
func (p *Plugin) newServer() *gliderssh.Server {
	return &gliderssh.Server{
		Handler:                p.handle,
		HostSigners:            []gliderssh.Signer{p.hostKey},
		Version:                serverVersion,
		PublicKeyHandler:       admitKey,
		ServerConfigCallback:   p.serverConfig,
		ConnCallback:           p.connCallback,
		SessionRequestCallback: p.sessionRequestCallback,
		IdleTimeout:            time.Duration(p.cfg.IdleTimeout),
		MaxTimeout:             time.Duration(p.cfg.MaxTimeout),
		ChannelHandlers:        map[string]gliderssh.ChannelHandler{"session": p.sessionChannel},
		RequestHandlers:        map[string]gliderssh.RequestHandler{},
		SubsystemHandlers:      map[string]gliderssh.SubsystemHandler{},
		ConnectionFailedCallback: func(nc net.Conn, err error) {
			// Port scanners, clients giving up at the host key prompt,
			// failed handshakes: routine, so not above debug.
			p.log.Debug("ssh: handshake failed", "addr", nc.RemoteAddr().String(), "err", err)
		},
	}
}

// Addr returns the address the plugin listens on.
func (p *Plugin) Addr() net.Addr { return p.ln.Addr() }

// track records a live session; it reports false once Shutdown began.
func (p *Plugin) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

func (p *Plugin) untrack(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.wg.Done()
}

// Shutdown stops accepting, gives the sessions (already closed by the SDK
// with the host's reason) a moment to write their goodbyes, then closes
// every connection.
func (p *Plugin) Shutdown(ctx context.Context) error {
	if p.srv == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	wait, cancel := context.WithTimeout(ctx, shutdownWait)
	defer cancel()
	for _, c := range conns {
		c.Close("")
		select {
		case <-c.out.Done():
		case <-wait.Done():
		}
	}
	err := p.srv.Close()
	<-p.serving
	p.startups.closeAll()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-wait.Done():
		return errors.New("ssh: shutdown: sessions still open")
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("ssh: shutdown: %w", err)
	}
	return nil
}
