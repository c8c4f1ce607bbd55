package sessions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

// TestMonitorTellsChanges: a game registers a value of its own; a client
// that monitors it (the monitor inputfunc, which GMCP Char.Monitor.Update
// reaches) is told nothing at once, then monitor(name, value) whenever it
// changes, once per change, until it stops watching.
func TestMonitorTellsChanges(t *testing.T) {
	x := newHarness(t)
	hp := map[uint64]int{1: 10}
	if err := x.h.RegisterMonitorable("HP", Monitorable{Doc: "Hit points.", Value: func(s *ServerSession) (any, bool) {
		v, ok := hp[s.Sessid]
		return v, ok
	}}); err != nil {
		t.Fatal(err)
	}
	if err := x.h.RegisterMonitorable("bad name", Monitorable{Value: func(*ServerSession) (any, bool) { return nil, false }}); err == nil {
		t.Error("a name with a space was registered")
	}
	s := x.connect("telnet", 1)
	monitors := func() []string {
		var out []string
		for _, m := range msgsFor(t, x.p.Events(), 1, "monitor") {
			out = append(out, fmt.Sprintf("%v=%v", m.Kwargs["name"], m.Kwargs["value"]))
		}
		return out
	}
	x.p.Reset()
	x.in(s, msg("monitor", nil, map[string]any{"name": "hp"}))
	x.in(s, msg("monitor", nil, map[string]any{"name": "hp"})) // twice is once
	x.in(s, msg("monitor", nil, map[string]any{"name": "mana"}))
	if got := monitors(); len(got) != 0 {
		t.Fatalf("told at once: %v", got)
	}
	hp[1] = 7
	x.in(s, contract.Text("look"))
	x.in(s, contract.Text("look"))
	hp[1] = 5
	x.h.MonitorChanged("hp")
	x.h.MonitorChanged("mana")
	if got := monitors(); !slices.Equal(got, []string{"hp=7", "hp=5"}) {
		t.Fatalf("monitor updates = %v, want hp=7 then hp=5", got)
	}
	x.in(s, msg("monitored", nil, nil))
	if m := msgsFor(t, x.p.Events(), 1, "monitored"); len(m) != 1 || fmt.Sprint(m[0].Args) != "[[hp]]" {
		t.Fatalf("monitored = %+v", m)
	}
	x.in(s, msg("unmonitor", nil, map[string]any{"name": "HP"}))
	x.p.Reset()
	hp[1] = 1
	x.h.CheckMonitors(s)
	if got := monitors(); len(got) != 0 {
		t.Fatalf("told after unmonitor: %v", got)
	}
	// outputfunc_name picks the outputfunc.
	x.in(s, msg("monitor", nil, map[string]any{"name": "hp", "outputfunc_name": "hp_update"}))
	hp[1] = 2
	x.h.CheckMonitors(s)
	if m := msgsFor(t, x.p.Events(), 1, "hp_update"); len(m) != 1 || fmt.Sprint(m[0].Kwargs["value"]) != "2" {
		t.Fatalf("hp_update = %+v", m)
	}
}

// TestMSDPList: MSDP LIST answers each list it knows as an MSDP array
// variable (one argument that is a list), and nothing for others.
func TestMSDPList(t *testing.T) {
	x := newHarness(t)
	s := x.connect("telnet", 1)
	x.p.Reset()
	x.in(s, msg("msdp_list", []any{"COMMANDS", "lists", "NO_SUCH_LIST", "REPORTABLE_VARIABLES", "REPORTED_VARIABLES"}, nil))
	got := map[string][]any{}
	var order []string
	for _, m := range msgsFor(t, x.p.Events(), 1, "") {
		if len(m.Args) != 1 {
			t.Fatalf("%s has %d arguments, want one array", m.Name, len(m.Args))
		}
		list, ok := m.Args[0].([]any)
		if !ok {
			t.Fatalf("%s = %#v, want an array", m.Name, m.Args[0])
		}
		got[m.Name] = list
		order = append(order, m.Name)
	}
	if !slices.Equal(order, []string{"COMMANDS", "LISTS", "REPORTABLE_VARIABLES", "REPORTED_VARIABLES"}) {
		t.Fatalf("answered %v", order)
	}
	if c := got["COMMANDS"]; len(c) < 6 || fmt.Sprint(c[:5]) != "[LIST REPORT RESET SEND UNREPORT]" || !slices.Contains(c, any("client_options")) ||
		slices.Contains(c, any("msdp_list")) {
		t.Errorf("COMMANDS = %v", c)
	}
	if fmt.Sprint(got["LISTS"]) != "[COMMANDS LISTS CONFIGURABLE_VARIABLES REPORTABLE_VARIABLES REPORTED_VARIABLES SENDABLE_VARIABLES]" {
		t.Errorf("LISTS = %v", got["LISTS"])
	}
	for _, v := range []string{"NAME", "SERVERNAME", "LOCATION", "ACCOUNT"} {
		if !slices.Contains(got["REPORTABLE_VARIABLES"], any(v)) {
			t.Errorf("REPORTABLE_VARIABLES = %v, lacks %s", got["REPORTABLE_VARIABLES"], v)
		}
	}
	if len(got["REPORTED_VARIABLES"]) != 0 {
		t.Errorf("REPORTED_VARIABLES = %v before any REPORT", got["REPORTED_VARIABLES"])
	}
}

// TestMSDPReportSendUnreport: REPORT sends the variable at once and again
// whenever it changes (here the character played, changed by a command);
// SEND sends it once; UNREPORT and RESET stop the reports.
func TestMSDPReportSendUnreport(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	s := x.login("telnet", 1, acc)
	alicia, err := x.h.store.CreateCharacter(t.Context(), acc.ID, "Alicia")
	if err != nil {
		t.Fatal(err)
	}
	vars := func() []string {
		var out []string
		for _, m := range msgsFor(t, x.p.Events(), 1, "") {
			if m.Name == "NAME" || m.Name == "SERVERNAME" || m.Name == "REPORTED_VARIABLES" {
				out = append(out, fmt.Sprintf("%s=%v", m.Name, m.Args))
			}
		}
		return out
	}
	x.p.Reset()
	x.in(s, msg("msdp_report", []any{"NAME", "NOSUCH"}, nil))
	x.in(s, msg("msdp_list", []any{"REPORTED_VARIABLES"}, nil))
	x.in(s, msg("msdp_send", []any{"SERVERNAME", "NOSUCH"}, nil))
	if got := vars(); !slices.Equal(got, []string{"NAME=[Alice]", "REPORTED_VARIABLES=[[NAME]]", "SERVERNAME=[Portico Test]"}) {
		t.Fatalf("after REPORT, LIST and SEND: %v", got)
	}
	x.p.Reset()
	x.cmds.onExecute = func(s *ServerSession, line string) {
		if line == "ic Alicia" {
			if _, err := x.h.Puppet(s, alicia); err != nil {
				t.Error(err)
			}
		}
	}
	x.in(s, contract.Text("ic Alicia"))
	x.in(s, contract.Text("look"))
	if got := vars(); !slices.Equal(got, []string{"NAME=[Alicia]"}) {
		t.Fatalf("after the character changed: %v, want one NAME=[Alicia]", got)
	}
	x.in(s, msg("msdp_unreport", []any{"name"}, nil))
	x.in(s, msg("msdp_report", []any{"SERVERNAME"}, nil))
	x.in(s, msg("msdp_reset", []any{"REPORTABLE_VARIABLES"}, nil))
	x.p.Reset()
	x.h.Unpuppet(s)
	x.h.CheckMonitors(s)
	if got := vars(); len(got) != 0 {
		t.Fatalf("reported after UNREPORT and RESET: %v", got)
	}
	if len(s.watches) != 0 {
		t.Fatalf("watches left: %d", len(s.watches))
	}
}

// TestWatchesOutliveTheHostImage: a session's watches are kept in its
// server data, synced to its plugin when they change; a host image that
// rebuilds the session from what the plugin kept (a reload, or a start
// after a crash) watches the same values and tells the client of the next
// change, not of values that did not change.
func TestWatchesOutliveTheHostImage(t *testing.T) {
	hp := map[uint64]int{1: 10}
	register := func(x *harness) {
		if err := x.h.RegisterMonitorable("hp", Monitorable{Doc: "Hit points.", Value: func(s *ServerSession) (any, bool) {
			v, ok := hp[s.Sessid]
			return v, ok
		}}); err != nil {
			t.Fatal(err)
		}
	}
	x := newHarness(t)
	register(x)
	s := x.connect("telnet", 1)
	x.p.Reset()
	x.in(s, msg("monitor", nil, map[string]any{"name": "hp"}))
	x.in(s, msg("msdp_report", []any{"HP"}, nil))
	// What the plugin was told last is what it keeps for the session.
	var kept contract.SessionData
	for _, ev := range x.p.Events() {
		if sy := ev.sync(); sy != nil && sy.Session.Sessid == 1 && slices.Contains(sy.Fields, contract.FieldServerData) {
			kept = sy.Session
		}
	}
	if kept.ServerData[watchesKey] == nil {
		t.Fatalf("the watches were not synced to the plugin: %s", describe(t, x.p.Events()))
	}

	y := newHarnessOn(t, x.st) // the next host image
	register(y)
	d := sessData(1, "telnet")
	d.ServerData = kept.ServerData
	y.h.PortalSessionsSync("telnet", []contract.SessionData{d})
	y.settle()
	s1 := y.h.SessionFromSessid(1)
	if got := s1.Monitored(); !slices.Equal(got, []string{"hp"}) {
		t.Fatalf("watches after the new image = %v, want [hp]", got)
	}
	y.p.Reset()
	y.h.CheckMonitors(s1)
	if n := len(msgsFor(t, y.p.Events(), 1, "monitor")); n != 0 {
		t.Errorf("told %d times of a value that did not change", n)
	}
	hp[1] = 3
	y.h.MonitorChanged("hp")
	if m := msgsFor(t, y.p.Events(), 1, "monitor"); len(m) != 1 || fmt.Sprint(m[0].Kwargs["value"]) != "3" {
		t.Errorf("monitor after the new image = %+v, want hp=3 once", m)
	}
	if m := msgsFor(t, y.p.Events(), 1, "HP"); len(m) != 1 {
		t.Errorf("MSDP report after the new image = %+v, want HP once", m)
	}
	// Dropping the watches empties the server data the plugin keeps.
	y.in(s1, msg("unmonitor", nil, map[string]any{"name": "hp"}))
	y.in(s1, msg("msdp_unreport", []any{"HP"}, nil))
	if _, ok := s1.ServerData[watchesKey]; ok {
		t.Errorf("server data still holds watches: %v", s1.ServerData[watchesKey])
	}
}
