package plugins

import (
	"maps"
	"sync"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// Figures are a plugin's own figures, as its processes report them over
// the Link (PluginFigures in the contract) and the host serves them. The
// counts are cumulative over every process of the plugin: the host adds
// what the processes before the running one counted, so that they do not
// go backwards when the plugin restarts. ConnectionsOpen and Gauges are
// the running process's, as it last reported them.
type Figures struct {
	// Reported is false until a process of the plugin has reported.
	Reported            bool               `json:"-"`
	ClientBytesIn       uint64             `json:"client_bytes_in"`
	ClientBytesOut      uint64             `json:"client_bytes_out"`
	ConnectionsOpen     uint64             `json:"-"`
	ConnectionsAccepted uint64             `json:"connections_accepted"`
	RefusedAddressLimit uint64             `json:"refused_address_limit"`
	RefusedQueue        uint64             `json:"refused_queue"`
	RefusedFileLimit    uint64             `json:"refused_file_limit"`
	Counters            map[string]float64 `json:"counters,omitempty"`
	Gauges              map[string]float64 `json:"-"`
}

// plus returns f with the counts of g added (the counters only: gauges are
// a process's own).
func (f Figures) plus(g Figures) Figures {
	f.ClientBytesIn += g.ClientBytesIn
	f.ClientBytesOut += g.ClientBytesOut
	f.ConnectionsAccepted += g.ConnectionsAccepted
	f.RefusedAddressLimit += g.RefusedAddressLimit
	f.RefusedQueue += g.RefusedQueue
	f.RefusedFileLimit += g.RefusedFileLimit
	if len(g.Counters) > 0 {
		c := maps.Clone(f.Counters)
		if c == nil {
			c = map[string]float64{}
		}
		for name, v := range g.Counters {
			if _, ok := c[name]; ok || len(c) < contract.MaxFigures {
				c[name] += v
			}
		}
		f.Counters = c
	}
	return f
}

// figuresFromPB reads a report, leaving out the figures whose names the
// host does not serve.
func figuresFromPB(pf *portalpb.PluginFigures) Figures {
	return Figures{Reported: true,
		ClientBytesIn: pf.GetClientBytesIn(), ClientBytesOut: pf.GetClientBytesOut(),
		ConnectionsOpen: pf.GetConnectionsOpen(), ConnectionsAccepted: pf.GetConnectionsAccepted(),
		RefusedAddressLimit: pf.GetRefusedAddressLimit(), RefusedQueue: pf.GetRefusedQueue(),
		RefusedFileLimit: pf.GetRefusedFileLimit(),
		Counters:         figureMap(pf.GetCounters()), Gauges: figureMap(pf.GetGauges())}
}

func figureMap(fs []*portalpb.Figure) map[string]float64 {
	if len(fs) == 0 {
		return nil
	}
	m := make(map[string]float64, min(len(fs), contract.MaxFigures))
	for _, f := range fs {
		if len(m) < contract.MaxFigures && contract.ValidFigureName(f.GetName()) {
			m[f.GetName()] = f.GetValue()
		}
	}
	return m
}

// figureState is what a plugin's processes reported: the running
// process's last report, and the counts of the processes before it.
type figureState struct {
	mu sync.Mutex
	// process is the running process's PluginFigures.process (0 before
	// it reported); last is its last report.
	process uint64
	last    Figures
	// base sums the counts of the plugin's earlier processes.
	base Figures
}

// report takes a process's report. A report from another process than
// the last one's means that one has ended: its counts join the base.
func (s *figureState) report(pf *portalpb.PluginFigures) {
	f := figuresFromPB(pf)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.process != 0 && pf.GetProcess() != s.process {
		s.base = s.base.plus(s.last)
		s.base.Reported = true
	}
	s.process, s.last = pf.GetProcess(), f
}

// newProcess is called when a new process of the plugin is launched: the
// last one's counts join the base, and the base is returned (for the
// run's record, so that a host image that reattaches goes on from it).
func (s *figureState) newProcess() Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.process != 0 {
		s.base = s.base.plus(s.last)
		s.base.Reported = true
	}
	s.process, s.last = 0, Figures{}
	return s.base
}

// baseFigures returns the counts of the plugin's earlier processes.
func (s *figureState) baseFigures() Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// setBase starts from the base a record kept (a reattaching host image).
func (s *figureState) setBase(f Figures) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Reported = true
	s.base = f
}

// figures returns the plugin's figures to serve; running says whether a
// process of it runs now (one that does not has nothing open).
func (s *figureState) figures(running bool) Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.base.plus(s.last)
	f.Reported = s.last.Reported || s.base.Reported
	if running {
		f.ConnectionsOpen, f.Gauges = s.last.ConnectionsOpen, s.last.Gauges
	}
	return f
}

// Figures returns each plugin's figures, by plugin; a plugin none of
// whose processes has reported yet is left out.
func (m *Manager) Figures() map[string]Figures {
	rs := m.runnerList()
	out := make(map[string]Figures, len(rs))
	for _, r := range rs {
		r.mu.Lock()
		running := r.state == StateRunning
		r.mu.Unlock()
		if f := r.figures.figures(running); f.Reported {
			out[r.name] = f
		}
	}
	return out
}
