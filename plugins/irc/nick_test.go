package main

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/portalpb"
)

// registerAsAlternative registers the bot as portibot_ (portibot is in
// use) and joins #test; isupport is the server's 005 tokens, sent with
// the end of the MOTD.
func registerAsAlternative(t *testing.T, h *harness, srv *fakeServer, isupport string) *fakeClient {
	t.Helper()
	h.start(nil)
	c := srv.accept()
	c.expect("NICK", "portibot")
	c.expect("USER")
	c.send(":irc.test 433 * portibot :Nickname is already in use")
	c.expect("NICK", "portibot_")
	c.welcomeAs("portibot_", "#test")
	c.send(":irc.test 005 portibot_ %s :are supported by this server", isupport)
	c.send(":irc.test 376 portibot_ :End of MOTD command")
	if flags := h.waitState(stateConnected); flags[FlagNick] != "portibot_" {
		t.Fatalf("BOT_NICK %v", flags[FlagNick])
	}
	return c
}

// TestNickRegainMonitor: on a server with MONITOR the bot watches its
// nick and takes it the moment it goes offline, then stops watching.
func TestNickRegainMonitor(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	c := registerAsAlternative(t, h, srv, "MONITOR=100 NICKLEN=30")
	c.expect("MONITOR", "+", "portibot")
	c.send(":irc.test 730 portibot_ :portibot!~x@elsewhere")
	c.send(":irc.test 731 portibot_ :portibot")
	c.expect("NICK", "portibot")
	c.send(":portibot_!~portibot@127.0.0.1 NICK :portibot")
	c.expect("MONITOR", "-", "portibot")
	h.waitEvent("BOT_NICK portibot", func(ev *portalpb.Event) bool {
		d, ok := sessionData(ev)
		return ok && d.ProtocolFlags.Value(FlagNick) == "portibot"
	})
}

// TestNickRegainISON: without MONITOR the bot asks ISON until the nick is
// free, then takes it.
func TestNickRegainISON(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	c := registerAsAlternative(t, h, srv, "NICKLEN=30")
	start := time.Now()
	c.expect("ISON", "portibot")
	c.send(":irc.test 303 portibot_ :portibot")
	c.expect("ISON", "portibot")
	c.send(":irc.test 303 portibot_ :")
	c.expect("NICK", "portibot")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("regaining the nick took %v", took)
	}
	c.send(":portibot_!~portibot@127.0.0.1 NICK :portibot")
	h.waitEvent("BOT_NICK portibot", func(ev *portalpb.Event) bool {
		d, ok := sessionData(ev)
		return ok && d.ProtocolFlags.Value(FlagNick) == "portibot"
	})
	// Got: no more ISON.
	c.send("PING :after")
	c.expect("PONG", "after")
}

// TestNickRegainOnQuitOrNick: the holder seen leaving (QUIT) or changing
// nick frees the nick at once, before any poll.
func TestNickRegainOnQuitOrNick(t *testing.T) {
	for _, line := range []string{":portibot!~x@elsewhere QUIT :bye", ":portibot!~x@elsewhere NICK :someoneelse"} {
		t.Run(line[strings.LastIndexByte(line, ' ')+1:], func(t *testing.T) {
			srv := newFakeServer(t)
			h := newHarness(t, srv, func(tm *timing) { tm.isonInterval = time.Hour })
			c := registerAsAlternative(t, h, srv, "NICKLEN=30")
			c.send("%s", line)
			c.expect("NICK", "portibot")
		})
	}
}

// TestNickTooLong: a nick longer than the server accepts (ngIRCd's
// default NICKLEN is 9) is cut to nine characters instead of being
// refused on every reconnect; a NICKLEN the server announces cuts the
// wanted nick too.
func TestNickTooLong(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	h.start(map[string]any{"nick": "portibotlong"})
	c := srv.accept()
	c.expect("NICK", "portibotlong")
	c.expect("USER")
	c.send(":irc.test 432 * portibotlong :Nickname too long, max. 9 characters")
	c.expect("NICK", "portibotl")
	c.welcomeAs("portibotl", "#test")
	if flags := h.waitState(stateConnected); flags[FlagNick] != "portibotl" {
		t.Fatalf("BOT_NICK %v", flags[FlagNick])
	}

	// Taken as portibo_ (cut to NICKLEN 8 with its suffix), it wants the
	// nick cut to 8 back.
	srv2 := newFakeServer(t)
	h2 := newHarness(t, srv2, nil)
	h2.start(map[string]any{"nick": "portibotlong"})
	c2 := srv2.accept()
	c2.expect("NICK", "portibotlong")
	c2.expect("USER")
	c2.send(":irc.test 433 * portibotlong :Nickname is already in use")
	c2.expect("NICK", "portibotlong_")
	c2.welcomeAs("portibo_", "#test")
	c2.send(":irc.test 005 portibo_ NICKLEN=8 :are supported by this server")
	c2.send(":irc.test 376 portibo_ :End of MOTD command")
	c2.expect("ISON", "portibot")
}
