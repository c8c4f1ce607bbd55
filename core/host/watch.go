package host

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/portico-mud/portico/core/config"
)

// configDebounce lets an editor finish writing before the file is read.
const configDebounce = 250 * time.Millisecond

// watchConfig applies config.yaml changes while the host runs: on a write
// to the file (debounced) or on SIGHUP it builds a fresh config and, if it
// is valid, swaps it in whole. It watches the directory, not the file,
// because editors replace files. It stops when ctx ends.
func (h *Host) watchConfig(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		h.log.Warn("config: cannot watch the file; SIGHUP still reloads it", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(h.config().Path)); err != nil {
			h.log.Warn("config: cannot watch the file; SIGHUP still reloads it", "err", err)
		} else {
			events, errs = w.Events, w.Errors
		}
	}
	name := filepath.Base(h.config().Path)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if filepath.Base(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce.Reset(configDebounce)
			}
		case err := <-errs:
			h.log.Warn("config: watch", "err", err)
		case <-debounce.C:
			h.applyConfig("file changed")
		case <-hup:
			h.applyConfig("SIGHUP")
		}
	}
}

// applyConfig loads the config file again and applies what can change
// live. A file that does not load leaves the running config in place.
func (h *Host) applyConfig(why string) {
	cur := h.config()
	next, err := config.Load(cur.Path)
	if err != nil {
		h.log.Error("config: rejected; the running config stays", "why", why, "err", err)
		return
	}
	// Settings that cannot change while the host runs keep their value and
	// are named, as NATS does ("config reload not supported for X").
	if next.Server.DataDir != cur.Server.DataDir {
		h.log.Warn("config reload not supported for server.data_dir; restart the host to change it")
		next.Server.DataDir = cur.Server.DataDir
	}
	if next.Server.Argon2MemoryKiB != cur.Server.Argon2MemoryKiB || next.Server.Argon2Time != cur.Server.Argon2Time {
		h.log.Warn("config reload not supported for server.argon2_memory_kib/argon2_time; restart the host to change them")
		next.Server.Argon2MemoryKiB, next.Server.Argon2Time = cur.Server.Argon2MemoryKiB, cur.Server.Argon2Time
	}
	if next.Limits.MaxInputLength != cur.Limits.MaxInputLength {
		h.log.Info("limits.max_input_length reaches each plugin when it next starts")
	}
	if next.Server.ReattachGrace != cur.Server.ReattachGrace {
		h.log.Info("server.reattach_grace reaches each plugin when it is next configured")
	}
	h.setConfig(next)
	settings := Settings(next)
	h.handler.Do(func() { h.handler.SetSettings(settings) })
	h.manager.Apply(next)
	h.log.Info("config: applied", "why", why, "server", next.Server.Name,
		"multisession_mode", next.Server.MultisessionMode, "idle_timeout", next.Server.IdleTimeout)
}
