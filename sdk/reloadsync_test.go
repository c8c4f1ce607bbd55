package sdk

import (
	"fmt"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// reloadSyncFields are the fields a host's reload sync carries (the
// host's sessions.ReloadSyncFields): not the protocol flags.
var reloadSyncFields = []string{contract.FieldUID, contract.FieldUName, contract.FieldLoggedIn,
	contract.FieldPUID, contract.FieldCmdLast, contract.FieldCmdLastVisible, contract.FieldCmdTotal,
	contract.FieldServerData, contract.FieldCmdsetStorageString}

// BenchmarkReloadSyncAll is the plugin's side of a reload's sync of 10,000
// telnet sessions (the SyncAll already parsed from the link).
func BenchmarkReloadSyncAll(b *testing.B) {
	p := NewTestPortal(discardLog())
	all := &portalpb.SyncAll{Fields: reloadSyncFields, Clean: true}
	for i := range 10000 {
		s, err := p.NewSession(b.Context(), newFakeConn(), "telnet", fmt.Sprintf("192.0.2.%d:%d", i%200+1, 4000+i))
		if err != nil {
			b.Fatal(err)
		}
		d := s.GetSyncData()
		d.LoggedIn, d.UID, d.UName, d.CmdLast = true, 7, "bench", time.Now()
		d.ProtocolFlags.SetAll(map[string]any{"ENCODING": "utf-8", "SCREENWIDTH": map[string]any{"0": int64(80)},
			"SCREENHEIGHT": map[string]any{"0": int64(24)}, "TTYPE": true, "CLIENTNAME": "Mudlet", "CLIENTVERSION": "4.17",
			"ANSI": true, "XTERM256": true, "UTF-8": true, "NOGOAHEAD": true, "MCCP": false, "RAW": false, "NOCOLOR": false})
		pd, err := wire.SessionToPB(d)
		if err != nil {
			b.Fatal(err)
		}
		all.Sessions = append(all.Sessions, pd)
	}
	ev := &portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: all}}
	b.ReportAllocs()
	for b.Loop() {
		p.applyEvent(ev)
	}
}

// TestSyncWithoutFlagsSkipsTheirDecoding: a sync that does not carry the
// protocol flags (a reload's, of every session) applies its fields without
// decoding the flags it does not apply: two allocations a session, where
// decoding a telnet session's flags made some fifty; the event is left as
// it came. A sync of the flags still applies them.
func TestSyncWithoutFlagsSkipsTheirDecoding(t *testing.T) {
	p := NewTestPortal(discardLog())
	c := newFakeConn()
	s := newSession(t, p, c)
	d := s.GetSyncData()
	d.LoggedIn, d.UID, d.UName = true, 7, "bench"
	d.ProtocolFlags.SetAll(map[string]any{"ENCODING": "utf-8", "SCREENWIDTH": map[string]any{"0": int64(100)},
		"TTYPE": true, "CLIENTNAME": "Mudlet", "ANSI": true, "XTERM256": true, "NOGOAHEAD": true})
	pd, err := wire.SessionToPB(d)
	if err != nil {
		t.Fatal(err)
	}
	flagsJSON := string(pd.ProtocolFlags)
	ev := &portalpb.Event{Kind: &portalpb.Event_SyncAll{SyncAll: &portalpb.SyncAll{Sessions: []*portalpb.SessionData{pd},
		Fields: reloadSyncFields}}}
	n := testing.AllocsPerRun(50, func() { p.applyEvent(ev) })
	if n > 4 {
		t.Errorf("a reload sync of one session: %.0f allocations, want at most 4 (its flags not decoded)", n)
	}
	if string(pd.ProtocolFlags) != flagsJSON {
		t.Error("the sync's event was changed")
	}
	got := s.GetSyncData()
	if !got.LoggedIn || got.UID != 7 || got.UName != "bench" {
		t.Errorf("after the reload sync: logged in %v uid %d uname %q", got.LoggedIn, got.UID, got.UName)
	}
	if v, _ := got.ProtocolFlags.Get("CLIENTNAME"); v != nil {
		t.Errorf("a sync without the flags set CLIENTNAME to %v", v)
	}
	p.applyEvent(&portalpb.Event{Kind: &portalpb.Event_Sync{Sync: &portalpb.SessionSync{Session: pd,
		Fields: []string{contract.FieldProtocolFlags}}}})
	if v, _ := s.GetSyncData().ProtocolFlags.Get("CLIENTNAME"); v != "Mudlet" {
		t.Errorf("a sync of the flags: CLIENTNAME = %v, want Mudlet", v)
	}
}
