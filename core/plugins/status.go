package plugins

import (
	"context"
	"sort"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// What `portico status` shows of each plugin, and waiting for the first
// start of every plugin to settle.

// Plugin states shown by `portico status`.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "restarting"
	StateStopped  = "stopped"
)

// StateFailed is a plugin that crash-looped and is no longer restarted.
const StateFailed = "failed"

// StateDetached is a plugin handed over to the next host image.
const StateDetached = "detached"

// StateUnresponsive is a plugin that stopped answering on its link (no
// pong within server.plugin_ping_timeout, or output left unread past
// server.plugin_outbox_mib): it is being ended, its sessions dropped, and
// it is restarted after the backoff, as a crashed one is.
const StateUnresponsive = "unresponsive"

// Status is one plugin's state for `portico status`.
type Status struct {
	Name        string    `json:"name"`
	ProtocolKey string    `json:"protocol_key"`
	State       string    `json:"state"`
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Restarts    int       `json:"restarts"`
	LastError   string    `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened; both stay, once the plugin
	// runs again, until another error replaces them.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// ConfigError is why the plugin's block in config.yaml is not the one
	// it runs with: a live edit its Validate refused (naming the key), kept
	// until an edit that passes.
	ConfigError string `json:"config_error,omitempty"`
	// Listeners are where it serves clients, as the console shows them
	// ("telnet on 0.0.0.0:4000").
	Listeners []string `json:"listeners,omitempty"`
	// Remote is set for a remote plugin (plugins.<name>.remote), and
	// Address is where its connection comes from (the last one's while it
	// is waiting).
	Remote  bool   `json:"remote,omitempty"`
	Address string `json:"address,omitempty"`
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

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{Name: r.name, ProtocolKey: r.key, State: r.state, PID: r.pid, Started: r.started,
		Restarts: r.restarts, LastError: r.lastErr, LastErrorAt: r.lastErrAt, ConfigError: r.configErr, Listeners: listenerNames(r.listeners),
		Remote: r.remote, Address: r.addr}
}

// WaitStarted waits until every plugin started by Start is running or has
// failed its first start (or ctx ends: nil), and returns their states.
func (m *Manager) WaitStarted(ctx context.Context) []Status {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	for _, r := range rs {
		select {
		case <-r.settled:
		case <-ctx.Done():
			return nil
		}
	}
	return m.Statuses()
}

// settle marks the first run as running or failed.
func (r *runner) settle() { r.settledOnce.Do(func() { close(r.settled) }) }

// setConfigErr shows why, a refused block's problems, as the plugin's
// config error in `portico status`.
func (r *runner) setConfigErr(why string) {
	r.mu.Lock()
	r.configErr = why
	r.mu.Unlock()
}

// clearConfigErr clears the config error; it reports whether there was one.
func (r *runner) clearConfigErr() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	had := r.configErr != ""
	r.configErr = ""
	return had
}

// listenerNames says where each listener serves, as the console shows it:
// "telnet on 0.0.0.0:4000", "webclient on http://0.0.0.0:4002/".
func listenerNames(ls []*portalpb.Listener) []string {
	var out []string
	for _, l := range ls {
		where := l.GetAddress()
		if l.GetUrl() != "" {
			where = l.GetUrl()
		}
		out = append(out, l.GetName()+" on "+where)
	}
	return out
}

// listenerAddrs are the listeners' bound addresses.
func listenerAddrs(ls []*portalpb.Listener) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.GetAddress())
	}
	return out
}
