package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/portico-mud/portico/sdk"
)

// ProtocolKey is the protocol_key of websocket sessions (Evennia's).
const ProtocolKey = "websocket"

// shutdownWait bounds how long Shutdown waits for goodbyes to be written
// and closing handshakes to end before it drops what is left.
const shutdownWait = 3 * time.Second

// Plugin is the websocket protocol plugin.
type Plugin struct {
	portal *sdk.Portal
	log    *slog.Logger
	// set holds what Reconfigure changes while connections read it.
	set atomic.Pointer[settings]
	// tlsCfg serves HTTPS/WSS when tls_cert and tls_key are given.
	tlsCfg *tls.Config
	srv    *http.Server
	// ctx lives until Shutdown; every connection's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts connection handlers. Each is added under mu while closed
	// is false, so that no Add can follow Shutdown's Wait.
	wg sync.WaitGroup
	// serving counts the HTTP server's Serve calls (one per listener: a new
	// listen address is served beside the old one until that is closed).
	serving sync.WaitGroup
	// connectionEnded, set by tests, is called once a connection's end has
	// been handled (its session detached or ended).
	connectionEnded func(code websocket.StatusCode)

	// openMu makes finding a session to resume and creating a new one
	// atomic, so that two connections with one csessid cannot both make
	// a session.
	openMu sync.Mutex

	// now is the clock resume tokens expire by (a test's fake clock).
	now func() time.Time
	// firstWait bounds the wait for a portico.v1 connection's first
	// message (firstMessageWait; shorter in tests).
	firstWait time.Duration
	// idWait bounds a new connection's wait for a session id, besides
	// its wait in the connection queue (newSessionTimeout; shorter in
	// tests).
	idWait time.Duration
	// tellWait is how long a connection over its address's limit is
	// kept to be told so (sdk.DefaultTellWait; shorter in tests).
	tellWait time.Duration

	mu sync.Mutex
	// ln is the listener new clients come in on.
	ln net.Listener
	// clients holds the resumable sessions by resume key.
	clients map[resumeKey]*client
	// conns counts the listener's TCP connections, by client network,
	// against the host's connections_per_ip from accept until they close
	// (sdk.LimitListener): HTTP connections that have not sent their
	// request, idle keep-alive ones, websockets. A trusted proxy's
	// connections are not counted: its clients are, by pending and by
	// the SDK.
	conns *sdk.AddressCounter
	// pending counts, by client network (sdk.ClientNetwork) as the
	// request names it (X-Forwarded-For from a trusted proxy), the
	// connections without a session yet (a portico.v1 one waits up to
	// firstMessageWait for its first message) against the host's
	// connections_per_ip. The SDK counts sessions; this counts what comes
	// before them, so that one address cannot hold more silent
	// connections than it may hold sessions, behind a proxy too.
	//
	// Both come from Portal.NewAddressCounter, so that they keep the
	// current host's limit: a host that reattaches does not call
	// Configure again.
	pending *sdk.AddressCounter
	socks   map[*socket]struct{}
	closed  bool
}

// settings are the config block and the host's facts as connections use
// them, replaced whole by Reconfigure.
type settings struct {
	cfg  Config
	host sdk.HostInfo
	// maxMsg is the largest message a client may send (messageLimit).
	maxMsg int
	// protos is what Accept negotiates: the configured subprotocols, and
	// v1.evennia.com and portico.v1 last if they leave them out, so that a
	// browser that offers one (ours offers portico.v1) is never refused:
	// Chromium fails a handshake that answers an offer with no subprotocol.
	protos  []string
	proxies []netip.Prefix
	// site is the page, rendered for the host's facts.
	site *site
}

// settings returns what connections go by now.
func (p *Plugin) settings() *settings { return p.set.Load() }

var (
	_ sdk.Plugin       = (*Plugin)(nil)
	_ sdk.Validator    = (*Plugin)(nil)
	_ sdk.Reconfigurer = (*Plugin)(nil)
)

// load decodes and checks the block (every problem, each naming its key)
// and derives the settings for the host's facts.
func load(cfg sdk.Config) (*settings, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	proxies, _ := parseProxies(c.TrustedProxies) // Validate checked them
	// The host's limits.trusted_proxies count as well as the plugin's own.
	hostProxies, _ := cfg.Host.TrustedProxies.Parse() // the host's Load checked them
	proxies = append(proxies, hostProxies...)
	st, err := newSite(cfg.Host)
	if err != nil {
		return nil, err
	}
	return &settings{cfg: c, host: cfg.Host, maxMsg: c.messageLimit(cfg.Host.MaxInputLength),
		protos: acceptedSubprotocols(c.Subprotocols), proxies: proxies, site: st}, nil
}

// loadTLS loads the configured certificate pair, if any.
func loadTLS(c Config, dataDir string) (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(resolve(dataDir, c.TLSCert), resolve(dataDir, c.TLSKey))
	if err != nil {
		return nil, sdk.KeyError("tls_cert", "%v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Validate checks the block as Configure would, that the certificate pair
// loads and that the address is free (bar the one this plugin already
// listens on), without listening.
// Every problem is reported, not just the first.
func (p *Plugin) Validate(_ context.Context, cfg sdk.Config) error {
	c := defaultConfig()
	errs := []error{cfg.Decode(&c), c.Validate()}
	if (c.TLSCert == "") == (c.TLSKey == "") {
		_, err := loadTLS(c, cfg.Host.DataDir)
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err == nil {
		errs = append(errs, cfg.CheckListen("listen", c.Listen))
	}
	return errors.Join(errs...)
}

// Configure validates the config and starts serving.
func (p *Plugin) Configure(ctx context.Context, cfg sdk.Config, portal *sdk.Portal) (sdk.Info, error) {
	set, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("websocket: %w", err)
	}
	c := set.cfg
	tlsCfg, err := loadTLS(c, cfg.Host.DataDir)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("websocket: %w", err)
	}
	ln, err := sdk.Listen("listen", c.Listen)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("websocket: %w", err)
	}
	p.portal, p.log, p.tlsCfg = portal, portal.Log(), tlsCfg
	p.set.Store(set)
	// Both from the portal, so that they keep the current host's limit
	// (a reattach or a Reconfigure of host facts sets it anew), and kept
	// across a listen swap: a client's count does not start afresh on the
	// new address.
	p.conns, p.pending = portal.NewAddressCounter(), portal.NewAddressCounter()
	if p.tellWait == 0 {
		p.tellWait = sdk.DefaultTellWait
	}
	ln = p.limitListener(ln)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.clients = map[resumeKey]*client{}
	if p.now == nil {
		p.now = time.Now
	}
	if p.firstWait == 0 {
		p.firstWait = firstMessageWait
	}
	if p.idWait == 0 {
		p.idWait = newSessionTimeout
	}
	p.socks = map[*socket]struct{}{}
	p.srv = &http.Server{
		Handler:           p.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if sdk.OverLimit(c) {
				return context.WithValue(ctx, overLimitKey{}, true)
			}
			return ctx
		},
	}
	p.serve(ln)
	p.log.Info("websocket: listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil,
		"subprotocols", c.Subprotocols, "resume_grace", time.Duration(c.ResumeGrace), "max_message_size", set.maxMsg)
	return p.info(), nil
}

// serve runs the HTTP server on ln until ln or the server closes.
func (p *Plugin) serve(ln net.Listener) {
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			p.log.Error("websocket: serve", "err", err)
		}
	}()
}

// info is the plugin's Info with its listener as it is now.
func (p *Plugin) info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := sdk.ListenerOf("webclient", p.ln)
	scheme := "http"
	if p.tlsCfg != nil {
		scheme = "https"
	}
	l.URL = scheme + "://" + l.Address + "/"
	return sdk.Info{ProtocolKey: ProtocolKey, Capabilities: []string{"oob"}, Listeners: []sdk.Listener{l}}
}

// Reconfigure applies a new block, or new host facts, keeping every
// connection and every session waiting for a resume: a new listen address
// is opened and the old one closed; the page is rendered afresh (a new
// server name or max_input_length); subprotocols, allowed_origins,
// trusted_proxies, ping times and max_message_size apply to connections
// made from then on, resume_grace to every session from then on,
// command_rate and output_buffer to new sessions. tls_cert and tls_key
// need a restart.
func (p *Plugin) Reconfigure(_ context.Context, cfg sdk.Config) (sdk.Info, error) {
	set, err := load(cfg)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("websocket: %w", err)
	}
	old := p.settings().cfg
	c := set.cfg
	switch {
	case c.TLSCert != old.TLSCert:
		return sdk.Info{}, sdk.RestartNeeded("tls_cert")
	case c.TLSKey != old.TLSKey:
		return sdk.Info{}, sdk.RestartNeeded("tls_key")
	}
	if c.Listen != old.Listen {
		ln, err := sdk.Listen("listen", c.Listen)
		if err != nil {
			return sdk.Info{}, fmt.Errorf("websocket: %w", err)
		}
		// Wrapped as Configure wraps the first: counted from accept in
		// the same counter, the old listener's connections included.
		ln = p.limitListener(ln)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			ln.Close()
			return sdk.Info{}, errors.New("websocket: shut down")
		}
		prev := p.ln
		p.ln = ln
		p.mu.Unlock()
		p.log.Info("websocket: listening", "addr", ln.Addr().String(), "instead_of", prev.Addr().String())
		p.serve(ln)
		// Its Serve ends; the connections it accepted stay.
		prev.Close()
	}
	p.set.Store(set)
	return p.info(), nil
}

// limitListener wraps a TCP listener of the plugin: each connection is
// counted by its client network (connNetwork) in p.conns from accept, a
// connection over the host's connections_per_ip refused there (a few told
// why), and the rest served over TLS when it is on. Counted under TLS: a
// connection over the limit is closed before it costs a handshake or a
// request is read from it.
func (p *Plugin) limitListener(ln net.Listener) net.Listener {
	log := p.log
	// At the open-file limit a client is told with an HTTP 503 (nothing
	// under TLS, whose client expects a handshake), and the limit is
	// logged once rather than at every accept (http.Server would log each
	// retry).
	refusal := sdk.RefusalHTTP
	if p.tlsCfg != nil {
		refusal = nil
	}
	ln = sdk.FileLimitListener(ln, sdk.FileLimitOptions{Refusal: refusal, Log: log, Name: "websocket"})
	ln = sdk.LimitListener(ln, p.conns, sdk.LimitOptions{
		Network: p.connNetwork,
		Refused: func(a net.Addr) {
			log.Debug("websocket: connection refused: connections_per_ip connections open from its address", "addr", a.String())
		},
		// A few are told why, as a client the SDK refuses is: a player
		// over the limit sees the reason, not a connection that failed.
		Tell: maxTelling, TellWait: p.tellWait,
	})
	if p.tlsCfg != nil {
		ln = tls.NewListener(ln, p.tlsCfg)
	}
	return ln
}

// maxTelling bounds the connections over their address's limit that are
// told so at once, whatever their addresses; past it one is closed
// without a word.
const maxTelling = 64

// overLimitKey marks, in a request's context, a connection over its
// address's connections_per_ip (sdk.OverLimit), to be told so.
type overLimitKey struct{}

// connNetwork returns what a TCP connection from remote counts under in
// the per-address count from accept: its client network, or nothing for a
// trusted proxy (trusted_proxies as they are now), every client behind
// which comes from the proxy's address. Those clients are counted by the
// address the proxy names, once a request says it: from the handshake on
// (pending), and as sessions.
func (p *Plugin) connNetwork(remote net.Addr) string {
	if ta, ok := remote.(*net.TCPAddr); ok {
		if proxies := p.settings().proxies; len(proxies) > 0 && trusted(ta.AddrPort().Addr(), proxies) {
			return ""
		}
	}
	return sdk.ClientNetwork(remote.String())
}

// acceptedSubprotocols is the configured list with v1.evennia.com and
// then portico.v1 added at the end when missing: the page speaks
// portico.v1 and must work whatever the list says, and a client that
// offers several formats keeps getting the one it got before portico.v1
// existed.
func acceptedSubprotocols(configured []string) []string {
	out := append([]string(nil), configured...)
	for _, want := range []string{ProtoV1, ProtoPortico} {
		if !slices.ContainsFunc(out, func(p string) bool { return strings.EqualFold(p, want) }) {
			out = append(out, want)
		}
	}
	return out
}

// resolve makes a relative file name relative to the data directory.
func resolve(dataDir, name string) string {
	if filepath.IsAbs(name) || dataDir == "" {
		return name
	}
	return filepath.Join(dataDir, name)
}

// Addr returns the address the plugin listens on.
func (p *Plugin) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln.Addr()
}

// Shutdown stops serving. The SDK has closed every session already, which
// queued each client's goodbye and a 1000 close; they get a moment to go
// out before every connection left is dropped.
func (p *Plugin) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	clients := make([]*client, 0, len(p.clients))
	for _, c := range p.clients {
		clients = append(clients, c)
	}
	p.mu.Unlock()
	// Sessions waiting for a resume have no socket to be told on; they
	// end here, with their timers.
	for _, c := range clients {
		c.Close("")
	}
	wait, cancel := context.WithTimeout(ctx, shutdownWait)
	defer cancel()
	err := p.srv.Shutdown(wait)
	if !waitGroup(wait, &p.wg) {
		p.cancel()
		for _, s := range p.sockets() {
			s.kill()
		}
		final, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if !waitGroup(final, &p.wg) {
			err = errors.Join(err, errors.New("websocket: shutdown: connections still open"))
		}
	}
	p.cancel()
	p.serving.Wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("websocket: shutdown: %w", err)
	}
	return nil
}

// waitGroup waits for wg until ctx ends; it reports whether wg finished.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// track records a live socket and counts its handler in wg; it reports
// false once Shutdown began, and then the socket must not be served.
func (p *Plugin) track(s *socket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.socks[s] = struct{}{}
	p.wg.Add(1)
	return true
}

// untrack forgets a socket whose handler is done.
func (p *Plugin) untrack(s *socket) {
	p.mu.Lock()
	delete(p.socks, s)
	p.mu.Unlock()
	p.wg.Done()
}

func (p *Plugin) sockets() []*socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*socket, 0, len(p.socks))
	for s := range p.socks {
		out = append(out, s)
	}
	return out
}

// resumeKey names a resumable session: its resume token (csessid) and how
// the token came. Tokens from URLs and tokens from first messages never
// resume each other's sessions: a token the page keeps out of URLs must
// not work once someone puts it in one.
type resumeKey struct {
	token string
	inURL bool
}

// lookup returns the resumable client with key, or nil.
func (p *Plugin) lookup(key resumeKey) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[key]
}

// register makes c resumable by key, if it has a key (and resumes are on).
func (p *Plugin) register(c *client, key resumeKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.key = key
	if key.token != "" && p.settings().cfg.ResumeGrace > 0 && !p.closed {
		p.clients[key] = c
	}
}

// unregister forgets c, unless another client holds its key by now.
func (p *Plugin) unregister(c *client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.key.token != "" && p.clients[c.key] == c {
		delete(p.clients, c.key)
	}
}

// keyOf returns the key that resumes c now.
func (p *Plugin) keyOf(c *client) resumeKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return c.key
}

// rekey makes key, in place of c's, the one that resumes c (a portico.v1
// resume gives the page a new token). c's old key resumes nothing from
// now on. A client no longer registered (it ended meanwhile) stays so.
func (p *Plugin) rekey(c *client, key resumeKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := c.key
	c.key = key
	if p.clients[old] == c {
		delete(p.clients, old)
		p.clients[key] = c
	}
}
