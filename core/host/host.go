package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portico-mud/portico/core/channels"
	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/pki"
	"github.com/portico-mud/portico/core/plugins"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/cpuprofile"
	"github.com/portico-mud/portico/sdk/logging"
)

// ReasonShutdown is what players are told when the host shuts down.
const ReasonShutdown = "Server is shutting down."

// ReasonShutdownBecause starts what players are told when `portico stop
// --reason X` shuts the host down: "The server is shutting down: X".
const ReasonShutdownBecause = "The server is shutting down: "

// Host is a running Portico host.
type Host struct {
	cfgMu    sync.Mutex
	cfg      *config.Config
	log      *slog.Logger
	logOut   io.Writer
	store    *store.Store
	handler  *sessions.ServerSessionHandler
	commands *commands.Handler
	channels *channels.Service
	game     *Game
	manager  *plugins.Manager
	started  time.Time

	// pki is the host's certificate authority for remote plugins, opened
	// at start-up with server.portal_listen, or else by the first
	// revocation (authority); pkiMu guards it.
	pkiMu sync.Mutex
	pki   *pki.Authority

	// exe is the host binary's path, taken at start: a reload runs
	// whatever binary is there then, so a new build is picked up.
	exe string

	stopOnce   sync.Once
	stopReq    chan string
	restartReq chan restartRequest
	stopped    chan struct{}
}

// restartRequest asks the host to re-execute itself.
type restartRequest struct{ mode, reason string }

// Restart modes (Evennia's): reload keeps everything; reset also drops the
// host's non-persistent state. Both keep every player connected.
const (
	ModeReload = "reload"
	ModeReset  = "reset"
)

// Environment a re-executed host image reads.
const (
	envRestartMode = "PORTICO_RESTART_MODE"
	envRestartAt   = "PORTICO_RESTART_AT"
)

// Status is what `portico status` shows.
type Status struct {
	ServerName     string           `json:"server_name"`
	PID            int              `json:"pid"`
	Started        time.Time        `json:"started"`
	Sessions       int              `json:"sessions"`
	AccountsOnline int              `json:"accounts_online"`
	Accounts       int              `json:"accounts"`
	Plugins        []plugins.Status `json:"plugins"`
	// Bots are the bridge bots with their state, as `portico bot list`
	// shows them.
	Bots []BotInfo `json:"bots"`
	// PasswordHashes counts the argon2 computations since the host
	// (image) started: what floods of logins and creations cost.
	PasswordHashes int64 `json:"password_hashes"`
}

// SessionInfo is one session as `portico sessions` shows it.
type SessionInfo struct {
	Sessid        uint64         `json:"sessid"`
	Plugin        string         `json:"plugin"`
	ProtocolKey   string         `json:"protocol_key"`
	Address       string         `json:"address"`
	Account       string         `json:"account,omitempty"`
	LoggedIn      bool           `json:"logged_in"`
	ConnTime      time.Time      `json:"conn_time"`
	CmdLast       time.Time      `json:"cmd_last"`
	ProtocolFlags map[string]any `json:"protocol_flags"`
}

// Run starts the host with cfg, running the game that opts make, until
// ctx ends or a stop is asked for. Logs go to logOut (stderr) and
// <data_dir>/logs/portico.log. Main runs it for `portico start`.
//
// Long because it is the host's start-up in order (the game's settings,
// directories, pid lock, plugin checks, logs, store, game, plugins, control
// socket, watch) and each step's deferred teardown must sit beside it.
func Run(ctx context.Context, cfg *config.Config, logOut io.Writer, opts ...Option) error {
	// The game's own mistakes and its settings first: they need nothing
	// started, and a typo in the game block should cost no plugin check.
	if err := checkGame(cfg, opts); err != nil {
		return err
	}
	for _, dir := range []string{cfg.Server.DataDir, cfg.RunDir(), cfg.LogDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("host: %w", err)
		}
	}
	if err := os.Chmod(cfg.RunDir(), 0o700); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	lock, err := lockPIDFile(filepath.Join(cfg.RunDir(), "portico.pid"))
	if err != nil {
		return err
	}
	defer lock.release()
	// Every enabled plugin's binary and block, checked by the plugin
	// itself before anything starts: a mistake is one line naming the key,
	// and the host does not come up. A re-executed image (a reload) skips
	// it: its plugins are running, and a block changed meanwhile is checked
	// before its plugin is touched (plugins.Manager.Start).
	var checked time.Duration
	if os.Getenv(envRestartMode) == "" {
		t0 := time.Now()
		if err := plugins.Check(cfg); err != nil {
			return err
		}
		checked = time.Since(t0)
	}
	logOpts := cfg.Log.Options()
	logFile, err := logging.OpenFile(filepath.Join(cfg.LogDir(), "portico.log"), logOpts)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	defer logFile.Close()
	out := io.MultiWriter(logOut, logFile)
	log := slog.New(logOpts.Handler(out))

	st, err := store.Open(cfg.StoreLocation(), store.Options{Argon2: store.Argon2Params{
		MemoryKiB: cfg.Server.Argon2MemoryKiB, Time: cfg.Server.Argon2Time}})
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	defer st.Close()

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("host: find own binary: %w", err)
	}
	h := &Host{cfg: cfg, log: log, logOut: out, store: st, started: time.Now(), exe: exe,
		stopReq: make(chan string, 1), restartReq: make(chan restartRequest, 1), stopped: make(chan struct{})}
	g, err := NewGame(ctx, cfg, st, log, opts...)
	if err != nil {
		return err
	}
	h.game, h.handler, h.commands, h.channels = g, g.handler, g.commands, g.channels
	h.handler.SetLifecycle(h)
	h.manager = plugins.NewManager(cfg, st, h.handler, log, out)
	h.manager.OnRunning = h.startBots
	h.handler.SetPortals(h.manager)
	// A new bot is checked by its plugin before it is stored.
	h.commands.SetBotChecker(h.manager.ValidateBot)
	met := newMetrics(h)
	h.handler.SetMeter(met)
	h.manager.Meter = met
	if err := h.openPortal(cfg); err != nil {
		return err
	}

	ctrl, err := control.Listen(cfg.ControlSocket(), h.control, log)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	stopMetrics := func() {}
	if cfg.Server.MetricsListen != "" {
		if stopMetrics, err = serveMetrics(cfg.Server.MetricsListen, met, log); err != nil {
			ctrl.Close()
			return err
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var loops sync.WaitGroup
	loops.Add(3)
	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { defer loops.Done(); defer close(loopDone); h.handler.Run(loopCtx) }()
	go func() { defer loops.Done(); ctrl.Serve(runCtx) }()
	go func() { defer loops.Done(); h.watchConfig(runCtx) }()
	// stopGame stops the loop, and with it all game code, then writes what
	// the game's attribute store still holds: before a waiting `portico
	// stop` is answered, and before the store closes.
	stopGame := sync.OnceFunc(func() {
		stopLoop()
		<-loopDone
		if err := g.Close(); err != nil {
			log.Error("attributes not all saved", "err", err)
		}
	})
	// stopParts stops the host's own parts.
	stopParts := func() {
		stopGame()
		cancel()
		ctrl.Close()
		stopMetrics()
		loops.Wait()
	}
	if err := g.Start(ctx); err != nil {
		stopParts()
		return err
	}

	log.Info("host starting", "server", cfg.Server.Name, "data_dir", cfg.Server.DataDir, "pid", os.Getpid(),
		"config", cfg.Path, "database", st.String(), "plugins_checked_in", checked.Round(time.Millisecond))
	// The plugins live under their own context: a stop signal must not
	// cut their links before Stop has told their players why.
	mgrCtx, stopPlugins := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPlugins()
	if err := h.manager.Start(mgrCtx); err != nil {
		log.Error("start plugins", "err", err)
	}
	loops.Add(1)
	go func() {
		defer loops.Done()
		// Once every plugin is running (or has failed to start), say where
		// players can connect.
		if st := h.manager.WaitStarted(runCtx); st != nil {
			log.Info("host up", "listening", listening(st))
		}
	}()
	if mode := os.Getenv(envRestartMode); mode != "" {
		os.Unsetenv(envRestartMode)
		if at, err := strconv.ParseInt(os.Getenv(envRestartAt), 10, 64); err == nil {
			took := time.Since(time.Unix(0, at))
			met.reloadDuration.observe(took.Seconds())
			// Carried to the next image by the environment its re-execution
			// inherits.
			os.Setenv(envReloadDurations, met.reloadDuration.encode())
			log.Info("host restarted", "mode", mode, "took", took.Round(time.Millisecond))
		}
		os.Unsetenv(envRestartAt)
	}
	reason := ReasonShutdown
	select {
	case <-ctx.Done():
	case r := <-h.stopReq:
		if r != "" {
			reason = r
		}
	case req := <-h.restartReq:
		err := h.restart(req, func() {
			stopParts()
			st.Close()
		})
		// restart returns only when the exec failed; the plugins were
		// handed over and keep their clients for the grace period, during
		// which `portico start` reattaches to them.
		log.Error("host restart failed; start the host again to reattach to the plugins", "err", err)
		return err
	}
	log.Info("host shutting down", "reason", reason)
	h.manager.Stop(reason)
	stopGame()
	cancel()
	// Everything is down: a waiting `portico stop` may now be answered.
	close(h.stopped)
	stopParts()
	log.Info("host stopped")
	return nil
}

// listening says where the plugins serve players, for the console:
// "telnet on 0.0.0.0:4000, ssh on 0.0.0.0:4001, webclient on
// http://0.0.0.0:4002/", and which are not running.
func listening(st []plugins.Status) string {
	var on, down []string
	for _, p := range st {
		on = append(on, p.Listeners...)
		if p.State != plugins.StateRunning {
			down = append(down, p.Name+" ("+p.State+")")
		}
	}
	out := strings.Join(on, ", ")
	if out == "" {
		out = "nothing"
	}
	if len(down) > 0 {
		out += "; not running: " + strings.Join(down, ", ")
	}
	return out
}

func (h *Host) config() *config.Config {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	return h.cfg
}

func (h *Host) setConfig(c *config.Config) {
	h.cfgMu.Lock()
	h.cfg = c
	h.cfgMu.Unlock()
}

// Settings derives the handler's live settings from cfg.
func Settings(cfg *config.Config) sessions.Settings {
	return sessions.Settings{ServerName: cfg.Server.Name, MultisessionMode: cfg.Server.MultisessionMode,
		IdleTimeout: cfg.Server.IdleTimeout, Limits: cfg.Limits, WhoBeforeLogin: cfg.Server.WhoBeforeLogin}
}

// Shutdown asks the host to stop, telling players reason.
func (h *Host) Shutdown(reason string) error {
	h.stopOnce.Do(func() { h.stopReq <- reason })
	return nil
}

// Reload asks the host to re-execute itself while every player stays
// connected: the plugins keep the sockets, buffer input, and the new image
// reattaches to them and rebuilds the sessions.
func (h *Host) Reload(reason string) error { return h.requestRestart(ModeReload, reason) }

// Reset is Reload that also drops the host's non-persistent state.
func (h *Host) Reset(reason string) error { return h.requestRestart(ModeReset, reason) }

func (h *Host) requestRestart(mode, reason string) error {
	select {
	case h.restartReq <- restartRequest{mode: mode, reason: reason}:
		return nil
	default:
		return errors.New("host: a restart is already under way")
	}
}

// restart hands the plugins over and re-executes the host binary (same
// pid). teardown stops the host's own parts before the exec. It returns
// only if the exec failed.
func (h *Host) restart(req restartRequest, teardown func()) error {
	t0 := time.Now()
	msg := " Server restart initiated ..."
	if req.mode == ModeReset {
		msg = " Server reset initiated ..."
	}
	if req.reason != "" {
		msg = strings.TrimSuffix(msg, " ...") + " (Reason: " + req.reason + ") ..."
	}
	bg := context.Background()
	dctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var tDetached, tSynced time.Time
	// The announcement goes out right after the plugins are asked to
	// detach: they confirm first, then write it to their clients while
	// the host goes on (Manager.Detach).
	err := h.manager.Detach(dctx, func() { _ = h.handler.Call(bg, func() { h.handler.AnnounceAll(msg) }) }, func() {
		// Everything the plugins sent is on the loop now; let it run, let
		// the password checks already running finish (queued ones are
		// dropped, their players told to try again), then push every
		// session's data so the plugins hold the truth across the gap.
		tDetached = time.Now()
		_ = h.handler.Call(bg, func() {})
		h.handler.StopAsync()
		_ = h.handler.Call(bg, func() { h.handler.AllSessionsPortalSync(sessions.ReloadSyncFields...) })
		tSynced = time.Now()
	})
	if err != nil {
		h.log.Error("reload: detach", "err", err)
	}
	teardown()
	ms := func(a, b time.Time) time.Duration { return b.Sub(a).Round(100 * time.Microsecond) }
	now := time.Now()
	h.log.Info("re-executing", "mode", req.mode, "binary", h.exe, "handover", ms(t0, now),
		"plugins_paused", ms(t0, tDetached), "synced", ms(tDetached, tSynced), "flushed", ms(tSynced, now))
	reloads, _ := strconv.Atoi(os.Getenv(envReloads))
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, envReloads+"=") })
	env = append(env, envRestartMode+"="+req.mode, envRestartAt+"="+strconv.FormatInt(t0.UnixNano(), 10),
		envReloads+"="+strconv.Itoa(reloads+1))
	// A CPU profile's timer would outlive the exec and kill the new image.
	cpuprofile.StopForExec()
	return fmt.Errorf("host: exec %s: %w", h.exe, syscall.Exec(h.exe, os.Args, env))
}

func (h *Host) status(ctx context.Context) (Status, error) {
	st := Status{ServerName: h.config().Server.Name, PID: os.Getpid(), Started: h.started, Plugins: h.manager.Statuses(),
		PasswordHashes: h.store.PasswordHashes()}
	if err := h.handler.Call(ctx, func() {
		st.Sessions = h.handler.Count()
		st.AccountsOnline = h.handler.AccountCount()
		st.Bots = h.botInfos()
	}); err != nil {
		return st, err
	}
	n, err := h.store.CountAccounts(ctx)
	if err != nil {
		return st, err
	}
	st.Accounts = n
	return st, nil
}

// control answers one request of the control socket (portico status, stop,
// reload, account, bot, …).
//
// Long because it is one switch with a short case per control command;
// each case is a few lines that read best together.
func (h *Host) control(ctx context.Context, req control.Request) (any, <-chan struct{}, error) {
	switch req.Cmd {
	case "status":
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := h.status(cctx)
		return st, nil, err
	case "announce":
		text := req.Args["text"]
		if strings.TrimSpace(text) == "" {
			return nil, nil, errors.New("control: announce: no text")
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var n int
		err := h.handler.Call(cctx, func() {
			n = h.handler.Count()
			h.handler.AnnounceAll(text)
		})
		return map[string]int{"sessions": n}, nil, err
	case "bot_add":
		// Numbers stay json.Number: a Discord id (a 64-bit snowflake)
		// read as a float64 would reach Discord as another id.
		dec := json.NewDecoder(strings.NewReader(req.Args["config"]))
		dec.UseNumber()
		var cfg map[string]any
		if err := dec.Decode(&cfg); err != nil {
			return nil, nil, fmt.Errorf("bot add: config: %w", err)
		}
		// Checked by the bot's plugin (off the loop) before it is stored;
		// the answer comes back on the loop.
		type added struct {
			msg string
			err error
		}
		answer := make(chan added, 1)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := h.handler.Call(cctx, func() {
			h.commands.AddBotChecked(req.Args["name"], req.Args["protocol"], req.Args["channel"], cfg,
				func(msg string, err error) { answer <- added{msg, err} })
		}); err != nil {
			return nil, nil, err
		}
		select {
		case a := <-answer:
			if a.err != nil {
				return nil, nil, a.err
			}
			return map[string]string{"message": a.msg}, nil, nil
		case <-cctx.Done():
			return nil, nil, fmt.Errorf("bot add: %w", cctx.Err())
		}
	case "bot_list":
		var out []BotInfo
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := h.handler.Call(cctx, func() { out = h.botInfos() })
		return out, nil, err
	case "bot_remove":
		var removeErr error
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := h.handler.Call(cctx, func() {
			b, ok := h.channels.BotByName(req.Args["name"])
			if !ok {
				removeErr = fmt.Errorf("no bot named %q", req.Args["name"])
				return
			}
			removeErr = h.channels.RemoveBot(context.Background(), b)
		}); err != nil {
			return nil, nil, err
		}
		return map[string]string{"removed": req.Args["name"]}, nil, removeErr
	case "sessions":
		var out []SessionInfo
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := h.handler.Call(cctx, func() {
			for _, s := range h.handler.Sessions() {
				out = append(out, SessionInfo{Sessid: s.Sessid, Plugin: s.Plugin, ProtocolKey: s.ProtocolKey,
					Address: s.Address, Account: s.UName, LoggedIn: s.LoggedIn, ConnTime: s.ConnTime,
					CmdLast: s.CmdLast, ProtocolFlags: s.ProtocolFlags.Map()})
			}
		})
		return out, nil, err
	case "reload", "reset":
		mode := req.Cmd
		if err := h.requestRestart(mode, req.Args["reason"]); err != nil {
			return nil, nil, err
		}
		return map[string]any{"state": mode + "ing", "pid": os.Getpid(), "started": h.started}, nil, nil
	case "stop":
		reason := req.Args["reason"]
		if reason != "" {
			reason = ReasonShutdownBecause + reason
		}
		_ = h.Shutdown(reason)
		return map[string]string{"state": "stopping"}, h.stopped, nil
	default:
		return h.controlOps(ctx, req)
	}
}

// pidLock holds the data directory's pid file locked while the host runs,
// so that two hosts never share one data directory.
type pidLock struct{ f *os.File }

func lockPIDFile(path string) (*pidLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("host: pid file: %w", err)
	}
	// A pid file left by a host that died keeps whatever mode it had.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("host: pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("host: another host is running with data directory %s", filepath.Dir(filepath.Dir(path)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &pidLock{f: f}, nil
}

func (l *pidLock) release() {
	_ = os.Remove(l.f.Name())
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// BotInfo is one bot as `portico bot list` and `portico status` show it.
type BotInfo struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Channel  string `json:"channel"`
	// State is its plugin's report: "connected since ...", "reconnecting
	// in 5 s", "failed: authentication failed", or "not running".
	State string `json:"state"`
	// LastError is the last error its plugin reported, "" for none.
	LastError string         `json:"last_error"`
	Config    map[string]any `json:"config"`
}

// botInfos lists the bots with their state; it runs on the loop.
func (h *Host) botInfos() []BotInfo {
	var out []BotInfo
	for _, b := range h.channels.Bots() {
		ch, _ := h.channels.ByID(b.ChannelID)
		cfg := map[string]any{}
		for k, v := range b.Config {
			if k == "sasl_password" {
				v = "********"
			}
			cfg[k] = v
		}
		out = append(out, BotInfo{Name: b.Name, Protocol: b.Protocol, Channel: ch.Name, State: h.channels.BotState(b),
			LastError: h.channels.BotError(b), Config: cfg})
	}
	return out
}

// startBots starts the stored bots of a plugin that is now running and
// have no session (after a reattach their sessions came back with the
// plugin: one bot, one session). A bot is the plugin's only if its
// protocol resolves to this plugin as StartBot resolves it: two plugins
// may share a protocol key, and the one reattached first must not start
// (and so log in twice) a bot whose session comes back with the other.
func (h *Host) startBots(plugin, _ string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.handler.Call(ctx, func() {
		for _, b := range h.channels.Bots() {
			if owner, ok := h.manager.PluginFor(b.Protocol); !ok || owner != plugin {
				continue
			}
			if len(h.handler.SessionsFromAccount(b.AccountID)) > 0 {
				continue
			}
			h.log.Info("starting bot", "bot", b.Name, "plugin", plugin)
			h.commands.StartBot(b)
		}
	})
}
