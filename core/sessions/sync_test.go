package sessions

import (
	"slices"
	"testing"

	"github.com/portico-mud/portico/sdk/contract"
)

func TestAllSessionsPortalSync(t *testing.T) {
	x := newHarness(t)
	acc := x.account("Alice")
	x.login("telnet", 1, acc)
	x.connect("websocket", 2)
	x.connect("telnet", 3)
	x.p.Reset()
	x.h.AllSessionsPortalSync()

	evs := x.p.Events()
	if len(evs) != 2 {
		t.Fatalf("events = %d, want one SyncAll per plugin: %s", len(evs), describe(t, evs))
	}
	got := map[string][]uint64{}
	for _, e := range evs {
		sa := e.syncAll()
		if sa == nil || !sa.Clean {
			t.Fatalf("event to %s is not a clean SyncAll: %v", e.Plugin, e.Event)
		}
		for _, pd := range sa.Sessions {
			d := pd
			got[e.Plugin] = append(got[e.Plugin], d.Sessid)
			if d.Sessid == 1 && (!d.LoggedIn || d.UID != acc.ID || d.UName != "Alice" || d.CmdsetStorageString != CmdsetAccount) {
				t.Errorf("session 1 synced as %+v", d)
			}
		}
	}
	if !slices.Equal(got["telnet"], []uint64{1, 3}) || !slices.Equal(got["websocket"], []uint64{2}) {
		t.Errorf("synced = %v", got)
	}
}

func TestSessionPortalSyncAndPartialSync(t *testing.T) {
	x := newHarness(t)
	s := x.connect("websocket", 4)
	s.ProtocolFlags["NOCOLOR"] = true
	x.h.SessionPortalSync(s)
	x.h.SessionPortalPartialSync(s, contract.FieldProtocolFlags, contract.FieldServerData)

	evs := syncs(x.p.Events())
	if len(evs) != 2 {
		t.Fatalf("sync events = %d, want 2", len(evs))
	}
	whole, partial := evs[0].sync(), evs[1].sync()
	if evs[0].Plugin != "websocket" || len(whole.Fields) != 0 {
		t.Errorf("whole sync = %s %v, want all fields to websocket", evs[0].Plugin, whole)
	}
	if !slices.Equal(partial.Fields, []string{"protocol_flags", "server_data"}) {
		t.Errorf("partial sync fields = %q", partial.Fields)
	}
	d := whole.Session
	if d.Sessid != 4 || d.FlagBool("NOCOLOR") != true || d.CmdsetStorageString != CmdsetUnloggedIn {
		t.Errorf("synced data = %+v", d)
	}
}
