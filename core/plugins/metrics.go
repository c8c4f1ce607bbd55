package plugins

import (
	"maps"
	"slices"
)

// LinkMeter counts the traffic of the plugins' Links for the host's
// metrics. Its methods are called on the hot path (every event) and must
// be cheap and safe for concurrent use.
type LinkMeter interface {
	// LinkEvents counts events (and their encoded bytes) that crossed
	// plugin's Link in direction (DirectionIn: from the plugin).
	LinkEvents(plugin, direction string, events, bytes int)
	// OutboxDropped counts events for plugin that were dropped: the plugin
	// was not running, or its outbox was full.
	OutboxDropped(plugin string, events int)
}

// Directions of the Link's traffic.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

type noLinkMeter struct{}

func (noLinkMeter) LinkEvents(string, string, int, int) {}
func (noLinkMeter) OutboxDropped(string, int)           {}

func (m *Manager) meter() LinkMeter {
	if m.Meter == nil {
		return noLinkMeter{}
	}
	return m.Meter
}

// OutboxDepths returns how many events wait in each plugin's outbox for
// its Link, by plugin.
func (m *Manager) OutboxDepths() map[string]int {
	rs := m.runnerList()
	out := make(map[string]int, len(rs))
	for _, r := range rs {
		r.mu.Lock()
		ob := r.outbox
		r.mu.Unlock()
		out[r.name] = ob.Len()
	}
	return out
}

// runnerList returns the runners as they are now, for reading each one
// without holding the manager's lock.
func (m *Manager) runnerList() []*runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.runners))
}
