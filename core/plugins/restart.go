package plugins

import (
	"errors"
	"fmt"
)

// Restart stops the running plugin name, telling its players reason, and
// starts it afresh from its block in the config, as `portico plugin
// restart` asks: a plugin that crash-looped (failed) is started again too.
// The block is checked by the plugin's binary first; a block that does not
// pass leaves the plugin as it is and is the error. The last error the
// plugin had stays in its status until another replaces it. A remote
// plugin is not the host's to start: Restart refuses it, saying so.
func (m *Manager) Restart(name, reason string) error {
	m.mu.Lock()
	ctx, r, cfg := m.ctx, m.runners[name], m.cfg
	m.mu.Unlock()
	if r == nil || ctx == nil {
		return fmt.Errorf("no plugin named %q is running or configured", name)
	}
	if r.remote {
		return errRemoteRestart(name)
	}
	p, ok := cfg.Plugins[name]
	if !ok || !p.Enabled {
		return fmt.Errorf("plugin %s is not enabled in %s", name, cfg.Path)
	}
	if c := checkPlugin(ctx, cfg, p, r.heldAddrs()); len(c.problems) > 0 {
		return errors.Join(errors.New("not restarted: its block does not pass its check"), c.problems)
	}
	m.log.Info("plugin restart asked for", "plugin", name)
	r.mu.Lock()
	lastErr, lastErrAt, restarts := r.lastErr, r.lastErrAt, r.restarts
	r.mu.Unlock()
	r.stop(reason)
	m.removeRecord(name)
	if err := m.startPlugin(ctx, p, nil); err != nil {
		return err
	}
	if n := m.runner(name); n != nil {
		n.mu.Lock()
		if n.lastErr == "" { // the new process may have failed already
			n.lastErr, n.lastErrAt = lastErr, lastErrAt
		}
		n.restarts += restarts + 1
		n.mu.Unlock()
	}
	return nil
}
