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
	s.ProtocolFlags.Set("NOCOLOR", true)
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

// TestGetAllSyncData: every session's sync data by id, as copies, in the
// host's own view (a login still being saved shows already, while the
// plugins are pushed only saved logins).
func TestGetAllSyncData(t *testing.T) {
	x := newHarness(t)
	alice := x.account("Alice")
	bob := x.account("Bob")
	x.login("telnet", 1, alice)
	s2 := x.connect("websocket", 2)
	s2.ProtocolFlags.Set("NOCOLOR", false)
	s2.ServerData["note"] = "kept"

	all := x.h.GetAllSyncData()
	if len(all) != 2 {
		t.Fatalf("GetAllSyncData has %d entries, want 2: %v", len(all), all)
	}
	if d := all[1]; d.Sessid != 1 || !d.LoggedIn || d.UID != alice.ID || d.UName != "Alice" ||
		d.PUID != alice.CharacterID || d.CmdsetStorageString != CmdsetAccount || d.ProtocolKey != "telnet" {
		t.Errorf("session 1's sync data = %+v, want Alice's login puppeting her character", d)
	}
	if d := all[2]; d.Sessid != 2 || d.LoggedIn || d.UID != 0 || d.CmdsetStorageString != CmdsetUnloggedIn ||
		d.ServerData["note"] != "kept" {
		t.Errorf("session 2's sync data = %+v, want an unlogged-in session with its server data", d)
	}

	// The entries are copies: changing them changes no session.
	d := all[2]
	d.ProtocolFlags.Set("NOCOLOR", true)
	d.ServerData["note"] = "changed"
	d.LoggedIn = true
	if s2.FlagBool("NOCOLOR") || s2.ServerData["note"] != "kept" || s2.LoggedIn {
		t.Errorf("changing GetAllSyncData's copy changed session 2: flags %v server data %v logged in %v",
			s2.ProtocolFlags, s2.ServerData, s2.LoggedIn)
	}

	// A login not yet saved: the host's view has it, the plugins do not.
	s3 := x.connect("telnet", 3)
	x.h.Login(s3, bob, false)
	if d := x.h.GetAllSyncData()[3]; !d.LoggedIn || d.UID != bob.ID {
		t.Errorf("session 3 while its login is saved: %+v, want logged in as Bob", d)
	}
	x.p.Reset()
	x.h.AllSessionsPortalSync()
	for _, e := range x.p.Events() {
		for _, d := range e.syncAll().Sessions {
			if d.Sessid == 3 && (d.LoggedIn || d.UID != 0) {
				t.Errorf("AllSessionsPortalSync pushed session 3's unsaved login: %+v", d)
			}
		}
	}
	x.settle()
	if d := x.h.GetAllSyncData()[3]; !d.LoggedIn || d.UID != bob.ID {
		t.Errorf("session 3 after its login was saved: %+v, want logged in as Bob", d)
	}
}
