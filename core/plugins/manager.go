// Package plugins launches and supervises the host's protocol plugins: each
// enabled plugin runs as its own process through go-plugin (gRPC over a unix
// socket in a 0700 directory), is handed its config block by Configure, and
// talks to the session handler over one Link stream. A plugin that dies has
// its sessions removed and is restarted with backoff; the others carry on.
package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc"
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
}

// Manager runs the plugins. It implements sessions.Portals.
type Manager struct {
	log     *slog.Logger
	logOut  io.Writer
	store   *store.Store
	handler *sessions.ServerSessionHandler
	cfg     *config.Config

	mu      sync.Mutex
	runners map[string]*runner
	wg      sync.WaitGroup
}

var _ sessions.Portals = (*Manager)(nil)

// NewManager makes a manager; logOut receives go-plugin's and the plugins'
// stderr lines.
func NewManager(cfg *config.Config, st *store.Store, h *sessions.ServerSessionHandler, log *slog.Logger, logOut io.Writer) *Manager {
	return &Manager{cfg: cfg, store: st, handler: h, log: log, logOut: logOut, runners: map[string]*runner{}}
}

// Start launches every enabled plugin. It returns at once; each plugin is
// supervised in its own goroutine until Stop.
func (m *Manager) Start(ctx context.Context) error {
	dir := m.socketDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("plugins: socket dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("plugins: socket dir: %w", err)
	}
	for _, p := range m.cfg.EnabledPlugins() {
		if err := m.launch(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) socketDir() string { return filepath.Join(m.cfg.RunDir(), "plugins") }

func (m *Manager) launch(ctx context.Context, p config.Plugin) error {
	path, err := m.cfg.PluginPath(p)
	if err != nil {
		return err
	}
	r := &runner{m: m, name: p.Name, spec: p, path: path, state: StateStarting,
		log: m.log.With("plugin", p.Name), outbox: contract.NewOutbox(0)}
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

// Send queues an event for the named plugin. Events for a plugin that is
// not running are dropped: its sessions are gone.
func (m *Manager) Send(plugin string, ev *portalpb.Event) {
	m.mu.Lock()
	r := m.runners[plugin]
	m.mu.Unlock()
	if r == nil {
		return
	}
	r.send(ev)
}

// StartBot asks the plugin serving protocol (by protocol key or plugin
// name) to start a bot session.
func (m *Manager) StartBot(ctx context.Context, protocol string, cfg map[string]any) (uint64, error) {
	m.mu.Lock()
	var target *runner
	for _, r := range m.runners {
		if r.name == protocol || r.protocolKey() == protocol {
			target = r
			break
		}
	}
	m.mu.Unlock()
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

	mu       sync.Mutex
	state    string
	pid      int
	started  time.Time
	restarts int
	lastErr  string
	key      string
	client   portalpb.PortalClient
	outbox   *contract.Outbox
	stopping bool
}

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{Name: r.name, ProtocolKey: r.key, State: r.state, PID: r.pid, Started: r.started,
		Restarts: r.restarts, LastError: r.lastErr}
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

func (r *runner) send(ev *portalpb.Event) {
	r.mu.Lock()
	ob, running := r.outbox, r.state == StateRunning
	r.mu.Unlock()
	if running {
		_ = ob.Put(ev)
	}
}

func (r *runner) setState(state string) {
	r.mu.Lock()
	r.state = state
	r.mu.Unlock()
}

// stop shuts the plugin down politely, then ends its supervision.
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
}

// supervise runs the plugin until ctx ends, restarting it with backoff
// when it dies.
func (r *runner) supervise(ctx context.Context) {
	backoff := backoffMin
	for {
		start := time.Now()
		err := r.runOnce(ctx)
		r.mu.Lock()
		r.client = nil
		r.pid = 0
		stopping := r.stopping
		r.mu.Unlock()
		// Whatever sessions the plugin had are gone with it.
		reason := fmt.Sprintf("The %s service stopped.", r.name)
		r.m.handler.Do(func() { r.m.handler.PortalDisconnectAll(r.name, reason) })
		if ctx.Err() != nil || stopping {
			r.setState(StateStopped)
			r.log.Info("plugin stopped")
			return
		}
		r.mu.Lock()
		r.lastErr = err.Error()
		r.state = StateBackoff
		r.restarts++
		r.mu.Unlock()
		if time.Since(start) > stableAfter {
			backoff = backoffMin
		}
		r.log.Error("plugin died; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			r.setState(StateStopped)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// runOnce launches the plugin and serves its link until either ends.
func (r *runner) runOnce(ctx context.Context) error {
	r.setState(StateStarting)
	cmd := exec.Command(r.path)
	cmd.Env = append(os.Environ(),
		sdk.EnvDataDir+"="+r.m.cfg.Server.DataDir,
		sdk.EnvPluginName+"="+r.name)
	client := hplugin.NewClient(&hplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]hplugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: &sdk.GRPCPlugin{}}},
		Cmd:              cmd,
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin." + r.name, Output: r.m.logOut,
			Level: hclog.Info}),
		UnixSocketConfig: &hplugin.UnixSocketConfig{TempDir: r.m.socketDir()},
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(contract.MaxMessageBytes), grpc.MaxCallSendMsgSize(contract.MaxMessageBytes))},
		StartTimeout: 20 * time.Second,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("plugins: %s: launch %s: %w", r.name, r.path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return fmt.Errorf("plugins: %s: dispense: %w", r.name, err)
	}
	portal, ok := raw.(portalpb.PortalClient)
	if !ok {
		return fmt.Errorf("plugins: %s: dispensed %T, not a portal client", r.name, raw)
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	start, err := r.m.store.ReserveSessids(ctx, sessidBlock)
	if err != nil {
		return fmt.Errorf("plugins: %s: reserve session ids: %w", r.name, err)
	}
	cfgJSON, err := json.Marshal(r.spec.Config)
	if err != nil {
		return fmt.Errorf("plugins: %s: encode config: %w", r.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: cfgJSON, Host: &portalpb.HostInfo{
		ServerName: r.m.cfg.Server.Name, DataDir: r.m.cfg.Server.DataDir, Version: Version,
		SessidStart: start, SessidCount: sessidBlock, MaxInputLength: uint32(r.m.cfg.Limits.MaxInputLength)}})
	cancel()
	if err != nil {
		return fmt.Errorf("plugins: %s: configure: %w", r.name, err)
	}
	lctx, stopLink := context.WithCancel(ctx)
	defer stopLink()
	stream, err := portal.Link(lctx)
	if err != nil {
		return fmt.Errorf("plugins: %s: open link: %w", r.name, err)
	}
	outbox := contract.NewOutbox(0)
	r.mu.Lock()
	r.client, r.pid, r.key, r.outbox = portal, pid, resp.GetProtocolKey(), outbox
	r.started = time.Now()
	r.state = StateRunning
	r.lastErr = ""
	r.mu.Unlock()
	r.log.Info("plugin running", "pid", pid, "protocol", resp.GetProtocolKey())

	sendDone := make(chan error, 1)
	go func() { sendDone <- outbox.Run(lctx, stream.Send) }()
	var recvErr error
	for {
		f, err := stream.Recv()
		if err != nil {
			recvErr = err
			break
		}
		r.handleFrame(ctx, f)
	}
	stopLink()
	<-sendDone
	if errors.Is(recvErr, io.EOF) {
		recvErr = errors.New("link closed by plugin")
	}
	if client.Exited() {
		return fmt.Errorf("plugins: %s: process %d exited: %w", r.name, pid, recvErr)
	}
	return fmt.Errorf("plugins: %s: link lost: %w", r.name, recvErr)
}

// handleFrame converts a frame off the loop, then applies it on the loop as
// one piece of work.
func (r *runner) handleFrame(ctx context.Context, f *portalpb.Frame) {
	h := r.m.handler
	ops := make([]func(), 0, len(f.GetEvents()))
	for _, ev := range f.GetEvents() {
		switch k := ev.Kind.(type) {
		case *portalpb.Event_Connect:
			d, err := contract.SessionFromPB(k.Connect.GetSession())
			if err != nil {
				r.log.Warn("bad connect", "err", err)
				continue
			}
			ops = append(ops, func() { h.PortalConnect(r.name, d) })
		case *portalpb.Event_DataIn:
			msgs, err := contract.MessagesFromPB(k.DataIn.GetMessages())
			if err != nil {
				r.log.Warn("bad data in", "sessid", k.DataIn.GetSessid(), "err", err)
				continue
			}
			id := k.DataIn.GetSessid()
			ops = append(ops, func() { h.DataIn(r.name, id, msgs) })
		case *portalpb.Event_Sync:
			d, err := contract.SessionFromPB(k.Sync.GetSession())
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
			start, err := r.m.store.ReserveSessids(ctx, sessidBlock)
			if err != nil {
				r.log.Error("reserve session ids", "err", err)
				continue
			}
			r.send(&portalpb.Event{Kind: &portalpb.Event_GrantSessids{GrantSessids: &portalpb.GrantSessids{
				Start: start, Count: sessidBlock}}})
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
