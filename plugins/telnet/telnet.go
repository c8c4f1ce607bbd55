package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/portico-mud/portico/sdk"
)

// ProtocolKey is the protocol_key of telnet sessions (Evennia's).
const ProtocolKey = "telnet"

// Config is the plugin's block in config.yaml (plugins.telnet.config).
type Config struct {
	// Listen is the address to accept telnet clients on.
	Listen string `json:"listen"`
	// MaxLineLength is the longest line in characters; 0 takes the host's
	// limits.max_input_length.
	MaxLineLength int `json:"max_line_length"`
}

// DefaultListen is Evennia's telnet port.
const DefaultListen = ":4000"

// Validate checks the config, naming the bad key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("telnet: config key listen: %q is not host:port: %w", c.Listen, err)
	}
	if c.MaxLineLength < 0 {
		return fmt.Errorf("telnet: config key max_line_length: must not be negative")
	}
	return nil
}

// Plugin is the telnet protocol plugin.
type Plugin struct {
	cfg    Config
	portal *sdk.Portal
	log    *slog.Logger
	ln     net.Listener

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
	c := Config{Listen: DefaultListen}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: %w", err)
	}
	if err := c.Validate(); err != nil {
		return sdk.Info{}, err
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = cfg.Host.MaxInputLength
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: listen %s: %w", c.Listen, err)
	}
	p.cfg, p.portal, p.log, p.ln = c, portal, portal.Log(), ln
	p.conns = map[*conn]struct{}{}
	p.log.Info("telnet: listening", "addr", ln.Addr().String())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept(ctx)
	}()
	return sdk.Info{ProtocolKey: ProtocolKey}, nil
}

func (p *Plugin) accept(ctx context.Context) {
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("telnet: accept", "err", err)
			// A transient error (too many open files): back off briefly.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		c := newConn(p, nc)
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

// Shutdown stops accepting and waits (briefly) for goodbyes to be written.
func (p *Plugin) Shutdown(ctx context.Context) error {
	if p.ln != nil {
		p.ln.Close()
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
