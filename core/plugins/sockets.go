package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	hplugin "github.com/hashicorp/go-plugin"
)

// The link's unix sockets live in <data_dir>/run/plugins (0700), one per
// plugin process. A plugin's go-plugin Serve removes its socket when it
// returns (a Shutdown, or sdk.Serve giving up on a lost host), but a plugin
// that crashed or was killed leaves it behind: the host removes it when it
// sees the process end, and sweeps what is left at start.

// maxSocketPath is the longest path a unix socket can be bound to here:
// sun_path (108 bytes on Linux) less its terminating NUL.
var maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// socketNameLen is the longest name a socket in the directory has:
// go-plugin's, os.CreateTemp's "plugin" and a random uint32 in decimal
// (the data socket's, "data" and one, is shorter).
const socketNameLen = len("plugin") + 10

// checkSocketDir fails, naming the setting to change, when a plugin socket
// in dir could have a path too long to bind: the plugin would otherwise
// fail at launch with go-plugin's bare "bind: invalid argument".
func checkSocketDir(dir string) error {
	if n := len(dir) + 1 + socketNameLen; n > maxSocketPath {
		return fmt.Errorf("plugins: the plugin socket directory %s is too long: a socket there needs a path of up to %d bytes, and unix sockets allow %d; choose a shorter server.data_dir",
			dir, n, maxSocketPath)
	}
	return nil
}

// killClient ends a plugin process go-plugin launched or reattached to,
// and removes its socket, which it leaves behind if it did not exit
// cleanly.
func (m *Manager) killClient(c *hplugin.Client) {
	rc := c.ReattachConfig()
	c.Kill()
	if rc != nil && rc.Addr != nil {
		m.removeSocket(rc.Addr.Network(), rc.Addr.String())
	}
}

// killWait bounds go-plugin's Kill of a run's process before the host
// kills it outright: Kill first asks the plugin to shut down over gRPC and
// waits, without a bound, for an answer that a stopped or wedged process
// never gives.
const killWait = 10 * time.Second

// endRun ends a run's process as killClient does, and kills it outright
// (killHung: after checking it is the process rec names) should that not
// be done within killWait.
func (r *runner) endRun(c *hplugin.Client, rec record) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.m.killClient(c)
	}()
	select {
	case <-done:
	case <-time.After(killWait):
		r.log.Warn("plugin did not shut down; killing it", "pid", rec.Pid)
		r.m.killHung(rec)
		<-done
	}
}

// endRecorded ends the process rec names (after checking that it is that
// process) and removes its socket.
func (m *Manager) endRecorded(rec *record) {
	killRecorded(rec)
	m.removeSocket(rec.Network, rec.Addr)
}

// removeSocket removes a plugin's socket file. Only a file directly in the
// host's socket directory is removed: a record is a file on disk, and what
// it names is not trusted to be the host's to delete.
func (m *Manager) removeSocket(network, path string) {
	if network != "unix" || path == "" || filepath.Dir(filepath.Clean(path)) != filepath.Clean(m.socketDir()) {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("remove plugin socket", "path", path, "err", err)
	}
}

// sweepSockets empties the socket directory of everything but keep (the
// sockets of the plugins about to be reattached): sockets of plugins that
// crashed, were killed, or outlived a host that never came back. Start
// runs it before launching any plugin, so nothing in the directory can
// belong to a plugin this host is starting.
func (m *Manager) sweepSockets(keep map[string]bool) {
	dir := m.socketDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		m.log.Warn("sweep plugin sockets", "dir", dir, "err", err)
		return
	}
	removed := 0
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if keep[path] {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("remove stale plugin socket", "path", path, "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		m.log.Info("removed stale plugin sockets", "dir", dir, "count", removed)
	}
}
