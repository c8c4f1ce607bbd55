package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
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
	portal  *sdk.Portal
	log     *slog.Logger
	srv     *gliderssh.Server
	hostKey gossh.Signer
	// open counts TCP connections, for max_connections.
	open atomic.Int64
	// startups counts the connections still logging in, per address.
	startups *startups
	// serving counts the accept loops (one per listener: a new listen
	// address is served beside the old one until that is closed).
	serving sync.WaitGroup

	// setMu guards what Reconfigure changes while connections read it:
	// cfg and maxLine (max_line_length, or the host's limit).
	setMu   sync.RWMutex
	cfg     Config
	maxLine int

	mu sync.Mutex
	// given is the config block as given, to tell what a Reconfigure
	// changes; ln is the listener new clients come in on.
	given Config
	ln    net.Listener
	conns map[*conn]struct{}
	// requests holds what sessions asked for, from the moment their shell
	// or command is accepted until their handler takes it.
	requests map[gliderssh.Session]sessionRequest
	// closed is set by Shutdown; a session starting after it is refused.
	closed bool
	wg     sync.WaitGroup
}

var (
	_ sdk.Plugin       = (*Plugin)(nil)
	_ sdk.Validator    = (*Plugin)(nil)
	_ sdk.Reconfigurer = (*Plugin)(nil)
)

// load decodes and checks the block: every problem, each naming its key.
func load(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// lineLimit is the longest input line: max_line_length, or the host's.
func lineLimit(c Config, host sdk.HostInfo) int {
	if c.MaxLineLength == 0 {
		return host.MaxInputLength
	}
	return c.MaxLineLength
}

// Validate checks the block as Configure would, that its host key (when
// given) loads, and that its address is free (bar the one this plugin
// already listens on), without listening or writing anything.
// Every problem is reported, not just the first.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	c := defaultConfig()
	errs := []error{cfg.Decode(&c), c.Validate()}
	switch path, generate := c.hostKeyPath(cfg.Host.DataDir); {
	case cfg.Host.DataDir == "" && c.HostKey == "":
		errs = append(errs, sdk.KeyError("host_key", "no data dir to keep a generated host key in; set host_key"))
	case !generate:
		b, err := os.ReadFile(path)
		if err == nil {
			_, err = gossh.ParsePrivateKey(b)
		}
		if err != nil {
			errs = append(errs, sdk.KeyError("host_key", "%s: %v", path, unwrapPath(err)))
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err == nil {
		errs = append(errs, cfg.CheckListen("listen", c.Listen))
	}
	return errors.Join(errs...)
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Configure validates the config, loads (or generates) the host key and
// starts listening.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("ssh: %w", err)
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
	ln, err := listen(log, c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("ssh: %w", err)
	}
	p.cfg, p.maxLine, p.portal, p.log, p.hostKey = c, lineLimit(c, cfg.Host), portal, log, signer
	p.given, p.ln = c, ln
	p.conns = map[*conn]struct{}{}
	p.startups = newStartups(portal.NewAddressCounter())
	p.requests = map[gliderssh.Session]sessionRequest{}
	p.srv = p.newServer()
	p.serve(ln)
	log.Info("ssh: listening", "addr", ln.Addr().String(),
		"host_key", gossh.FingerprintSHA256(signer.PublicKey()))
	return p.info(), nil
}

// listen opens the listener, told to refuse clients at the open-file limit
// with a line of text (an SSH server may send lines before its version,
// RFC 4253 4.2; OpenSSH shows them with -v) and to log the limit once
// rather than at every accept.
func listen(log *slog.Logger, addr string) (net.Listener, error) {
	ln, err := sdk.Listen("listen", addr)
	if err != nil {
		return nil, err
	}
	return sdk.FileLimitListener(ln, sdk.FileLimitOptions{Refusal: sdk.RefusalLine, Log: log, Name: "ssh"}), nil
}

// serve runs an accept loop on ln until it is closed.
func (p *Plugin) serve(ln net.Listener) {
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, gliderssh.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			p.log.Error("ssh: serve", "err", err)
		}
	}()
}

// info is the plugin's Info with its listener as it is now.
func (p *Plugin) info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sdk.Info{ProtocolKey: ProtocolKey, Listeners: []sdk.Listener{sdk.ListenerOf("ssh", p.ln)}}
}

// conf returns the config connections go by now.
func (p *Plugin) conf() Config {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	return p.cfg
}

// lineMax returns the longest input line for a session starting now.
func (p *Plugin) lineMax() int {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	return p.maxLine
}

// Reconfigure applies a new block, or new host facts, keeping every
// connection: a new listen address is opened and the old one closed (its
// connections stay); login_grace, login_timeout, keepalive, exec_timeout,
// max_connections and max_sessions apply to what starts from then on, and
// so do max_line_length and the host's max_input_length (to new sessions)
// and connections_per_ip. host_key, idle_timeout and max_timeout need a
// restart.
func (p *Plugin) Reconfigure(_ context.Context, cfg sdk.Config) (sdk.Info, error) {
	c, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("ssh: %w", err)
	}
	p.mu.Lock()
	old, closed := p.given, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return sdk.Info{}, errors.New("ssh: shut down")
	case c.HostKey != old.HostKey:
		return sdk.Info{}, sdk.RestartNeeded("host_key")
	case c.IdleTimeout != old.IdleTimeout:
		// gliderlabs reads them per connection without a lock.
		return sdk.Info{}, sdk.RestartNeeded("idle_timeout")
	case c.MaxTimeout != old.MaxTimeout:
		return sdk.Info{}, sdk.RestartNeeded("max_timeout")
	}
	if c.Listen != old.Listen {
		ln, err := listen(p.log, c.Listen)
		if err != nil {
			return sdk.Info{}, fmt.Errorf("ssh: %w", err)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			ln.Close()
			return sdk.Info{}, errors.New("ssh: shut down")
		}
		prev := p.ln
		p.ln = ln
		p.mu.Unlock()
		p.log.Info("ssh: listening", "addr", ln.Addr().String(), "instead_of", prev.Addr().String())
		p.serve(ln)
		// Its accept loop ends; the connections it accepted stay.
		prev.Close()
	}
	p.setMu.Lock()
	p.cfg, p.maxLine = c, lineLimit(c, cfg.Host)
	p.setMu.Unlock()
	// The startups' counter needs nothing here: it comes from
	// Portal.NewAddressCounter, whose limit the host's Configure has
	// already set to the new connections_per_ip.
	p.mu.Lock()
	p.given = c
	p.mu.Unlock()
	return p.info(), nil
}

// newServer builds the gliderlabs server: the auth rules of auth.go, the
// limits of guard.go, sessions handled by handle, and nothing else (no
// port forwarding, no subsystems such as sftp).
func (p *Plugin) newServer() *gliderssh.Server {
	return &gliderssh.Server{
		Handler:                p.handle,
		HostSigners:            []gliderssh.Signer{p.hostKey},
		Version:                serverVersion,
		PublicKeyHandler:       p.admitKey,
		ServerConfigCallback:   p.serverConfig,
		ConnCallback:           p.connCallback,
		SessionRequestCallback: p.sessionRequestCallback,
		IdleTimeout:            time.Duration(p.conf().IdleTimeout),
		MaxTimeout:             time.Duration(p.conf().MaxTimeout),
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
func (p *Plugin) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln.Addr()
}

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
	_ = p.ln.Close()
	p.mu.Unlock()
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
	p.serving.Wait()
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
