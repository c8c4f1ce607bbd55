package host

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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

// applyConfig loads the config file again and applies it. A file that does
// not load, or that changes a host key not marked live in the config struct
// (config.Config's live tag), is refused as a whole, naming what is wrong:
// the running config stays (NATS's rule: a reload is all or nothing).
func (h *Host) applyConfig(why string) {
	cur := h.config()
	next, err := config.Load(cur.Path)
	if err != nil {
		h.log.Error("config: rejected; the running config stays", "why", why, "err", err)
		return
	}
	changed, fixed := config.Changes(cur, next)
	if len(fixed) > 0 {
		h.log.Error("config: rejected; the running config stays", "why", why,
			"err", fmt.Sprintf("config reload not supported for %s; restart the host to change it, or undo the edit",
				strings.Join(fixed, ", ")))
		return
	}
	h.setConfig(next)
	settings := Settings(next)
	h.handler.Do(func() { h.handler.SetSettings(settings) })
	h.manager.Apply(next)
	h.log.Info("config: applied", "why", why, "changed", strings.Join(changed, ", "))
}
