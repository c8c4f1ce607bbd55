package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// ProtocolKey is the protocol_key of plain telnet sessions (Evennia's).
const ProtocolKey = "telnet"

// negotiationTimeout is how long a new connection's option negotiation may
// take before its flags are synced to the host anyway (Evennia's 2 s).
const negotiationTimeout = 2 * time.Second

// Plugin is the telnet protocol plugin.
type Plugin struct {
	cfg    Config
	pol    *policy
	mssp   map[string][]string
	portal *sdk.Portal
	host   sdk.HostInfo
	log    *slog.Logger
	ln     net.Listener // plain telnet
	tlsLn  net.Listener // telnet over TLS, or nil
	// tlsConns counts the TLS listener's connections per client network
	// against the host's connections_per_ip, from accept on: a TLS
	// connection has no session until its handshake is done (up to
	// tlsHandshakeTimeout), so NewSession's count comes too late to stop
	// one address holding thousands of handshakes open.
	tlsConns *sdk.AddressCounter
	// started is when the plugin started (MSSP's UPTIME).
	started time.Time
	// negotiationTimeout overrides the package default in tests.
	negotiationTimeout time.Duration

	mu    sync.Mutex
	conns map[*conn]struct{}
	// closed is set by Shutdown; a connection accepted just before the
	// listener closed is then dropped instead of served unseen.
	closed bool
	wg     sync.WaitGroup
}

var _ sdk.Plugin = (*Plugin)(nil)

// Configure validates the config and starts listening.
func (p *Plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: %w", err)
	}
	if err := c.Validate(); err != nil {
		return sdk.Info{}, err
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = cfg.Host.MaxInputLength
	}
	pol, err := newPolicy(c.DisableOptions)
	if err != nil {
		return sdk.Info{}, err
	}
	mssp, err := parseMSSPConfig(c.MSSP)
	if err != nil {
		return sdk.Info{}, err
	}
	var tlsCfg *tls.Config
	if c.TLSListen != "" {
		if tlsCfg, err = loadTLS(c.TLSCert, c.TLSKey, cfg.Host.DataDir); err != nil {
			return sdk.Info{}, err
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: listen %s: %w", c.Listen, err)
	}
	var tlsLn net.Listener
	var tlsConns *sdk.AddressCounter
	if tlsCfg != nil {
		raw, err := net.Listen("tcp", c.TLSListen)
		if err != nil {
			ln.Close()
			return sdk.Info{}, fmt.Errorf("telnet: config key tls_listen: listen %s: %w", c.TLSListen, err)
		}
		// Counted under TLS: a connection over the limit is closed before
		// its handshake costs anything. Plain telnet needs no such count:
		// its connections get their session, and NewSession's count, as
		// soon as they are accepted.
		log := portal.Log()
		tlsConns = portal.NewAddressCounter()
		tlsLn = tls.NewListener(sdk.LimitListener(raw, tlsConns, sdk.LimitOptions{Refused: func(a net.Addr) {
			log.Debug("telnet: TLS connection refused: connections_per_ip connections open from its address", "addr", a.String())
		}}), tlsCfg)
	}
	p.cfg, p.pol, p.mssp, p.portal, p.host, p.log = c, pol, mssp, portal, cfg.Host, portal.Log()
	p.ln, p.tlsLn, p.tlsConns, p.started = ln, tlsLn, tlsConns, time.Now()
	p.conns = map[*conn]struct{}{}
	p.log.Info("telnet: listening", "addr", ln.Addr().String())
	p.serveListener(ctx, ln, ProtocolKey)
	if tlsLn != nil {
		p.log.Info("telnet: listening (TLS)", "addr", tlsLn.Addr().String())
		p.serveListener(ctx, tlsLn, ProtocolKeyTLS)
	}
	return sdk.Info{ProtocolKey: ProtocolKey, Capabilities: []string{"oob"}}, nil
}

func (p *Plugin) serveListener(ctx context.Context, ln net.Listener, key string) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept(ctx, ln, key)
	}()
}

func (p *Plugin) accept(ctx context.Context, ln net.Listener, key string) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("telnet: accept", "addr", ln.Addr().String(), "err", err)
			// A transient error (too many open files): back off briefly.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		c := newConn(p, nc, key)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			c.serve(ctx)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

// allOptions is the policy with every option on.
var allOptions = defaultPolicy()

// policy returns the option policy (every option on for a Plugin built by
// hand in tests).
func (p *Plugin) policy() *policy {
	if p.pol == nil {
		return allOptions
	}
	return p.pol
}

// timeout returns how long negotiation may take.
func (p *Plugin) timeout() time.Duration {
	if p.negotiationTimeout > 0 {
		return p.negotiationTimeout
	}
	return negotiationTimeout
}

// msspTable returns the MSSP table as of now.
func (p *Plugin) msspTable() []msspVar {
	in := msspInfo{extra: p.mssp, started: p.started.Unix(), serverName: p.host.ServerName, version: p.host.Version}
	if p.portal != nil {
		for _, s := range p.portal.All() {
			if s.LoggedIn() {
				in.players++
			}
		}
	}
	if p.ln != nil {
		in.ports = append(in.ports, listenPort(p.ln))
	}
	if p.tlsLn != nil {
		in.tlsPort = listenPort(p.tlsLn)
	}
	return msspTable(in)
}

func listenPort(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Shutdown stops accepting and waits (briefly) for goodbyes to be written.
func (p *Plugin) Shutdown(ctx context.Context) error {
	for _, ln := range []net.Listener{p.ln, p.tlsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	p.mu.Lock()
	p.closed = true
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range conns {
		c.Close("")
		select {
		case <-c.w.Done():
		case <-wait.Done():
			c.nc.Close()
		}
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-wait.Done():
		return errors.New("telnet: shutdown: connections still open")
	}
}
