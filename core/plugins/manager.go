// Package plugins launches and supervises the host's protocol plugins: each
// enabled plugin runs as its own process through go-plugin (gRPC over a unix
// socket in a 0700 directory), is handed its config block by Configure, and
// talks to the session handler over one Link stream. A plugin that dies has
// its sessions removed and is restarted with backoff; the others carry on.
package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// Version is the host version told to plugins.
const Version = "0.1.0"

// sessidBlock is how many session ids a plugin is handed at a time.
const sessidBlock = 1024

// Supervision policy.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
	// stableAfter resets the backoff: a plugin that ran this long was not
	// crash-looping.
	stableAfter = time.Minute
	// shutdownWait bounds a plugin's Shutdown call.
	shutdownWait = 5 * time.Second
)

// Plugin states shown by `portico status`.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "restarting"
	StateStopped  = "stopped"
)

// Status is one plugin's state for `portico status`.
type Status struct {
	Name        string    `json:"name"`
	ProtocolKey string    `json:"protocol_key"`
	State       string    `json:"state"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Restarts    int       `json:"restarts"`
	LastError   string    `json:"last_error,omitempty"`
	// ConfigError is why the plugin's block in config.yaml is not the one
	// it runs with: a live edit its Validate refused (naming the key), kept
	// until an edit that passes.
	ConfigError string `json:"config_error,omitempty"`
	// Listeners are where it serves clients, as the console shows them
	// ("telnet on 0.0.0.0:4000").
	Listeners []string `json:"listeners,omitempty"`
}

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

	mu      sync.Mutex
	ctx     context.Context
	runners map[string]*runner
	wg      sync.WaitGroup
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
		}
	}
	m.sweepSockets(keep)
	for _, p := range cfg.EnabledPlugins() {
		if err := m.launch(ctx, specs[p.Name], reattach[p.Name]); err != nil {
			return err
		}
		if why := rejected[p.Name]; why != "" {
			m.runner(p.Name).setConfigErr(why)
		}
	}
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

func (m *Manager) launch(ctx context.Context, p config.Plugin, rec *record) error {
	path, err := m.config().PluginPath(p)
	if err != nil {
		return err
	}
	r := &runner{m: m, name: p.Name, spec: p, path: path, state: StateStarting, reattach: rec,
		log: m.log.With("plugin", p.Name), outbox: wire.NewOutbox(0), done: make(chan struct{}),
		settled: make(chan struct{})}
	r.trustKeys.Store(p.TrustKeyLogins)
	if rec != nil {
		r.restarts = rec.Restarts
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	m.mu.Lock()
	m.runners[p.Name] = r
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.supervise(rctx)
	}()
	return nil
}

// Detach hands every running plugin over for a host reload. First each
// plugin stops sending and confirms (so every event it sent has been
// received and posted to the loop); then afterSync runs (the host pushes
// every session's data); then the host's queued events are flushed and the
// links closed, leaving the plugin processes running for the next image.
func (m *Manager) Detach(ctx context.Context, afterSync func()) error {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	var waits []<-chan struct{}
	var detaching []*runner
	for _, r := range rs {
		if ch := r.beginDetach(); ch != nil {
			waits = append(waits, ch)
			detaching = append(detaching, r)
		}
	}
	for i, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("plugins: %s did not detach: %w", detaching[i].name, ctx.Err())
		}
	}
	afterSync()
	for _, r := range detaching {
		r.finishDetach()
	}
	return nil
}

// Stop shuts every plugin down, telling its clients reason, and waits.
func (m *Manager) Stop(reason string) {
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

// Statuses returns every plugin's state, by name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.runners))
	for _, r := range m.runners {
		out = append(out, r.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// runner supervises one plugin.
type runner struct {
	m      *Manager
	name   string
	spec   config.Plugin
	path   string
	log    *slog.Logger
	cancel context.CancelFunc
	// done is closed when supervise returns.
	done chan struct{}

	mu       sync.Mutex
	state    string
	pid      int
	started  time.Time
	restarts int
	crashes  []time.Time
	lastErr  string
	key      string
	client   portalpb.PortalClient
	outbox   *wire.Outbox
	// accepting is set while a run can take events for the plugin.
	accepting bool
	stopping  bool
	// reattach, when set, is the record of a running plugin process to
	// reattach to instead of launching one.
	reattach *record
	// grants are the blocks of session ids granted to the current run of
	// the plugin (and those before it, when reattached).
	grants []store.SessidRange
	// trustKeys is the plugin's trust_key_logins: whether its key logins
	// count. A live config change updates it without a relaunch.
	trustKeys atomic.Bool
	// version is the contract version of the current run: negotiated at
	// launch, or the record's on a reattach.
	version int
	// mtls, when the link runs AutoMTLS, keeps its key pair and the
	// plugin's certificate for the record (nil without mTLS).
	mtls *linkTLS
	// Reload handshake: detached is closed when the plugin's Detached
	// arrives; finish stops the link's sending side.
	detaching bool
	detached  chan struct{}
	finish    func()

	// configErr is Status.ConfigError; listeners are the current run's.
	configErr string
	listeners []*portalpb.Listener
	// lastFailure is the last run's error with its numbers blanked, to tell
	// a plugin that dies the same way again (reported once) from a new
	// failure.
	lastFailure string
	// quietRepeat hides go-plugin's "plugin process exited" lines after a
	// first failure, and quietKill its "failed to exit gracefully" for a
	// process that ended by itself (pluginLogger).
	quietRepeat, quietKill atomic.Bool
	// settled is closed once the first run is running or has failed
	// (WaitStarted).
	settled     chan struct{}
	settledOnce sync.Once
}

// errDetached ends a run on purpose: the link was handed over for a host
// reload and the plugin process must be left running.
var errDetached = errors.New("plugins: detached for reload")

// Crash-loop policy: this many deaths within the window mark the plugin
// failed instead of restarting it forever.
const (
	crashLoopLimit  = 5
	crashLoopWindow = 2 * time.Minute
)

// StateFailed is a plugin that crash-looped and is no longer restarted.
const StateFailed = "failed"

// StateDetached is a plugin handed over to the next host image.
const StateDetached = "detached"

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{Name: r.name, ProtocolKey: r.key, State: r.state, PID: r.pid, Started: r.started,
		Restarts: r.restarts, LastError: r.lastErr, ConfigError: r.configErr, Listeners: listenerNames(r.listeners)}
}

func (r *runner) protocolKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.key
}

func (r *runner) portalClient() portalpb.PortalClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateRunning {
		return nil
	}
	return r.client
}

// send queues an event for the plugin's current run. Events queued before
// the link opens (the sessions a reattach restores greet their players)
// go out as soon as it does; events for a plugin that is not running are
// dropped, since its sessions are gone.
func (r *runner) send(ev *portalpb.Event) {
	r.mu.Lock()
	ob, accepting := r.outbox, r.accepting
	r.mu.Unlock()
	if accepting {
		_ = ob.Put(ev)
	}
}

func (r *runner) setState(state string) {
	r.mu.Lock()
	r.state = state
	r.mu.Unlock()
}

// stop shuts the plugin down politely, then ends its supervision and waits.
func (r *runner) stop(reason string) {
	r.mu.Lock()
	r.stopping = true
	client := r.client
	running := r.state == StateRunning
	r.mu.Unlock()
	if running && client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		if _, err := client.Shutdown(ctx, &portalpb.ShutdownRequest{Reason: reason}); err != nil {
			r.log.Warn("plugin shutdown", "err", err)
		}
		cancel()
	}
	r.cancel()
	<-r.done
}

// supervise runs the plugin until ctx ends, restarting it with backoff
// when it dies, until it crash-loops.
func (r *runner) supervise(ctx context.Context) {
	defer close(r.done)
	backoff := backoffMin
	for {
		start := time.Now()
		err := r.runOnce(ctx)
		r.mu.Lock()
		r.client = nil
		stopping := r.stopping
		r.mu.Unlock()
		if errors.Is(err, errDetached) {
			r.setState(StateDetached)
			r.log.Info("plugin handed over for reload")
			return
		}
		r.mu.Lock()
		r.pid = 0
		r.mu.Unlock()
		// Whatever sessions the plugin had are gone with it.
		reason := fmt.Sprintf("The %s service stopped.", r.name)
		r.m.handler.Do(func() { r.m.handler.PortalDisconnectAll(r.name, reason) })
		if ctx.Err() != nil || stopping {
			r.setState(StateStopped)
			r.log.Info("plugin stopped")
			return
		}
		now := time.Now()
		failure := numbers.ReplaceAllString(err.Error(), "#")
		r.mu.Lock()
		again := failure == r.lastFailure
		r.lastFailure = failure
		r.listeners = nil
		r.lastErr = err.Error()
		r.restarts++
		r.crashes = append(r.crashes, now)
		for len(r.crashes) > 0 && now.Sub(r.crashes[0]) > crashLoopWindow {
			r.crashes = r.crashes[1:]
		}
		looping := len(r.crashes) >= crashLoopLimit
		if looping {
			r.state = StateFailed
			r.lastErr = fmt.Sprintf("crash loop: %d deaths in %s; last: %v", len(r.crashes), crashLoopWindow, err)
		} else {
			r.state = StateBackoff
		}
		r.mu.Unlock()
		// A plugin that dies the same way at every start is reported once
		// (the first time, with its error); go-plugin's own lines about
		// each exit are quiet from then on (pluginLogger).
		r.quietRepeat.Store(true)
		r.settle()
		if time.Since(start) > stableAfter {
			backoff = backoffMin
		}
		switch {
		case looping && again:
			r.log.Error("plugin keeps dying the same way; not restarting it (the error is above, and in `portico status`)",
				"deaths", len(r.crashes), "window", crashLoopWindow)
			return
		case looping:
			r.log.Error("plugin keeps dying; not restarting it", "err", err, "deaths", len(r.crashes), "window", crashLoopWindow)
			return
		case again:
			r.log.Warn("plugin died again the same way; restarting", "deaths", len(r.crashes), "in", backoff)
		default:
			r.log.Error("plugin died; restarting", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			r.setState(StateStopped)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// clientConfig is how go-plugin reaches the plugin: a reattach to the
// process rec names, or a launch of the binary.
func (r *runner) clientConfig(rec *record) (*hplugin.ClientConfig, error) {
	cfg := r.m.config()
	cc := &hplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		Logger:           r.pluginLogger(),
		GRPCDialOptions:  wire.DialOptions(),
		StartTimeout:     20 * time.Second,
	}
	if rec != nil {
		// go-plugin does not record the negotiated version in a reattach
		// config, and picks Plugins (not VersionedPlugins) on reattach.
		cc.Plugins = sdk.PluginSets(nil)[rec.ProtocolVersion]
		cc.Reattach = &hplugin.ReattachConfig{Protocol: hplugin.ProtocolGRPC, ProtocolVersion: rec.ProtocolVersion,
			Addr: &unixAddr{network: rec.Network, addr: rec.Addr}, Pid: rec.Pid}
		// A plugin launched with AutoMTLS trusts only the client
		// certificate it was launched with: present the kept pair again.
		// (go-plugin's AutoMTLS applies to launches only.)
		if rec.MTLS != nil {
			tc, err := rec.MTLS.tlsConfig()
			if err != nil {
				return nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid, err)
			}
			cc.TLSConfig = tc
		}
		if (rec.MTLS != nil) != cfg.Server.PluginMTLS {
			r.log.Info("server.plugin_mtls changed; it applies when the plugin is next launched",
				"plugin_mtls", cfg.Server.PluginMTLS, "link_mtls", rec.MTLS != nil)
		}
		return cc, nil
	}
	cmd := exec.Command(r.path)
	// go-plugin (v1.8.0) honours UnixSocketConfig.TempDir only with a
	// RunnerFunc; otherwise the plugin makes its socket in os.TempDir
	// (/tmp), where other local users can see it. The plugin's go-plugin
	// Serve reads the socket directory from this variable instead. A
	// PLUGIN_UNIX_SOCKET_GROUP in the host's own environment would make
	// the socket group-writable: it is not passed on.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, hplugin.EnvUnixSocketDir+"=") || strings.HasPrefix(kv, hplugin.EnvUnixSocketGroup+"=")
	})
	cmd.Env = append(env,
		sdk.EnvDataDir+"="+cfg.Server.DataDir,
		sdk.EnvPluginName+"="+r.name,
		hplugin.EnvUnixSocketDir+"="+r.m.socketDir())
	cc.Cmd = cmd
	// Every contract version the host speaks: go-plugin agrees on the
	// newest one the plugin also speaks, or fails (see connect).
	cc.VersionedPlugins = sdk.PluginSets(nil)
	if len(r.spec.SHA256) > 0 {
		// Checked by go-plugin just before it starts the binary. It cannot
		// be combined with a reattach, which is to a process checked when
		// it was launched.
		cc.SecureConfig = &hplugin.SecureConfig{Checksum: r.spec.SHA256, Hash: sha256.New()}
	}
	cc.AutoMTLS = cfg.Server.PluginMTLS
	return cc, nil
}

// unixAddr is a net.Addr from a record.
type unixAddr struct{ network, addr string }

func (a *unixAddr) Network() string { return a.network }
func (a *unixAddr) String() string  { return a.addr }

// connect returns a portal client of a reattached or newly launched
// plugin. It sets r.version and r.mtls for the run's record.
func (r *runner) connect(rec *record) (*hplugin.Client, portalpb.PortalClient, error) {
	if rec != nil && !slices.Contains(sdk.SupportedProtocolVersions(), rec.ProtocolVersion) {
		// A host upgraded by a reload that no longer speaks the version the
		// plugin was launched with: start the plugin afresh instead.
		return nil, nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid,
			&sdk.VersionMismatchError{HostVersions: sdk.SupportedProtocolVersions(), PluginVersion: rec.ProtocolVersion})
	}
	if rec == nil {
		// A binary that is not there (or not the one wanted) is said so
		// plainly, without a launch that could only fail.
		// The digest is go-plugin's to check (launchError explains it).
		noDigest := r.spec
		noDigest.SHA256 = nil
		if pr, bad := checkBinaryAt(r.m.config(), noDigest, r.path); bad {
			return nil, nil, fmt.Errorf("plugins: %s: %s: %s", r.name, pr.Key, pr.Msg)
		}
	}
	cc, err := r.clientConfig(rec)
	if err != nil {
		return nil, nil, err
	}
	stderr := &tailWriter{}
	cc.Stderr = stderr
	client := hplugin.NewClient(cc)
	fail := func(err error) (*hplugin.Client, portalpb.PortalClient, error) {
		if rec != nil {
			r.m.killClient(client)
			return nil, nil, fmt.Errorf("plugins: %s: reattach to pid %d: %w", r.name, rec.Pid, err)
		}
		// go-plugin's Kill of a process that already ended would log that
		// it "failed to exit gracefully": not so. Kill also waits until
		// the plugin's stderr is read to its end, for the error.
		r.quietKill.Store(endedOnItsOwn(r.launchError(err, "")))
		r.m.killClient(client)
		r.quietKill.Store(false)
		return nil, nil, fmt.Errorf("plugins: %s: launch %s: %w", r.name, r.path, r.launchError(err, stderr.tail()))
	}
	var keep *linkTLS
	switch {
	case rec != nil && rec.MTLS != nil:
		keep = rec.MTLS.keeper()
	case rec == nil && cc.AutoMTLS:
		// Start (the handshake) before Client (the dial), so that the key
		// pair go-plugin generated can be kept and the plugin's
		// certificate caught on the first TLS handshake.
		if _, err := client.Start(); err != nil {
			return fail(err)
		}
		if keep, err = keepAutoMTLS(cc); err != nil {
			// The link is still mutually authenticated; only a reattach
			// to this process will be impossible (a reload restarts it).
			r.log.Error("plugin_mtls: cannot keep the link's key pair; a host reload will restart this plugin", "err", err)
		}
	}
	rpc, err := client.Client()
	if err != nil {
		return fail(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		r.m.killClient(client)
		return nil, nil, fmt.Errorf("plugins: %s: dispense: %w", r.name, err)
	}
	portal, ok := raw.(portalpb.PortalClient)
	if !ok {
		r.m.killClient(client)
		return nil, nil, fmt.Errorf("plugins: %s: dispensed %T, not a portal client", r.name, raw)
	}
	version := client.NegotiatedVersion()
	if rec != nil {
		// go-plugin leaves the negotiated version at 0 on a reattach.
		version = rec.ProtocolVersion
	}
	r.mu.Lock()
	r.version, r.mtls = version, keep
	r.mu.Unlock()
	return client, portal, nil
}

// launchError makes go-plugin's launch failures say what to do: a plugin
// built against an SDK that shares no contract version with the host, and
// a binary whose checksum is not the configured one.
func (r *runner) launchError(err error, stderr string) error {
	if errors.Is(err, hplugin.ErrChecksumsDoNotMatch) {
		got := "unreadable"
		if b, rerr := os.ReadFile(r.path); rerr == nil {
			sum := sha256.Sum256(b)
			got = hex.EncodeToString(sum[:])
		}
		return fmt.Errorf("checksum mismatch: plugins.%s.sha256 is %x but the binary's SHA-256 is %s; refusing to run it: %w",
			r.name, r.spec.SHA256, got, err)
	}
	if mm := sdk.DetectVersionMismatch(err, sdk.SupportedProtocolVersions()); mm != err {
		return mm
	}
	return explainLaunch(err, stderr)
}

// runOnce reattaches to or launches the plugin and serves its link until
// either ends.
func (r *runner) runOnce(ctx context.Context) error {
	r.setState(StateStarting)
	r.mu.Lock()
	rec := r.reattach
	r.reattach = nil
	r.detaching = false
	r.detached = make(chan struct{})
	r.finish = nil
	outbox := wire.NewOutbox(0)
	r.outbox = outbox
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.accepting = false
		r.mu.Unlock()
	}()

	var client *hplugin.Client
	var portal portalpb.PortalClient
	if rec != nil {
		var err error
		client, portal, err = r.connect(rec)
		if err != nil {
			r.log.Warn("cannot reattach; starting the plugin afresh", "err", err)
			r.m.endRecorded(rec)
			rec = nil
		} else {
			reapIfChild(rec.Pid)
		}
	}
	if client == nil {
		var err error
		if client, portal, err = r.connect(nil); err != nil {
			return err
		}
		// A fresh process: the logins saved for the sessions of an earlier
		// one prove nothing now. Queued on the loop before any of its events.
		h := r.m.handler
		h.Do(func() { h.PluginLaunched(r.name) })
	}
	keep := false
	defer func() {
		if !keep {
			r.m.killClient(client)
			r.m.removeRecord(r.name)
		}
	}()
	pid := 0
	var addr net.Addr
	if rc := client.ReattachConfig(); rc != nil {
		pid, addr = rc.Pid, rc.Addr
	}
	start, err := r.grantFirstBlock(ctx, rec == nil)
	if err != nil {
		return err
	}
	cfgJSON, err := json.Marshal(r.currentSpec().Config)
	if err != nil {
		return fmt.Errorf("plugins: %s: encode config: %w", r.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	hostInfo := hostFacts(r.m.config())
	hostInfo.SessidStart, hostInfo.SessidCount = start, sessidBlock
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: cfgJSON, Host: hostInfo})
	cancel()
	if err != nil {
		return fmt.Errorf("plugins: %s: configure: %w", r.name, err)
	}
	r.mu.Lock()
	r.accepting = true
	r.mu.Unlock()
	if rec != nil {
		// Rebuild the host's sessions before any link event arrives: the
		// loop runs posted work in order.
		if err := r.restoreSessions(ctx, portal); err != nil {
			return err
		}
	}
	r.mu.Lock()
	version, mtls := r.version, r.mtls
	r.mu.Unlock()
	newRec := record{Name: r.name, Pid: pid, Exe: r.path, ProtocolVersion: version, MTLS: mtls.record(r.log),
		ProtocolKey: resp.GetProtocolKey(), ConfigJSON: string(cfgJSON), Started: time.Now(),
		Listen: listenerAddrs(resp.GetListeners())}
	if rec != nil {
		newRec.Exe, newRec.Started, newRec.Restarts = rec.Exe, rec.Started, rec.Restarts
	}
	if addr != nil {
		newRec.Network, newRec.Addr = addr.Network(), addr.String()
	}
	if st, _, err := procStartTicks(pid); err == nil {
		newRec.StartTicks = st
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		newRec.Exe = strings.TrimSuffix(exe, " (deleted)")
	}

	lctx, stopLink := context.WithCancel(ctx)
	defer stopLink()
	stream, err := portal.Link(lctx)
	if err != nil {
		return fmt.Errorf("plugins: %s: open link: %w", r.name, err)
	}
	if err := r.m.writeRecord(newRec); err != nil {
		r.log.Error("plugin record", "err", err)
	}
	sctx, stopSend := context.WithCancel(lctx)
	// sendDone is closed when the sending goroutine has returned.
	sendDone := make(chan struct{})
	r.mu.Lock()
	r.client, r.pid, r.key = portal, pid, resp.GetProtocolKey()
	r.started = newRec.Started
	if rec == nil {
		r.started = time.Now()
	}
	r.state = StateRunning
	r.lastErr = ""
	r.listeners = resp.GetListeners()
	r.lastFailure = ""
	r.finish = func() {
		// The reload's second step: everything the host queued goes out,
		// then the host closes its side; the plugin then ends the stream.
		stopSend()
		<-sendDone
		if err := outbox.Flush(stream.Send); err != nil {
			r.log.Warn("flush before reload", "err", err)
		}
		if err := stream.CloseSend(); err != nil {
			r.log.Warn("close link before reload", "err", err)
		}
	}
	r.mu.Unlock()
	r.quietRepeat.Store(false)
	r.settle()
	r.log.Info("plugin running", "pid", pid, "protocol", resp.GetProtocolKey(), "reattached", rec != nil,
		"listening", strings.Join(listenerNames(resp.GetListeners()), ", "))
	if hook := r.m.OnRunning; hook != nil {
		go hook(r.name, resp.GetProtocolKey())
	}

	go func() {
		defer close(sendDone)
		if err := outbox.Run(sctx, stream.Send); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("link: send", "err", err)
		}
	}()
	var recvErr error
	for {
		f, err := stream.Recv()
		if err != nil {
			recvErr = err
			break
		}
		r.handleFrame(ctx, f)
	}
	r.mu.Lock()
	detaching := r.detaching
	r.mu.Unlock()
	stopSend()
	stopLink()
	<-sendDone
	if detaching && errors.Is(recvErr, io.EOF) {
		keep = true
		return errDetached
	}
	if errors.Is(recvErr, io.EOF) {
		recvErr = errors.New("link closed by plugin")
	}
	if client.Exited() {
		return fmt.Errorf("plugins: %s: process %d exited: %w", r.name, pid, recvErr)
	}
	return fmt.Errorf("plugins: %s: link lost: %w", r.name, recvErr)
}

// restoreSessions asks a reattached plugin for its sessions and rebuilds
// them on the host (portal_sessions_sync).
func (r *runner) restoreSessions(ctx context.Context, portal portalpb.PortalClient) error {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := portal.Sessions(sctx, &portalpb.SessionsRequest{})
	if err != nil {
		return fmt.Errorf("plugins: %s: sessions: %w", r.name, err)
	}
	all := make([]contract.SessionData, 0, len(resp.GetSessions()))
	for _, pd := range resp.GetSessions() {
		d, err := wire.SessionFromPB(pd)
		if err != nil {
			r.log.Warn("bad session from plugin", "err", err)
			continue
		}
		if !r.grantedSessid(d.Sessid, "sessions list") {
			continue
		}
		all = append(all, d)
	}
	h := r.m.handler
	h.Do(func() { h.PortalSessionsSync(r.name, all) })
	r.log.Info("sessions restored", "count", len(all))
	return nil
}

// grantFirstBlock grants a run of the plugin its first block of session
// ids, and loads the blocks its sessions may use. A fresh process's earlier
// grants went with its sessions; a reattached one keeps them, for the
// sessions it still has.
func (r *runner) grantFirstBlock(ctx context.Context, fresh bool) (uint64, error) {
	start, err := r.m.store.GrantSessids(ctx, r.name, sessidBlock, fresh)
	if err != nil {
		return 0, fmt.Errorf("plugins: %s: reserve session ids: %w", r.name, err)
	}
	grants := []store.SessidRange{{Start: start, Count: sessidBlock}}
	if !fresh {
		if grants, err = r.m.store.SessidGrants(ctx, r.name); err != nil {
			return 0, fmt.Errorf("plugins: %s: %w", r.name, err)
		}
	}
	r.mu.Lock()
	r.grants = grants
	r.mu.Unlock()
	return start, nil
}

// MsgForeignSessid ends, on its plugin, a session whose id the host did not
// grant to that plugin.
const MsgForeignSessid = "This session's id was not given to this service; it cannot be used."

// grantedSessid reports whether session id sessid was granted to the
// plugin. Ids come in sequential blocks, so any plugin could guess the ids
// another will use next, or list another's at a reattach: a session with an
// id not granted to it is refused, logged, and ended on the plugin.
func (r *runner) grantedSessid(sessid uint64, what string) (ok bool) {
	r.mu.Lock()
	for _, g := range r.grants {
		if g.Contains(sessid) {
			r.mu.Unlock()
			return true
		}
	}
	r.mu.Unlock()
	r.log.Warn("refused session id", "sessid", sessid, "in", what, "reason", "not granted to this plugin")
	r.send(&portalpb.Event{Kind: &portalpb.Event_Disconnect{Disconnect: &portalpb.Disconnect{
		Sessid: sessid, Reason: MsgForeignSessid}}})
	return false
}

// beginDetach asks the plugin to stop sending (the reload's first step).
func (r *runner) beginDetach() <-chan struct{} {
	r.mu.Lock()
	running := r.state == StateRunning
	ch := r.detached
	if running {
		r.detaching = true
	}
	ob := r.outbox
	r.mu.Unlock()
	if !running {
		return nil
	}
	_ = ob.Put(&portalpb.Event{Kind: &portalpb.Event_Detach{Detach: &portalpb.Detach{}}})
	return ch
}

// finishDetach flushes the host's side and waits for the link to end.
func (r *runner) finishDetach() {
	r.mu.Lock()
	finish := r.finish
	detaching := r.detaching
	r.mu.Unlock()
	if !detaching || finish == nil {
		return
	}
	finish()
	<-r.done
}

// handleFrame converts a frame off the loop, then applies it on the loop as
// one piece of work.
func (r *runner) handleFrame(ctx context.Context, f *portalpb.Frame) {
	h := r.m.handler
	ops := make([]func(), 0, len(f.GetEvents()))
	for _, ev := range f.GetEvents() {
		switch k := ev.Kind.(type) {
		case *portalpb.Event_Connect:
			d, err := wire.SessionFromPB(k.Connect.GetSession())
			if err != nil {
				r.log.Warn("bad connect", "err", err)
				continue
			}
			if !r.grantedSessid(d.Sessid, "connect") {
				continue
			}
			if c := k.Connect.GetCredentials(); c != nil {
				creds := sessions.Credentials{Name: c.GetName(), Password: c.GetPassword(), PublicKey: c.GetPublicKey(),
					KeyTrusted: r.trustKeys.Load()}
				ops = append(ops, func() { h.PortalConnectWithCredentials(r.name, d, creds) })
				continue
			}
			ops = append(ops, func() { h.PortalConnect(r.name, d) })
		case *portalpb.Event_DataIn:
			msgs, err := wire.MessagesFromPB(k.DataIn.GetMessages())
			if err != nil {
				r.log.Warn("bad data in", "sessid", k.DataIn.GetSessid(), "err", err)
				continue
			}
			id := k.DataIn.GetSessid()
			ops = append(ops, func() { h.DataIn(r.name, id, msgs) })
		case *portalpb.Event_Sync:
			d, err := wire.SessionFromPB(k.Sync.GetSession())
			if err != nil {
				r.log.Warn("bad sync", "err", err)
				continue
			}
			fields := k.Sync.GetFields()
			ops = append(ops, func() { h.PortalSessionSync(r.name, d, fields) })
		case *portalpb.Event_Disconnected:
			id, reason := k.Disconnected.GetSessid(), k.Disconnected.GetReason()
			ops = append(ops, func() { h.PortalDisconnect(r.name, id, reason) })
		case *portalpb.Event_NeedSessids:
			start, err := r.m.store.GrantSessids(ctx, r.name, sessidBlock, false)
			if err != nil {
				r.log.Error("reserve session ids", "err", err)
				continue
			}
			// Recorded before the plugin hears of the block, so that its
			// Connects with the new ids find it.
			r.mu.Lock()
			r.grants = append(r.grants, store.SessidRange{Start: start, Count: sessidBlock})
			r.mu.Unlock()
			r.send(&portalpb.Event{Kind: &portalpb.Event_GrantSessids{GrantSessids: &portalpb.GrantSessids{
				Start: start, Count: sessidBlock}}})
		case *portalpb.Event_Detached:
			// Everything the plugin sent before this is in ops or already
			// posted; the loop runs it before whatever the reload posts.
			r.mu.Lock()
			ch := r.detached
			r.mu.Unlock()
			if len(ops) > 0 {
				batch := ops
				ops = nil
				h.Do(func() {
					for _, op := range batch {
						op()
					}
				})
			}
			select {
			case <-ch:
			default:
				close(ch)
			}
		default:
			r.log.Warn("unexpected event from plugin", "event", fmt.Sprintf("%T", ev.Kind))
		}
	}
	if len(ops) == 0 {
		return
	}
	h.Do(func() {
		for _, op := range ops {
			op()
		}
	})
}
