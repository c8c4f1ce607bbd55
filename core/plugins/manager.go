// Package plugins launches and supervises the host's protocol plugins: each
// enabled plugin runs as its own process through go-plugin (gRPC over a unix
// socket in a 0700 directory, for the control calls), is handed its config
// block by Configure, and talks to the session handler over its data socket
// (datalink.go; the gRPC Link stream for a plugin that offers none). A
// plugin that dies, or stops answering on its link, has its sessions
// removed and is restarted with backoff; the others carry on.
package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Version is the host version told to plugins.
const Version = "0.1.0"

// Manager runs the plugins. It implements sessions.Portals.
type Manager struct {
	log     *slog.Logger
	logOut  io.Writer
	store   *store.Store
	handler *sessions.ServerSessionHandler
	cfg     *config.Config

	// OnRunning, when set, is called (on its own goroutine) each time a
	// plugin is running: launched, restarted or reattached. The host starts
	// the plugin's bots from it.
	OnRunning func(plugin, protocolKey string)
	// Meter, when set (before Start), counts the Links' traffic for the
	// host's metrics.
	Meter LinkMeter
	// Authority, when set (before Start), is the host's certificate
	// authority for remote plugins: the host opens it at start-up when
	// server.portal_listen is set. The listener for remote plugins takes
	// its TLS configuration (ServerConfig) and a connection's block name
	// (pki.PeerName) from it, and subscribes to its OnRevoke to drop a
	// revoked plugin's connection at once.
	Authority *pki.Authority

	mu      sync.Mutex
	ctx     context.Context
	runners map[string]*runner
	// portal accepts remote plugins (nil without server.portal_listen).
	portal *Portal
	// handshakeLimit, when set (tests), replaces maxHandshakes.
	handshakeLimit int
	wg             sync.WaitGroup
}

var _ sessions.Portals = (*Manager)(nil)

// NewManager makes a manager; logOut receives go-plugin's and the plugins'
// stderr lines.
func NewManager(cfg *config.Config, st *store.Store, h *sessions.ServerSessionHandler, log *slog.Logger, logOut io.Writer) *Manager {
	return &Manager{cfg: cfg, store: st, handler: h, log: log, logOut: logOut, runners: map[string]*runner{}}
}

// Start runs every enabled plugin: it reattaches to a plugin process a
// previous host image left running (a reload, or a crash within the grace
// period) when its record proves it is the same process with the same
// config, and launches the others. It returns at once; each plugin is
// supervised in its own goroutine until Stop.
func (m *Manager) Start(ctx context.Context) error {
	if err := checkSocketDir(m.socketDir()); err != nil {
		return err
	}
	for _, dir := range []string{m.socketDir(), m.recordDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("plugins: %w", err)
		}
	}
	enabled := map[string]config.Plugin{}
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	cfg := m.config()
	for _, p := range cfg.EnabledPlugins() {
		enabled[p.Name] = p
	}
	// Plugins left running that are no longer wanted are ended, after
	// checking each is still the process its record names.
	for _, name := range m.recordNames() {
		if _, ok := enabled[name]; ok {
			continue
		}
		if rec, err := m.readRecord(name); err == nil {
			m.log.Info("stopping a plugin that is no longer enabled", "plugin", name, "pid", rec.Pid)
			m.endRecorded(rec)
		}
		m.removeRecord(name)
	}
	// Which plugins are reattached is settled before any is launched, so
	// that the sweep keeps exactly their sockets and no new plugin has
	// made one yet.
	reattach := map[string]*record{}
	specs := map[string]config.Plugin{}
	rejected := map[string]string{}
	keep := map[string]bool{}
	for _, p := range cfg.EnabledPlugins() {
		if p.Remote {
			// A remote plugin's record names a connection, not a process:
			// it is kept for when the plugin redials (remote.go). One left
			// by a local process of that name ends that process.
			if rec, err := m.readRecord(p.Name); err == nil && rec.Instance == "" {
				m.log.Info("plugin is remote now; stopping its local process", "plugin", p.Name, "pid", rec.Pid)
				m.endRecorded(rec)
				m.removeRecord(p.Name)
			}
			specs[p.Name] = p
			continue
		}
		// A process whose new block fails the plugin's check is kept on
		// the block it runs with (spec), and the refusal shown in status.
		rec, spec, why := m.reattachable(ctx, p)
		specs[p.Name] = spec
		if why != "" {
			rejected[p.Name] = why
		}
		if rec != nil {
			reattach[p.Name] = rec
			if rec.Network == "unix" {
				keep[filepath.Clean(rec.Addr)] = true
			}
			if rec.DataAddr != "" {
				keep[filepath.Clean(rec.DataAddr)] = true
			}
		}
	}
	m.sweepSockets(keep)
	for _, p := range cfg.EnabledPlugins() {
		if err := m.startPlugin(ctx, specs[p.Name], reattach[p.Name]); err != nil {
			return err
		}
		if why := rejected[p.Name]; why != "" {
			m.runner(p.Name).setConfigErr(why)
		}
	}
	return m.openPortal(cfg)
}

// openPortal starts accepting remote plugins on server.portal_listen, once
// their runners exist, with the host's certificate authority (Authority):
// its TLS config, the plugin's name from a verified certificate, and a
// revoked plugin's live connection closed at once.
func (m *Manager) openPortal(cfg *config.Config) error {
	if cfg.Server.PortalListen == "" {
		return nil
	}
	if m.Authority == nil {
		return fmt.Errorf("plugins: %s is set but the host opened no certificate authority", config.PortalListenKey)
	}
	tc, err := m.Authority.ServerConfig()
	if err != nil {
		return fmt.Errorf("plugins: %s: %w", config.PortalListenKey, err)
	}
	p, err := m.ListenPortal(cfg.Server.PortalListen, tc, pki.PeerName)
	if err != nil {
		return fmt.Errorf("plugins: %s: %w", config.PortalListenKey, err)
	}
	m.Authority.OnRevoke(func(name string) { m.DropEdge(name, "its certificate was revoked") })
	m.mu.Lock()
	m.portal = p
	m.mu.Unlock()
	return nil
}

// reattachable returns the record of a live process of plugin p that can be
// reattached to (or nil), and the plugin to run. A process whose config
// differs is ended, once the new block passes the plugin's Validate; when
// it does not, the process is kept on the config it runs with (as a live
// edit would be), and rejected says why.
func (m *Manager) reattachable(ctx context.Context, p config.Plugin) (rec *record, spec config.Plugin, rejected string) {
	rec, err := m.readRecord(p.Name)
	if err != nil {
		return nil, p, ""
	}
	if !isSameProcess(rec) {
		m.log.Info("plugin record is stale; starting it afresh", "plugin", p.Name, "pid", rec.Pid)
		m.removeRecord(p.Name)
		return nil, p, ""
	}
	cfgJSON, _ := json.Marshal(p.Config)
	if string(cfgJSON) != rec.ConfigJSON {
		if kept, why, ok := m.keepOnBadBlock(ctx, p, rec); ok {
			return rec, kept, why
		}
		m.log.Info("plugin config changed; restarting it", "plugin", p.Name, "pid", rec.Pid)
		m.endRecorded(rec)
		m.removeRecord(p.Name)
		return nil, p, ""
	}
	return rec, p, ""
}

// socketDir is where plugins make the link's unix sockets: the host's own
// 0700 run directory, not the shared os.TempDir.
func (m *Manager) socketDir() string { return filepath.Join(m.config().RunDir(), "plugins") }

// config returns the current configuration.
func (m *Manager) config() *config.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// startPlugin makes plugin p's runner and supervises it on its own
// goroutine until Stop: the runner reattaches to the process rec names
// when rec is set, and launches the binary otherwise.
func (m *Manager) startPlugin(ctx context.Context, p config.Plugin, rec *record) error {
	path := ""
	if !p.Remote {
		var err error
		if path, err = m.config().PluginPath(p); err != nil {
			return err
		}
	}
	r := &runner{m: m, name: p.Name, spec: p, path: path, state: StateStarting, reattach: rec,
		log: m.log.With("plugin", p.Name), outbox: wire.NewOutbox(0), done: make(chan struct{}),
		settled: make(chan struct{})}
	supervise := r.supervise
	if p.Remote {
		// Not launched: run each connection the portal listener hands it.
		r.remote, r.edges, r.revoked = true, make(chan *edgeConn, 1), make(chan struct{}, 1)
		r.state = StateWaiting
		supervise = r.superviseRemote
	}
	r.trustKeys.Store(p.TrustKeyLogins)
	if rec != nil {
		r.restarts = rec.Restarts
		if rec.Figures != nil {
			r.figures.setBase(*rec.Figures)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	m.mu.Lock()
	m.runners[p.Name] = r
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		supervise(rctx)
	}()
	return nil
}

// Stop shuts every plugin down, telling its clients reason, and waits.
func (m *Manager) Stop(reason string) {
	m.closePortal()
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop(reason)
		}()
	}
	wg.Wait()
	m.wg.Wait()
}

// find returns the plugin named protocol, else the first by name whose
// protocol key it is, or nil. A name always wins: two plugins may share a
// protocol key, and a bot must start on the plugin asked for.
func (m *Manager) find(protocol string) *runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.runners[protocol]; r != nil {
		return r
	}
	names := make([]string, 0, len(m.runners))
	for name := range m.runners {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if r := m.runners[name]; r.protocolKey() == protocol {
			return r
		}
	}
	return nil
}

// PluginFor names the plugin serving protocol (a plugin name or a protocol
// key).
func (m *Manager) PluginFor(protocol string) (string, bool) {
	if r := m.find(protocol); r != nil {
		return r.name, true
	}
	return "", false
}

// StartBot asks the plugin serving protocol (by plugin name or protocol
// key) to start a bot session.
func (m *Manager) StartBot(ctx context.Context, protocol string, cfg map[string]any) (uint64, error) {
	target := m.find(protocol)
	if target == nil {
		return 0, fmt.Errorf("plugins: no running plugin serves protocol %q", protocol)
	}
	client := target.portalClient()
	if client == nil {
		return 0, fmt.Errorf("plugins: %s is not running", target.name)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return 0, fmt.Errorf("plugins: bot config: %w", err)
	}
	resp, err := client.StartBot(ctx, &portalpb.StartBotRequest{ConfigJson: b})
	if err != nil {
		return 0, fmt.Errorf("plugins: %s: start bot: %w", target.name, err)
	}
	return resp.GetSessid(), nil
}

// runner returns the runner of plugin name, or nil.
func (m *Manager) runner(name string) *runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runners[name]
}

// closePortal stops accepting remote plugins.
func (m *Manager) closePortal() {
	m.mu.Lock()
	p := m.portal
	m.portal = nil
	m.mu.Unlock()
	if p != nil {
		p.Close()
	}
}
