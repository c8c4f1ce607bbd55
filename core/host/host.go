// Package host puts the host's parts together: config, store, session
// handler, commands, plugin manager and control socket, with one lifecycle.
// cmd/host is a thin command line around it.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/portico-mud/portico/core/commands"
	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/plugins"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
)

// ReasonShutdown is what players are told when the host shuts down.
const ReasonShutdown = "Server is shutting down."

// Host is a running Portico host.
type Host struct {
	cfg      *config.Config
	log      *slog.Logger
	logOut   io.Writer
	store    *store.Store
	handler  *sessions.ServerSessionHandler
	commands *commands.Handler
	manager  *plugins.Manager
	started  time.Time

	stopOnce sync.Once
	stopReq  chan string
	stopped  chan struct{}
}

// Status is what `portico status` shows.
type Status struct {
	ServerName     string           `json:"server_name"`
	PID            int              `json:"pid"`
	Started        time.Time        `json:"started"`
	Sessions       int              `json:"sessions"`
	AccountsOnline int              `json:"accounts_online"`
	Accounts       int              `json:"accounts"`
	Plugins        []plugins.Status `json:"plugins"`
}

// Run starts the host with cfg and runs it until ctx ends or a stop is
// asked for. Logs go to logOut (stderr) and <data_dir>/logs/portico.log.
func Run(ctx context.Context, cfg *config.Config, logOut io.Writer) error {
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
	logFile, err := os.OpenFile(filepath.Join(cfg.LogDir(), "portico.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("host: log file: %w", err)
	}
	defer logFile.Close()
	out := io.MultiWriter(logOut, logFile)
	log := slog.New(slog.NewTextHandler(out, nil))

	st, err := store.Open(cfg.DBPath(), store.Options{Argon2: store.Argon2Params{
		MemoryKiB: cfg.Server.Argon2MemoryKiB, Time: cfg.Server.Argon2Time}})
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	defer st.Close()

	h := &Host{cfg: cfg, log: log, logOut: out, store: st, started: time.Now(),
		stopReq: make(chan string, 1), stopped: make(chan struct{})}
	h.handler = sessions.NewServerSessionHandler(sessions.Options{Log: log, Store: st, Lifecycle: h,
		Settings: Settings(cfg)})
	h.commands = commands.NewHandler(h.handler)
	h.handler.SetCommands(h.commands)
	h.manager = plugins.NewManager(cfg, st, h.handler, log, out)
	h.handler.SetPortals(h.manager)

	ctrl, err := control.Listen(cfg.ControlSocket(), h.control, log)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var loops sync.WaitGroup
	loops.Add(2)
	loopCtx, stopLoop := context.WithCancel(context.Background())
	go func() { defer loops.Done(); h.handler.Run(loopCtx) }()
	go func() { defer loops.Done(); ctrl.Serve(runCtx) }()

	log.Info("host starting", "server", cfg.Server.Name, "data_dir", cfg.Server.DataDir, "pid", os.Getpid(),
		"config", cfg.Path)
	if err := h.manager.Start(runCtx); err != nil {
		log.Error("start plugins", "err", err)
	}
	reason := ReasonShutdown
	select {
	case <-ctx.Done():
	case r := <-h.stopReq:
		if r != "" {
			reason = r
		}
	}
	log.Info("host shutting down", "reason", reason)
	h.manager.Stop(reason)
	stopLoop()
	cancel()
	// Everything is down: a waiting `portico stop` may now be answered.
	close(h.stopped)
	ctrl.Close()
	loops.Wait()
	log.Info("host stopped")
	return nil
}

// Settings derives the handler's live settings from cfg.
func Settings(cfg *config.Config) sessions.Settings {
	return sessions.Settings{ServerName: cfg.Server.Name, MultisessionMode: cfg.Server.MultisessionMode,
		IdleTimeout: cfg.Server.IdleTimeout}
}

// Shutdown asks the host to stop, telling players reason.
func (h *Host) Shutdown(reason string) error {
	h.stopOnce.Do(func() { h.stopReq <- reason })
	return nil
}

// Reload is not available yet: it re-executes the host while plugins keep
// their clients, which arrives with the reload work.
func (h *Host) Reload(string) error {
	return errors.New("host: reload is not supported by this version")
}

// Reset is not available yet, as Reload.
func (h *Host) Reset(string) error {
	return errors.New("host: reset is not supported by this version")
}

func (h *Host) status(ctx context.Context) (Status, error) {
	st := Status{ServerName: h.cfg.Server.Name, PID: os.Getpid(), Started: h.started, Plugins: h.manager.Statuses()}
	if err := h.handler.Call(ctx, func() {
		st.Sessions = h.handler.Count()
		st.AccountsOnline = h.handler.AccountCount()
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

func (h *Host) control(ctx context.Context, req control.Request) (any, <-chan struct{}, error) {
	switch req.Cmd {
	case "status":
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := h.status(cctx)
		return st, nil, err
	case "stop":
		reason := req.Args["reason"]
		_ = h.Shutdown(reason)
		return map[string]string{"state": "stopping"}, h.stopped, nil
	default:
		return nil, nil, fmt.Errorf("control: unknown command %q", req.Cmd)
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
