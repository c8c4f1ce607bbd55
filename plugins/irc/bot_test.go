package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircutils"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// TestRegisterAndJoin: the bot's session is announced at once, logged in
// as the bot with its flags; the bot registers, joins, and reports
// "connected".
func TestRegisterAndJoin(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	sess, _ := h.start(nil)

	ev := h.waitEvent("connect", func(ev *portalpb.Event) bool { return ev.GetConnect() != nil })
	d, _ := sessionData(ev)
	if d.Sessid != sess.ID() || d.ProtocolKey != "ircbot" || d.Address != "#test@127.0.0.1" ||
		!d.LoggedIn || d.UID != 7 || d.UName != "PortiBot" {
		t.Fatalf("session data: %+v", d)
	}
	if d.ServerData["bot"] != true || d.ServerData["bot_name"] != "PortiBot" {
		t.Fatalf("server data: %v", d.ServerData)
	}
	if d.ProtocolFlags.Value(FlagState) != stateConnecting || d.ProtocolFlags.Value(FlagNetwork) != "127.0.0.1:"+itoa(srv.port())+"/#test" {
		t.Fatalf("flags: %v", d.ProtocolFlags)
	}

	c := srv.accept()
	c.expect("NICK", "portibot")
	user := c.expect("USER")
	if user.Params[0] != "portibot" || !strings.Contains(user.Params[3], "TestGame") {
		t.Fatalf("USER %q", user.Params)
	}
	c.welcomeAs("portibot", "#test")
	flags := h.waitState(stateConnected)
	if flags[FlagNick] != "portibot" || flags[FlagError] != "" {
		t.Fatalf("flags: %v", flags)
	}
	if since, ok := flags[FlagStateSince].(int64); !ok || time.Since(time.Unix(since, 0)) > time.Minute {
		t.Fatalf("BOT_STATE_SINCE %v (%T)", flags[FlagStateSince], flags[FlagStateSince])
	}
	// The server's PING is answered with its token.
	c.send("PING :abc123")
	c.expect("PONG", "abc123")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestNickInUse: 433 makes the bot try portibot_, portibot__, portibot1.
func TestNickInUse(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	h.start(nil)
	c := srv.accept()
	c.expect("NICK", "portibot")
	c.expect("USER")
	for _, alt := range []string{"portibot_", "portibot__", "portibot1"} {
		c.send(":irc.test 433 * %s :Nickname is already in use", c.nick)
		c.nick = alt
		c.expect("NICK", alt)
	}
	c.welcomeAs("portibot1", "#test")
	if flags := h.waitState(stateConnected); flags[FlagNick] != "portibot1" {
		t.Fatalf("BOT_NICK %v", flags[FlagNick])
	}
	// A server with short nicks refuses the alternative's form: it is cut.
	c2 := newFakeServer(t)
	h2 := newHarness(t, c2, nil)
	h2.start(map[string]any{"nick": "longbotname"})
	cc := c2.accept()
	cc.expect("NICK", "longbotname")
	cc.expect("USER")
	cc.send(":irc.test 433 * longbotname :Nickname is already in use")
	cc.expect("NICK", "longbotname_")
	cc.send(":irc.test 432 * longbotname_ :Erroneous nickname")
	cc.expect("NICK", "longbotnam_")
}

// TestSASLSuccess runs SASL PLAIN through CAP negotiation.
func TestSASLSuccess(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	h.start(map[string]any{"sasl_user": "botacct", "sasl_password": "s3cret pass"})
	c := srv.accept()
	c.expect("CAP", "LS", "302")
	c.expect("NICK", "portibot")
	c.expect("USER")
	// A capability list over two lines.
	c.send(":irc.test CAP * LS * :multi-prefix away-notify")
	c.send(":irc.test CAP * LS :sasl=PLAIN,EXTERNAL server-time")
	c.expect("CAP", "REQ", "sasl")
	c.send(":irc.test CAP * ACK :sasl")
	c.expect("AUTHENTICATE", "PLAIN")
	c.send("AUTHENTICATE +")
	auth := c.expect("AUTHENTICATE")
	buf := ircutils.NewSASLBuffer(0)
	done, raw, err := buf.Add(auth.Params[0])
	if err != nil || !done || string(raw) != "\x00botacct\x00s3cret pass" {
		t.Fatalf("SASL response %q (%v, %v)", raw, done, err)
	}
	c.send(":irc.test 900 portibot portibot!u@h botacct :You are now logged in as botacct")
	c.send(":irc.test 903 portibot :SASL authentication successful")
	c.expect("CAP", "END")
	c.welcomeAs("portibot", "#test")
	h.waitState(stateConnected)
}

// TestSASLFailure: 904 is reported in BOT_STATE and retried with backoff.
func TestSASLFailure(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	h.start(map[string]any{"sasl_user": "botacct", "sasl_password": "wrong"})
	for range 2 {
		c := srv.accept()
		c.expect("CAP", "LS", "302")
		c.expect("NICK")
		c.expect("USER")
		c.send(":irc.test CAP * LS :sasl")
		c.expect("CAP", "REQ", "sasl")
		c.send(":irc.test CAP * ACK :sasl")
		c.expect("AUTHENTICATE", "PLAIN")
		c.send("AUTHENTICATE +")
		c.expect("AUTHENTICATE")
		c.send(":irc.test 904 * :SASL authentication failed")
		c.expectEOF()
	}
	flags := h.waitState("sasl failed: ")
	if flags[FlagState] != "sasl failed: 904 SASL authentication failed" {
		t.Fatalf("state %q", flags[FlagState])
	}
	// A server without SASL at all is a failure too, not a silent
	// unauthenticated login.
	c := srv.accept()
	c.expect("CAP", "LS", "302")
	c.expect("NICK")
	c.expect("USER")
	c.send(":irc.test CAP * LS :multi-prefix")
	c.expectEOF()
}

// TestReconnectBackoff: the server drops the bot; it reconnects after
// backoffMin, then waits longer after each failure, at most backoffMax.
// (A registration resets the backoff only when it lasts: see
// TestBackoffAgainstHostileServer.)
func TestReconnectBackoff(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) {
		tm.backoff.Min = 40 * time.Millisecond
		tm.backoff.Max = 150 * time.Millisecond
	})
	_, b := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	c.send("ERROR :Closing link (test)")
	c.close()
	flags := h.waitState(stateReconnecting)
	if !strings.Contains(flags[FlagError].(string), "Closing link (test)") {
		t.Fatalf("BOT_ERROR %q", flags[FlagError])
	}
	// Dropped four times before registering: waits 40, 60, 90, 135 ms,
	// then the 150 ms cap.
	want := []time.Duration{40, 60, 90, 135, 150}
	last := time.Now()
	for i, w := range want {
		c := srv.accept()
		gap := time.Since(last)
		if gap < w*time.Millisecond*9/10 {
			t.Errorf("attempt %d came after %v, want at least %v", i+1, gap, w*time.Millisecond)
		}
		c.expect("NICK")
		c.close()
		last = time.Now()
		<-c.eof
	}
	c = srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	if st, _ := b.State(); st != stateConnected {
		t.Fatalf("state %q", st)
	}
	// One session all along (Evennia's #3021).
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}
}

// TestPingTimeout: a silent server gets a PING; without an answer the
// connection is dropped and made again. An answer keeps it.
func TestPingTimeout(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) {
		tm.pingInterval = 100 * time.Millisecond
		tm.pingTimeout = 150 * time.Millisecond
	})
	h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	ping := c.skipTo("PING")
	c.send(":irc.test PONG irc.test :%s", ping.Params[0])
	c.skipTo("PING") // still connected: it pings again after the next silence
	c.expectEOF()
	flags := h.waitState(stateReconnecting)
	if !strings.Contains(flags[FlagError].(string), "no answer to PING") {
		t.Fatalf("BOT_ERROR %q", flags[FlagError])
	}
	srv.accept().welcome("#test")
	h.waitState(stateConnected)
}

// TestRegistrationTimeout: a server that never sends 001 is left.
func TestRegistrationTimeout(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) { tm.registerTimeout = 150 * time.Millisecond })
	h.start(nil)
	c := srv.accept()
	c.expect("NICK")
	c.expectEOF()
	flags := h.waitState(stateReconnecting)
	if !strings.Contains(flags[FlagError].(string), "no welcome") {
		t.Fatalf("BOT_ERROR %q", flags[FlagError])
	}
	srv.accept()
}

// TestPacing: after the burst, lines go out one per interval, in order.
func TestPacing(t *testing.T) {
	srv := newFakeServer(t)
	const interval = 40 * time.Millisecond
	h := newHarness(t, srv, func(tm *timing) {
		tm.burst = 4
		tm.lineInterval = interval
	})
	sess, _ := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	// However full the bucket is after registration, n lines need at
	// least n-burst intervals.
	const n = 12
	start := time.Now()
	for i := range n {
		send(sess, channelMsg("[public] Alice: line "+itoa(i), "Alice", "x"))
	}
	for i := range n {
		m := c.skipTo("PRIVMSG")
		if m.Params[1] != "[public] Alice: line "+itoa(i) {
			t.Fatalf("line %d: %q", i, m.Params[1])
		}
	}
	took := time.Since(start)
	if min := (n - 4 - 1) * interval; took < min {
		t.Fatalf("%d lines took %v, want at least %v", n, took, min)
	}
}

// TestRelay: IRC → game as bot_data_in (msg, action, privmsg), game →
// IRC as PRIVMSG; the bot's own lines, NOTICEs and other CTCP are not
// relayed; CTCP VERSION is answered.
func TestRelay(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	sess, _ := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)

	c.send(":portibot!~portibot@127.0.0.1 PRIVMSG #test :my own echo")
	c.send(":services.test NOTICE portibot :hello")
	c.send(":bob!~bob@example.org NOTICE #test :a notice")
	c.send(":bob!~bob@example.org PRIVMSG #test :\x01PING 123\x01")
	c.send(":bob!~bob@example.org PRIVMSG #other :elsewhere")
	c.send(":bob!~bob@example.org PRIVMSG #test :*** bouncer status")
	c.send(":bob!~bob@example.org PRIVMSG #Test :hi \x0304there\x03 a|b")
	for _, want := range []struct{ text, kind string }{
		{"hi |rthere|n a||b", "msg"},
		{"waves", "action"},
		{"who", "privmsg"},
	} {
		switch want.kind {
		case "action":
			c.send(":bob!~bob@example.org PRIVMSG #test :\x01ACTION waves\x01")
		case "privmsg":
			c.send(":bob!~bob@example.org PRIVMSG portibot :who")
		}
		m := h.waitDataIn()
		if m.Name != "bot_data_in" || len(m.Args) != 1 || m.Args[0] != want.text ||
			m.Kwargs["type"] != want.kind || m.Kwargs["user"] != "bob" || m.Kwargs["channel"] != "#test" {
			t.Fatalf("data in: %s", describe(m))
		}
	}

	c.send(":bob!~bob@example.org PRIVMSG portibot :\x01VERSION\x01")
	if v := c.skipTo("NOTICE"); v.Params[0] != "bob" || v.Params[1] != "\x01VERSION Portico IRC bot\x01" {
		t.Fatalf("VERSION reply %q", v.Params)
	}

	send(sess,
		sdk.Text("the connection screen"),
		channelMsg("[public] |gAlice|n: hi", "Alice", "hi"),
		sdk.Message{Name: "privmsg", Args: []any{"Players: Alice"}, Kwargs: map[string]any{"user": "bob"}},
		sdk.Message{Name: "privmsg", Args: []any{"injected"}, Kwargs: map[string]any{"user": "#test"}},
		sdk.Message{Name: "privmsg", Args: []any{"injected"}, Kwargs: map[string]any{"user": "bob\r\nQUIT"}},
	)
	if got := c.nextRaw(); got != "PRIVMSG #test :[public] \x0309Alice\x0f: hi" {
		t.Fatalf("channel line %q", got)
	}
	if got := c.nextRaw(); got != "PRIVMSG bob :Players: Alice" {
		t.Fatalf("privmsg line %q", got)
	}
	// Nothing else was sent: the next line is the answer to this PING.
	c.send("PING :sync")
	c.expect("PONG", "sync")
	// Nothing was relayed from the lines the bot must ignore.
	for _, ev := range h.rec.Unconsumed() {
		if ev.GetDataIn() != nil {
			t.Errorf("unexpected input to the host: %v", ev)
		}
	}
}

// TestLongMessageSplit: a long channel message becomes several PRIVMSGs,
// each within 512 bytes once the server puts the bot's prefix in front.
func TestLongMessageSplit(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	sess, _ := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	words := strings.Repeat("lorem ipsum dolor sit amet ", 60)
	send(sess, channelMsg("[public] Alice: "+words, "Alice", words))
	prefix := ":portibot!~portibot@127.0.0.1 "
	var got []string
	for len(strings.Join(got, " ")) < len(strings.TrimSpace("[public] Alice: "+words)) {
		raw := c.nextRaw()
		if len(prefix)+len(raw)+2 > 512 {
			t.Fatalf("relayed line would be %d bytes", len(prefix)+len(raw)+2)
		}
		got = append(got, strings.TrimPrefix(raw, "PRIVMSG #test :"))
	}
	if strings.TrimSpace(strings.Join(got, " ")) != strings.TrimSpace("[public] Alice: "+words) || len(got) != 4 {
		t.Fatalf("%d lines; text differs", len(got))
	}
}

// TestKickRejoin: kicked, the bot says so and joins again.
func TestKickRejoin(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	c.send(":op!~op@example.org KICK #test portibot :behave")
	flags := h.waitState(stateRejoining)
	if flags[FlagError] != "kicked from #test by op: behave" {
		t.Fatalf("BOT_ERROR %q", flags[FlagError])
	}
	c.expect("JOIN", "#test")
	c.send(":portibot!~portibot@127.0.0.1 JOIN #test")
	h.waitState(stateConnected)
}

// TestCloseQuits: the host removing the bot makes it QUIT with the reason
// and stop for good.
func TestCloseQuits(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	sess, b := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	h.portal.Disconnect(sess, "Bot removed")
	c.expect("QUIT", "Bot removed")
	waitDone(t, b)
	if st, _ := b.State(); st != stateStopped {
		t.Fatalf("state %q", st)
	}
	if h.p.bot("PortiBot") != nil {
		t.Fatal("a stopped bot is still listed")
	}
	// The stopped bot makes no further connection.
	select {
	case c := <-srv.conns:
		t.Fatalf("a stopped bot connected again: %v", c.nc.RemoteAddr())
	default:
	}
}

// TestStartBotAgain: starting a running bot again replaces it: the old
// session is closed (the host is told), the old connection quits, and a
// new one comes up. One bot, one session.
func TestStartBotAgain(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, nil)
	old, oldBot := h.start(nil)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	sess, b := h.start(nil)
	if sess == old || b == oldBot {
		t.Fatal("no new session")
	}
	c.expect("QUIT", "Bot restarting")
	h.waitEvent("old session disconnected", func(ev *portalpb.Event) bool {
		return ev.GetDisconnected() != nil && ev.GetDisconnected().GetSessid() == old.ID()
	})
	waitDone(t, oldBot)
	srv.accept().welcome("#test")
	h.waitState(stateConnected)
	if h.portal.Count() != 1 {
		t.Fatalf("%d sessions", h.portal.Count())
	}
}

// TestTLS connects over TLS to a self-signed server with tls_insecure,
// and refuses it without.
func TestTLS(t *testing.T) {
	srv := newFakeTLSServer(t)
	h := newHarness(t, srv, nil)
	h.start(map[string]any{"tls": true, "tls_insecure": true})
	srv.accept().welcome("#test")
	h.waitState(stateConnected)

	srv2 := newFakeTLSServer(t)
	h2 := newHarness(t, srv2, nil)
	h2.start(map[string]any{"tls": "true"})
	flags := h2.waitState(stateReconnecting)
	if !strings.Contains(flags[FlagError].(string), "certificate") {
		t.Fatalf("BOT_ERROR %q", flags[FlagError])
	}
}
