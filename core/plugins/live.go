package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc/status"
)

// Live edits of config.yaml, plugin by plugin (Apply). The rule: nothing
// running is stopped before its new config is known to be good.
//
//   - A changed block is first checked by the running plugin itself
//     (Validate, told which addresses it holds). A block that fails is not
//     applied: the plugin and its players stay, and the problems, each
//     naming its key, are logged and shown in `portico status`
//     (config_error) until an edit passes.
//   - A block that passes is handed to the running plugin (Configure
//     again): one that can apply it in place (limits, timeouts, MSSP, a new
//     listen address...) does, keeping every player; one that cannot (a new
//     TLS listener) says so, and only then is it restarted, its players
//     told.
//   - A new binary, a plugin newly enabled and a stopped one are checked by
//     a process of the binary launched for that alone before the running
//     one (if any) is stopped.
//   - New host facts (the limits, the server name) reach every running
//     plugin in place; one that cannot take them in place gets them at its
//     next start.
//   - A plugin without Validate (an older SDK) is checked as before: by
//     restarting it with the new block.

// Apply brings the running plugins in line with a new configuration (a
// live config change): a plugin newly enabled starts, one disabled stops
// (its players are told), one whose block changed is reconfigured in place
// or restarted once its Validate passes (see above). The others, and their
// players, are untouched.
func (m *Manager) Apply(next *config.Config) {
	m.mu.Lock()
	prev := m.cfg
	m.cfg = next
	ctx := m.ctx
	current := maps.Clone(m.runners)
	m.mu.Unlock()
	if ctx == nil {
		return
	}
	for _, r := range current {
		r.setOutboxLimit(next.Server.PluginOutboxMiB)
	}
	hostChanged := !sameHostFacts(prev, next)
	want := map[string]config.Plugin{}
	for _, p := range next.EnabledPlugins() {
		want[p.Name] = p
	}
	for name, r := range current {
		p, ok := want[name]
		if ok {
			// Not part of the spec: it changes nothing in the process,
			// only which of its logins the host believes.
			r.trustKeys.Store(p.TrustKeyLogins)
		}
		spec := r.currentSpec()
		state := r.status().State
		if ok && (r.remote || p.Remote) {
			m.applyRemote(ctx, r, p, next, hostChanged)
			continue
		}
		switch {
		case !ok:
			if state == StateStopped {
				// Disabled: a block it refused is no longer wanted.
				r.clearConfigErr()
				continue
			}
			m.log.Info("plugin disabled in config; stopping it", "plugin", name)
			r.stop(fmt.Sprintf("The %s service is being turned off.", name))
			m.removeRecord(name)
		case state != StateRunning:
			// No process to ask: a stopped plugin (disabled before, or
			// refused) starts again; one restarting or failed starts
			// afresh if its config changed.
			if state == StateStopped || !sameBinary(spec, p) || !sameBlock(spec, p) {
				m.replace(ctx, r, p, next)
			}
		case !sameBinary(spec, p):
			m.replace(ctx, r, p, next)
		case !sameBlock(spec, p):
			m.reconfigure(ctx, r, p, next, hostChanged)
		default:
			if r.clearConfigErr() {
				m.log.Info("config: the plugin's block is again the one it runs with", "plugin", name)
			}
			if hostChanged {
				m.refresh(ctx, r, next)
			}
		}
	}
	for name, p := range want {
		if _, ok := current[name]; ok {
			continue
		}
		m.log.Info("plugin enabled in config; starting it", "plugin", name)
		if p.Remote {
			// Nothing to launch or check here: it is checked when it
			// connects (Configure).
			if err := m.startPlugin(ctx, p, nil); err != nil {
				m.log.Error("start plugin", "plugin", p.Name, "err", err)
			}
			continue
		}
		m.startChecked(ctx, p, next)
	}
}

// sameBinary reports whether two configs of a plugin run the same binary.
// A new checksum means another binary is wanted: relaunch, so that it is
// checked. So does a new protocol: with no path, it picks the binary.
func sameBinary(a, b config.Plugin) bool {
	return a.Path == b.Path && a.ProtocolName() == b.ProtocolName() && bytes.Equal(a.SHA256, b.SHA256)
}

// sameBlock reports whether two configs of a plugin hand it the same block.
func sameBlock(a, b config.Plugin) bool {
	ja, _ := json.Marshal(a.Config)
	jb, _ := json.Marshal(b.Config)
	return string(ja) == string(jb)
}

// reconfigure applies a changed block to running plugin r: Validate on the
// running process, then Configure in place, or a restart when the plugin
// cannot apply it in place.
func (m *Manager) reconfigure(ctx context.Context, r *runner, p config.Plugin, next *config.Config, hostChanged bool) {
	portal := r.portalClient()
	if portal == nil {
		m.replace(ctx, r, p, next)
		return
	}
	c := validateWith(ctx, portal, next, p, r.heldAddrs())
	switch {
	case c.unchecked:
		m.log.Info("plugin config changed; the plugin cannot check a config before it runs it (no Validate): restarting it with the new one",
			"plugin", r.name)
		m.restart(ctx, r, p)
		return
	case len(c.problems) > 0:
		m.reject(r, c.problems)
		if hostChanged {
			m.refresh(ctx, r, next)
		}
		return
	}
	block, _ := json.Marshal(p.Config)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: block, Host: hostFacts(next)})
	cancel()
	switch {
	case err != nil:
		m.reject(r, config.Problems{next.Problem("plugins."+r.name+".config", status.Convert(err).Message())})
	case resp.GetReconfigured() == portalpb.Reconfigured_RECONFIGURED_APPLIED,
		resp.GetReconfigured() == portalpb.Reconfigured_RECONFIGURED_UNCHANGED:
		r.applied(p, resp.GetListeners())
		m.log.Info("plugin config applied in place; its players stay", "plugin", r.name,
			"listening", strings.Join(listenerNames(resp.GetListeners()), ", "))
	default:
		why := resp.GetRestartReason()
		if why == "" {
			why = "the plugin cannot apply a new config while it runs"
		}
		m.log.Info("plugin config changed; restarting it", "plugin", r.name, "why", why)
		m.restart(ctx, r, p)
	}
}

// refresh hands running plugin r the host's new facts (the limits, the
// server name) with its block unchanged.
func (m *Manager) refresh(ctx context.Context, r *runner, next *config.Config) {
	portal := r.portalClient()
	if portal == nil {
		return
	}
	block, _ := json.Marshal(r.currentSpec().Config)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	resp, err := portal.Configure(cctx, &portalpb.ConfigureRequest{ConfigJson: block, Host: hostFacts(next)})
	cancel()
	switch {
	case err != nil:
		m.log.Warn("plugin did not take the new host settings; they reach it when it next starts", "plugin", r.name,
			"err", status.Convert(err).Message())
	case resp.GetReconfigured() == portalpb.Reconfigured_RECONFIGURED_APPLIED,
		resp.GetReconfigured() == portalpb.Reconfigured_RECONFIGURED_UNCHANGED:
		r.applied(r.currentSpec(), resp.GetListeners())
		m.log.Info("host settings applied to the plugin in place", "plugin", r.name)
	default:
		// Its connection limits apply already (the SDK's portal reads them
		// afresh); the rest waits for a restart that nobody forces on its
		// players.
		m.log.Info("plugin takes the new host settings when it next starts", "plugin", r.name,
			"why", resp.GetRestartReason())
	}
}

// replace checks p by launching its binary for the check alone, then
// stops r (telling its players) and starts p. A p that does not pass
// leaves r as it is.
func (m *Manager) replace(ctx context.Context, r *runner, p config.Plugin, next *config.Config) {
	c := checkPlugin(ctx, next, p, r.heldAddrs())
	if len(c.problems) > 0 {
		m.reject(r, c.problems)
		return
	}
	m.log.Info("plugin config changed; restarting it", "plugin", r.name)
	m.restart(ctx, r, p)
}

// restart stops r, telling its players, and starts p in its place. A
// remote plugin is not the host's to restart: the block is refused until
// the plugin is restarted on its edge machine, and then sent to it.
func (m *Manager) restart(ctx context.Context, r *runner, p config.Plugin) {
	if r.remote {
		r.mu.Lock()
		r.spec = p
		r.mu.Unlock()
		m.reject(r, config.Problems{m.config().Problem("plugins."+r.name+".config",
			"the remote plugin cannot apply this change while it runs: restart it on its edge machine to apply it")})
		return
	}
	r.stop(fmt.Sprintf("The %s service is restarting with a new configuration. Please reconnect.", r.name))
	m.removeRecord(r.name)
	if err := m.startPlugin(ctx, p, nil); err != nil {
		m.log.Error("start plugin", "plugin", p.Name, "err", err)
	}
}

// startChecked starts plugin p, newly enabled, once a process of its
// binary launched for the check finds its block good. One that does not
// pass is shown stopped in `portico status`, with why.
func (m *Manager) startChecked(ctx context.Context, p config.Plugin, next *config.Config) {
	c := checkPlugin(ctx, next, p, nil)
	if len(c.problems) == 0 {
		if err := m.startPlugin(ctx, p, nil); err != nil {
			m.log.Error("start plugin", "plugin", p.Name, "err", err)
		}
		return
	}
	r := &runner{m: m, name: p.Name, state: StateStopped, log: m.log.With("plugin", p.Name),
		cancel: func() {}, done: make(chan struct{}), settled: make(chan struct{})}
	close(r.done)
	close(r.settled)
	m.mu.Lock()
	m.runners[p.Name] = r
	m.mu.Unlock()
	m.reject(r, c.problems)
}

// reject logs the problems of a block that was not applied, one line
// each, and shows them in `portico status`.
func (m *Manager) reject(r *runner, ps config.Problems) {
	ps.Sort()
	lines := make([]string, len(ps))
	for i, pr := range ps {
		lines[i] = pr.Error()
		m.log.Error("config: plugin block not applied; the plugin runs on as it was", "plugin", r.name, "problem", pr.Error())
	}
	r.setConfigErr(strings.Join(lines, "; "))
}

// keepOnBadBlock, for a host (re)started with a plugin process still
// running whose block in config.yaml changed meanwhile, checks the new
// block; when it does not pass, the process is kept on the block it runs
// with (its record's), as a live edit would keep it.
func (m *Manager) keepOnBadBlock(ctx context.Context, p config.Plugin, rec *record) (kept config.Plugin, why string, ok bool) {
	c := checkPlugin(ctx, m.config(), p, rec.Listen)
	if len(c.problems) == 0 {
		return p, "", false
	}
	var old map[string]any
	if err := json.Unmarshal([]byte(rec.ConfigJSON), &old); err != nil || old == nil {
		return p, "", false
	}
	c.problems.Sort()
	lines := make([]string, len(c.problems))
	for i, pr := range c.problems {
		lines[i] = pr.Error()
		m.log.Error("config: plugin block not applied; the plugin runs on as it was", "plugin", p.Name, "problem", pr.Error())
	}
	kept = p
	kept.Config = old
	return kept, strings.Join(lines, "; "), true
}

// applied records a block (and listeners) the running plugin took in
// place, in its record too, so that a reloaded host reattaches to it
// instead of restarting it.
func (r *runner) applied(p config.Plugin, listeners []*portalpb.Listener) {
	r.mu.Lock()
	r.spec.Config = p.Config
	r.configErr = ""
	if len(listeners) > 0 {
		r.listeners = listeners
	}
	listen := listenerAddrs(r.listeners)
	r.mu.Unlock()
	rec, err := r.m.readRecord(r.name)
	if err != nil {
		return
	}
	block, _ := json.Marshal(p.Config)
	rec.ConfigJSON, rec.Listen = string(block), listen
	if err := r.m.writeRecord(*rec); err != nil {
		r.log.Error("plugin record", "err", err)
	}
}
