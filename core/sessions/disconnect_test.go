package sessions

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestDisconnect(t *testing.T) {
	x := newHarness(t)
	s1 := x.connect("telnet", 1)
	s2 := x.connect("ssh", 2)
	x.h.Disconnect(s1, "Kicked.", true)
	x.h.Disconnect(s2, "gone", false)
	x.h.Disconnect(s1, "again", true) // already gone: nothing
	if x.h.Count() != 0 {
		t.Errorf("Count = %d after disconnecting both", x.h.Count())
	}
	evs := x.p.Events()
	ds := disconnects(evs)
	if len(ds) != 1 || ds[0].Plugin != "telnet" || ds[0].disconnect().Sessid != 1 || ds[0].disconnect().Reason != "Kicked." {
		t.Errorf("disconnect events = %s; want one to telnet for session 1 with the reason", describe(t, evs))
	}
	// Nothing reaches a session that is gone.
	s1.Msg("anyone?")
	x.h.SessionPortalSync(s1)
	if n := len(x.p.Events()); n != len(evs) {
		t.Errorf("a disconnected session was sent %d more events", n-len(evs))
	}
}

func TestDisconnectAllSessions(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"", "You have been disconnected."},
		{"Server shutting down.", "Server shutting down."},
	} {
		x := newHarness(t)
		x.connect("telnet", 1)
		x.connect("telnet", 2)
		x.connect("ssh", 3)
		x.h.DisconnectAllSessions(tc.reason)
		if x.h.Count() != 0 {
			t.Errorf("Count = %d after DisconnectAllSessions", x.h.Count())
		}
		evs := x.p.Events()
		got := map[string]string{}
		for _, e := range evs {
			da := e.disconnectAll()
			if da == nil {
				t.Errorf("unexpected event %v", e.Event)
				continue
			}
			if _, dup := got[e.Plugin]; dup {
				t.Errorf("plugin %s told twice", e.Plugin)
			}
			got[e.Plugin] = da.Reason
		}
		want := map[string]string{"telnet": tc.want, "ssh": tc.want}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("DisconnectAll events = %v, want %v", got, want)
		}
	}
}

func TestDisconnectDuplicateSessions(t *testing.T) {
	x := newHarness(t)
	x.h.SetSettings(Settings{ServerName: "T", MultisessionMode: 1})
	alice := x.account("Alice")
	bob := x.account("Bob")
	s1 := x.login("telnet", 1, alice)
	x.login("ssh", 2, alice)
	x.login("telnet", 3, alice)
	x.login("telnet", 4, bob)
	x.connect("telnet", 5)
	x.p.Reset()

	x.h.DisconnectDuplicateSessions(s1, "")
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{1, 4, 5}) {
		t.Errorf("sessions left = %v, want [1 4 5]", got)
	}
	ds := disconnects(x.p.Events())
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s/%d/%s", d.Plugin, d.disconnect().Sessid, d.disconnect().Reason))
	}
	want := []string{"ssh/2/" + ReasonDuplicate, "telnet/3/" + ReasonDuplicate}
	if !slices.Equal(got, want) {
		t.Errorf("disconnects = %q, want %q", got, want)
	}
}

func TestValidateSessions(t *testing.T) {
	x := newHarness(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	x.h.now = func() time.Time { return now }
	idle := x.connect("telnet", 1)
	active := x.connect("telnet", 2)
	bot := x.connect("irc", 3)
	idle.CmdLast = now.Add(-2 * time.Hour)
	active.CmdLast = now.Add(-time.Minute)
	bot.CmdLast = now.Add(-48 * time.Hour)
	bot.ServerData["bot"] = true

	x.h.ValidateSessions() // idle timeout off: nobody goes
	if x.h.Count() != 3 {
		t.Fatalf("idle timeout 0 dropped sessions: %v", sessids(x.h.Sessions()))
	}

	x.h.SetSettings(Settings{ServerName: "T", IdleTimeout: time.Hour})
	x.h.ValidateSessions()
	if got := sessids(x.h.Sessions()); !slices.Equal(got, []uint64{2, 3}) {
		t.Errorf("sessions left = %v, want [2 3] (the bot is exempt)", got)
	}
	ds := disconnects(x.p.Events())
	if len(ds) != 1 || ds[0].disconnect().Sessid != 1 || ds[0].disconnect().Reason != "idle timeout exceeded" {
		t.Errorf("disconnects = %s", describe(t, ds))
	}
}
