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
	"github.com/portico-mud/portico/sdk/connio"
)

// ProtocolKey is the protocol_key of plain telnet sessions (Evennia's).
const ProtocolKey = "telnet"

// negotiationTimeout is how long a new connection's option negotiation may
// take before its flags are synced to the host anyway (Evennia's 2 s).
const negotiationTimeout = 2 * time.Second

// Plugin is the telnet protocol plugin.
type Plugin struct {
	portal *sdk.Portal
	log    *slog.Logger
	// started is when the plugin started (MSSP's UPTIME).
	started time.Time
	// negotiationTimeout overrides the package default in tests.
	negotiationTimeout time.Duration
	// idleAfter overrides connio's default quiet time before a connection
	// is parked, in tests.
	idleAfter time.Duration

	// setMu guards what Reconfigure changes while connections read it:
	// cfg (max_line_length filled in from the host's limit), pol, mssp and
	// host. Tests that build a Plugin by hand set them before serving.
	setMu sync.RWMutex
	cfg   Config
	pol   *policy
	mssp  map[string][]string
	host  sdk.HostInfo

	mu sync.Mutex
	// given is the config block as given (max_line_length not filled in),
	// to tell what a Reconfigure changes.
	given Config
	ln    net.Listener // plain telnet
	tlsLn net.Listener // telnet over TLS, or nil
	// tlsConns counts the TLS listener's connections per client network
	// against the host's connections_per_ip, from accept on: a TLS
	// connection has no session until its handshake is done (up to
	// tlsHandshakeTimeout), so NewSession's count comes too late to stop
	// one address holding thousands of handshakes open. (tls_listen is
	// not swapped in place, so the counter lives as long as the plugin.)
	tlsConns *sdk.AddressCounter
	// conns are the open connections, each with its number in the order
	// they came (which of the keepalive's rounds reaches it).
	conns   map[*conn]uint64
	connSeq uint64
	// poller reads the plain connections itself and holds the TLS ones
	// that are idle, all without a goroutine each (nil: each keeps its
	// reading goroutine, as in tests that build a Plugin by hand).
	poller *connio.Poller
	// closed is set by Shutdown; a connection accepted just before the
	// listener closed is then dropped instead of served unseen.
	closed bool
	// keepaliveTimer sends the next round of IAC NOPs; nil while the
	// keepalive is off. One timer for the plugin rather than one per
	// connection: each of thousands of idle connections would otherwise
	// hold its own (112 bytes, and an entry in the runtime's timer heap).
	// keepaliveRound counts its rounds (keepaliveSlots).
	keepaliveTimer *time.Timer
	keepaliveRound uint64
	wg             sync.WaitGroup
}

var (
	_ sdk.Plugin       = (*Plugin)(nil)
	_ sdk.Validator    = (*Plugin)(nil)
	_ sdk.Reconfigurer = (*Plugin)(nil)
)

// loaded is a config block decoded and checked.
type loaded struct {
	cfg  Config
	pol  *policy
	mssp map[string][]string
}

// load decodes and checks the block: every problem, each naming its key.
func load(cfg sdk.Config) (loaded, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return loaded{}, err
	}
	if err := c.Validate(); err != nil {
		return loaded{}, err
	}
	pol, _ := newPolicy(c.DisableOptions) // Validate checked it
	mssp, _ := parseMSSPConfig(c.MSSP)    // and this
	return loaded{cfg: c, pol: pol, mssp: mssp}, nil
}

// Validate checks the block as Configure would, and that its addresses
// are free (bar those this plugin already listens on), without listening
// or writing anything.
// Every problem is reported, not just the first.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	c := defaultConfig()
	errs := []error{cfg.Decode(&c), c.Validate()}
	if wellFormed(c.Listen) {
		errs = append(errs, cfg.CheckListen("listen", c.Listen))
	}
	if c.TLSListen != "" {
		errs = append(errs, checkTLS(c.TLSCert, c.TLSKey, cfg.Host.DataDir))
		if wellFormed(c.TLSListen) && c.TLSListen != c.Listen {
			errs = append(errs, cfg.CheckListen("tls_listen", c.TLSListen))
		}
	}
	return errors.Join(errs...)
}

// wellFormed reports whether addr is host:port (Config.Validate reports
// it otherwise).
func wellFormed(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

// Configure validates the config and starts listening.
func (p *Plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	l, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: %w", err)
	}
	c := l.cfg
	var tlsCfg *tls.Config
	if c.TLSListen != "" {
		if tlsCfg, err = loadTLS(c.TLSCert, c.TLSKey, cfg.Host.DataDir); err != nil {
			return sdk.Info{}, fmt.Errorf("telnet: %w", err)
		}
	}
	ln, err := listen(portal.Log(), "listen", c.Listen, sdk.RefusalLine)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: %w", err)
	}
	var tlsLn net.Listener
	var tlsConns *sdk.AddressCounter
	if tlsCfg != nil {
		// Refused at the open-file limit without a word: the client
		// expects a TLS handshake, not text.
		raw, err := listen(portal.Log(), "tls_listen", c.TLSListen, nil)
		if err != nil {
			ln.Close()
			return sdk.Info{}, fmt.Errorf("telnet: %w", err)
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
	p.portal, p.log, p.started = portal, portal.Log(), time.Now()
	p.apply(l, cfg.Host)
	// The poller reads plain telnet connections itself, a round of ready
	// ones at a time, their input reaching the host in one write per
	// round; TLS ones are read by a goroutine while busy.
	poller, err := connio.NewPollerWith(connio.PollerOptions{ReadInline: true, Batch: portal.Cork})
	if err != nil {
		// Only memory is at stake: idle connections keep a goroutine.
		p.log.Warn("telnet: idle connections will each keep a goroutine", "err", err)
	}
	p.mu.Lock()
	p.poller = poller
	p.given, p.ln, p.tlsLn, p.tlsConns = c, ln, tlsLn, tlsConns
	p.conns = map[*conn]uint64{}
	p.restartKeepaliveLocked()
	p.mu.Unlock()
	p.log.Info("telnet: listening", "addr", ln.Addr().String())
	p.serveListener(ctx, ln, ProtocolKey)
	if tlsLn != nil {
		p.log.Info("telnet: listening (TLS)", "addr", tlsLn.Addr().String())
		p.serveListener(ctx, tlsLn, ProtocolKeyTLS)
	}
	return p.info(), nil
}

// apply makes l's settings and the host's facts the ones connections
// read.
func (p *Plugin) apply(l loaded, host sdk.HostInfo) {
	c := l.cfg
	if c.MaxLineLength == 0 {
		c.MaxLineLength = host.MaxInputLength
	}
	p.setMu.Lock()
	p.cfg, p.pol, p.mssp, p.host = c, l.pol, l.mssp, host
	p.setMu.Unlock()
}

// info is the plugin's Info with its listeners as they are now.
func (p *Plugin) info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	info := sdk.Info{ProtocolKey: ProtocolKey, Capabilities: []string{"oob"}}
	if p.ln != nil {
		info.Listeners = append(info.Listeners, sdk.ListenerOf("telnet", p.ln))
	}
	if p.tlsLn != nil {
		info.Listeners = append(info.Listeners, sdk.ListenerOf("telnet+tls", p.tlsLn))
	}
	return info
}

// Reconfigure applies a new block, or new host facts, keeping every
// connection: max_line_length, keepalive, disable_options and mssp (and
// the host's max_input_length and server name) take effect at once for
// what connections read from then on; a new listen address is opened,
// then the old one closed, its connections staying. The TLS keys need a
// restart.
func (p *Plugin) Reconfigure(ctx context.Context, cfg sdk.Config) (sdk.Info, error) {
	l, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("telnet: %w", err)
	}
	c := l.cfg
	p.mu.Lock()
	old := p.given
	closed := p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return sdk.Info{}, errors.New("telnet: shut down")
	case c.TLSListen != old.TLSListen:
		return sdk.Info{}, sdk.RestartNeeded("tls_listen")
	case c.TLSListen != "" && (c.TLSCert != old.TLSCert || c.TLSKey != old.TLSKey):
		return sdk.Info{}, sdk.RestartNeeded("tls_cert")
	}
	if c.Listen != old.Listen {
		ln, err := listen(p.log, "listen", c.Listen, sdk.RefusalLine)
		if err != nil {
			return sdk.Info{}, fmt.Errorf("telnet: %w", err)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			ln.Close()
			return sdk.Info{}, errors.New("telnet: shut down")
		}
		prev := p.ln
		p.ln = ln
		p.mu.Unlock()
		p.log.Info("telnet: listening", "addr", ln.Addr().String(), "instead_of", prev.Addr().String())
		p.serveListener(ctx, ln, ProtocolKey)
		// Its accept loop ends; the connections it accepted stay.
		prev.Close()
	}
	p.apply(l, cfg.Host)
	p.mu.Lock()
	p.given = c
	if c.Keepalive != old.Keepalive {
		p.restartKeepaliveLocked()
	}
	p.mu.Unlock()
	return p.info(), nil
}

// listen opens the listener of config key key, told to refuse clients at
// the open-file limit with refusal (nil: without a word) and to log it once
// rather than at every accept.
func listen(log *slog.Logger, key, addr string, refusal []byte) (net.Listener, error) {
	ln, err := sdk.Listen(key, addr)
	if err != nil {
		return nil, err
	}
	return sdk.FileLimitListener(ln, sdk.FileLimitOptions{Refusal: refusal, Log: log, Name: "telnet"}), nil
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
			// The open-file limit never gets here (FileLimitListener
			// refuses clients itself); anything else is rare: back off
			// briefly.
			p.log.Warn("telnet: accept", "addr", ln.Addr().String(), "err", err)
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
		p.connSeq++
		p.conns[c] = p.connSeq
		p.wg.Add(1)
		p.mu.Unlock()
		// The connection is counted in wg until it ends, not while a
		// goroutine serves it: an idle one has none (see connio.Conn).
		go c.serve(ctx, func() {
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			p.wg.Done()
		})
	}
}

// allOptions is the policy with every option on.
var allOptions = defaultPolicy()

// policy returns the option policy (every option on for a Plugin built by
// hand in tests).
func (p *Plugin) policy() *policy {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	if p.pol == nil {
		return allOptions
	}
	return p.pol
}

// maxLine is the longest input line in characters (0: no limit).
func (p *Plugin) maxLine() int {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	return p.cfg.MaxLineLength
}

// webclientURL is the webclient's address told to browsers (may be "").
func (p *Plugin) webclientURL() string {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	return p.cfg.WebclientURL
}

// keepalive is the interval of the IAC NOP keepalive (0: off).
func (p *Plugin) keepalive() time.Duration {
	p.setMu.RLock()
	defer p.setMu.RUnlock()
	return time.Duration(p.cfg.Keepalive)
}

// restartKeepaliveLocked (re)starts the keepalive at the current
// interval, or stops it when the interval is 0 or the plugin is closed.
func (p *Plugin) restartKeepaliveLocked() {
	if p.keepaliveTimer != nil {
		p.keepaliveTimer.Stop()
		p.keepaliveTimer = nil
	}
	if ka := p.keepalive(); ka > 0 && !p.closed {
		p.keepaliveTimer = time.AfterFunc(ka/time.Duration(keepaliveSlots(ka)), p.keepaliveTick)
	}
}

// keepaliveSlots is how many rounds one keepalive interval ka is cut
// into: a second each, at most a minute's worth. Each round reaches the
// connections of its slot, so that a plugin with ten thousand clients
// writes a few hundred NOPs a second, not ten thousand at once (a burst
// that would hold up everyone's output, and wake every client together).
func keepaliveSlots(ka time.Duration) uint64 {
	return uint64(min(max(ka/time.Second, 1), 60))
}

// keepaliveDueLocked returns the connections keepalive round round
// reaches, of slots rounds an interval.
func (p *Plugin) keepaliveDueLocked(round, slots uint64) []*conn {
	conns := make([]*conn, 0, len(p.conns)/int(slots)+1)
	for c, n := range p.conns {
		if n%slots == round%slots {
			conns = append(conns, c)
		}
	}
	return conns
}

// keepaliveTick sends IAC NOP to the connections of this round's slot,
// then schedules the next round: every connection gets one NOP an
// interval, its first at most one interval after it connected. It counts
// in p.wg while it runs, so that Shutdown waits for a round under way.
func (p *Plugin) keepaliveTick() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	defer p.wg.Done()
	p.keepaliveRound++
	conns := p.keepaliveDueLocked(p.keepaliveRound, keepaliveSlots(p.keepalive()))
	p.mu.Unlock()
	for _, c := range conns {
		c.sendKeepalive()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A keepalive turned off or changed by a live edit meanwhile has
	// restarted the timer already, or stopped it.
	if ka := p.keepalive(); p.keepaliveTimer != nil && !p.closed && ka > 0 {
		p.keepaliveTimer.Reset(ka / time.Duration(keepaliveSlots(ka)))
	}
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
	p.setMu.RLock()
	in := msspInfo{extra: p.mssp, started: p.started.Unix(), serverName: p.host.ServerName, version: p.host.Version}
	p.setMu.RUnlock()
	if p.portal != nil {
		for _, s := range p.portal.All() {
			if s.LoggedIn() {
				in.players++
			}
		}
	}
	p.mu.Lock()
	if p.ln != nil {
		in.ports = append(in.ports, listenPort(p.ln))
	}
	if p.tlsLn != nil {
		in.tlsPort = listenPort(p.tlsLn)
	}
	p.mu.Unlock()
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
	p.mu.Lock()
	for _, ln := range []net.Listener{p.ln, p.tlsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	p.closed = true
	p.restartKeepaliveLocked() // stops it
	poller := p.poller
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
	// Connections still parked then go back to a goroutine each.
	defer poller.Close()
	select {
	case <-done:
		return nil
	case <-wait.Done():
		return errors.New("telnet: shutdown: connections still open")
	}
}
