package sessions

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

func TestStartBotSession(t *testing.T) {
	x := newHarness(t)
	x.p.botID = 77
	cfg := map[string]any{"network": "irc.example.org", "channel": "#game"}
	id, err := x.h.StartBotSession(context.Background(), "irc", cfg)
	if err != nil || id != 77 {
		t.Fatalf("StartBotSession = %d, %v; want 77", id, err)
	}
	if len(x.p.bots) != 1 || x.p.bots[0].Protocol != "irc" || x.p.bots[0].Config["channel"] != "#game" {
		t.Errorf("StartBot calls = %+v", x.p.bots)
	}

	x.p.botErr = errFake
	if _, err := x.h.StartBotSession(context.Background(), "irc", cfg); !errors.Is(err, errFake) {
		t.Errorf("error = %v, want it to wrap the plugin's", err)
	}

	x.h.SetPortals(nil)
	if _, err := x.h.StartBotSession(context.Background(), "irc", cfg); err == nil {
		t.Error("StartBotSession without plugins did not fail")
	}
}

// botData is a bot session's data as its plugin announces it.
func botData(id uint64, plugin string, acc store.Account) contract.SessionData {
	d := sessData(id, plugin)
	d.LoggedIn, d.UID, d.UName = true, acc.ID, acc.Name
	d.ServerData["bot"] = true
	return d
}

// TestBotConnectBeforeStartBotReturns: a plugin that connects the bot
// before StartBot answers (the IRC plugin does) gets it logged in.
func TestBotConnectBeforeStartBotReturns(t *testing.T) {
	x := newHarness(t)
	bot := x.account("gamebot")
	x.p.botID = 9
	x.p.onStartBot = func() { x.h.PortalConnect("irc", botData(9, "irc", bot)) }
	id, err := x.h.StartBotSession(context.Background(), "irc", map[string]any{"uid": bot.ID})
	if err != nil || id != 9 {
		t.Fatalf("StartBotSession = %d, %v", id, err)
	}
	x.settle()
	if s := x.h.SessionFromSessid(9); s == nil || !s.LoggedIn || s.UID != bot.ID {
		t.Fatalf("the bot's session is not logged in as the bot: %+v", s)
	}
	if ls := logins(x.p.Events()); len(ls) != 1 || ls[0].Sessid != 9 {
		t.Errorf("logins = %v", ls)
	}
	x.wantLogins("irc", store.SessionLogin{Sessid: 9, Plugin: "irc", UID: bot.ID, PUID: bot.CharacterID})
	if strings.Contains(x.log.String(), "refused") {
		t.Errorf("the bot was refused:\n%s", x.log.String())
	}
}

// TestBotClaims: a session may arrive logged in as a bot only from the
// plugin asked to start it, as the session its StartBot named, once.
func TestBotClaims(t *testing.T) {
	x := newHarness(t)
	bot := x.account("gamebot")
	notLoggedIn := func(id uint64) {
		t.Helper()
		if s := x.h.SessionFromSessid(id); s == nil || s.LoggedIn || s.UID != 0 {
			t.Errorf("session %d: %+v, want it there and logged out", id, s)
		}
	}
	// Before any start, no plugin may announce the bot.
	x.h.PortalConnect("irc", botData(5, "irc", bot))
	notLoggedIn(5)

	x.p.botID = 9
	if _, err := x.h.StartBotSession(context.Background(), "irc", map[string]any{"uid": bot.ID}); err != nil {
		t.Fatal(err)
	}
	x.h.PortalConnect("telnet", botData(13, "telnet", bot)) // another plugin
	notLoggedIn(13)
	x.h.PortalConnect("irc", botData(8, "irc", bot)) // not the session StartBot named
	notLoggedIn(8)
	x.h.PortalConnect("irc", botData(10, "irc", bot))
	notLoggedIn(10)
	// StartBot's session, on the plugin asked, still comes in.
	x.h.PortalConnect("irc", botData(9, "irc", bot))
	x.settle()
	if s := x.h.SessionFromSessid(9); s == nil || s.Plugin != "irc" || !s.LoggedIn || s.UID != bot.ID {
		t.Fatalf("the bot's own session: %+v", s)
	}
	// The start is used up: a second session as the bot is refused.
	x.h.PortalConnect("irc", botData(12, "irc", bot))
	notLoggedIn(12)
	x.settle()

	log := x.log.String()
	for _, c := range []struct {
		plugin string
		id     uint64
	}{{"irc", 5}, {"telnet", 13}, {"irc", 8}, {"irc", 10}, {"irc", 12}} {
		if !strings.Contains(log, refusedLine(c.plugin, c.id, bot.ID, 0)) {
			t.Errorf("no refused claim logged for session %d of %s:\n%s", c.id, c.plugin, log)
		}
	}
	if ls := logins(x.p.Events()); len(ls) != 1 {
		t.Errorf("logins = %v, want the bot's only", ls)
	}
	x.wantLogins("irc", store.SessionLogin{Sessid: 9, Plugin: "irc", UID: bot.ID, PUID: bot.CharacterID})
}

// TestBotStraySessionEnded: a session that arrived as the bot before
// StartBot answered, but is not the one it names (or StartBot failed), is
// ended.
func TestBotStraySessionEnded(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{{"other session named", nil}, {"start failed", errFake}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t)
			bot := x.account("gamebot")
			x.p.botID, x.p.botErr = 9, tc.err
			x.p.onStartBot = func() { x.h.PortalConnect("irc", botData(8, "irc", bot)) }
			_, err := x.h.StartBotSession(context.Background(), "irc", map[string]any{"uid": bot.ID})
			if (err != nil) != (tc.err != nil) {
				t.Fatalf("StartBotSession error %v", err)
			}
			x.settle()
			if s := x.h.SessionFromSessid(8); s != nil {
				t.Fatalf("the stray session is still there: %+v", s)
			}
			var ended bool
			for _, e := range disconnects(x.p.Events()) {
				if dc := e.disconnect(); dc.Sessid == 8 && dc.Reason == ReasonRefusedClaim {
					ended = true
				}
			}
			if !ended {
				t.Errorf("the plugin was not told to end session 8: %s", describe(t, x.p.Events()))
			}
			if !strings.Contains(x.log.String(), refusedLine("irc", 8, bot.ID, bot.CharacterID)) {
				t.Errorf("no refused claim logged:\n%s", x.log.String())
			}
			x.wantLogins("irc")
		})
	}
}
