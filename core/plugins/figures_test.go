package plugins

import (
	"encoding/json"
	"testing"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// TestFigureStateAcrossProcesses: the counts a plugin's processes report
// add up, so that they never go backwards when it restarts (seen from a
// new process's first report, or from its launch), whether or not the
// host image that saw the earlier ones is still the one running; the
// gauges are the running process's only.
func TestFigureStateAcrossProcesses(t *testing.T) {
	var s figureState
	if f := s.figures(true); f.Reported {
		t.Fatalf("figures before any report: %+v", f)
	}
	s.report(&portalpb.PluginFigures{Process: 1, ClientBytesIn: 100, ClientBytesOut: 1000, ConnectionsOpen: 3, ConnectionsAccepted: 4,
		RefusedQueue: 1, Counters: []*portalpb.Figure{{Name: "tls", Value: 2}, {Name: "Bad-Name", Value: 9}},
		Gauges: []*portalpb.Figure{{Name: "rooms", Value: 5}}})
	s.report(&portalpb.PluginFigures{Process: 1, ClientBytesIn: 150, ClientBytesOut: 1200, ConnectionsOpen: 2, ConnectionsAccepted: 5,
		RefusedQueue: 1, Counters: []*portalpb.Figure{{Name: "tls", Value: 3}}, Gauges: []*portalpb.Figure{{Name: "rooms", Value: 4}}})
	f := s.figures(true)
	if f.ClientBytesIn != 150 || f.ClientBytesOut != 1200 || f.ConnectionsOpen != 2 || f.ConnectionsAccepted != 5 ||
		f.RefusedQueue != 1 || f.Counters["tls"] != 3 || len(f.Counters) != 1 || f.Gauges["rooms"] != 4 {
		t.Errorf("one process: %+v", f)
	}
	if f := s.figures(false); f.ConnectionsOpen != 0 || f.Gauges != nil || f.ClientBytesIn != 150 {
		t.Errorf("while not running: %+v, want its counts and no gauges", f)
	}

	// A new process (its first report comes before the host noticed the
	// launch, as after a crash the host did not see): the old counts stay.
	s.report(&portalpb.PluginFigures{Process: 2, ClientBytesIn: 10, ConnectionsOpen: 1, ConnectionsAccepted: 1,
		Counters: []*portalpb.Figure{{Name: "tls", Value: 1}}})
	f = s.figures(true)
	if f.ClientBytesIn != 160 || f.ClientBytesOut != 1200 || f.ConnectionsAccepted != 6 || f.ConnectionsOpen != 1 ||
		f.Counters["tls"] != 4 || f.Gauges != nil {
		t.Errorf("second process: %+v", f)
	}

	// A launch the host made: the base it records is everything so far,
	// and the next process's reports add to it, once.
	base := s.newProcess()
	if base.ClientBytesIn != 160 || base.ConnectionsAccepted != 6 || base.Counters["tls"] != 4 {
		t.Errorf("base at a launch: %+v", base)
	}
	s.report(&portalpb.PluginFigures{Process: 3, ClientBytesIn: 5})
	s.report(&portalpb.PluginFigures{Process: 3, ClientBytesIn: 7})
	if f := s.figures(true); f.ClientBytesIn != 167 {
		t.Errorf("after a launch: %d bytes in, want 167", f.ClientBytesIn)
	}

	// A new host image reattaches to process 3 with the record's base.
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var kept Figures
	if err := json.Unmarshal(b, &kept); err != nil {
		t.Fatal(err)
	}
	var next figureState
	next.setBase(kept)
	if f := next.figures(true); !f.Reported || f.ClientBytesIn != 160 {
		t.Errorf("from the record before the first report: %+v", f)
	}
	next.report(&portalpb.PluginFigures{Process: 3, ClientBytesIn: 9})
	if f := next.figures(true); f.ClientBytesIn != 169 || f.Counters["tls"] != 4 {
		t.Errorf("reattached: %+v, want 169 bytes in and tls 4", f)
	}
}
