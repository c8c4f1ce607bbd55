package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// relayed is one bot_data_in the host was given.
type relayed struct {
	text, kind, user string
}

// relayedSince returns the bot_data_in messages among events[from:] and
// how many events there are now.
func (h *harness) relayedSince(from int) ([]relayed, int) {
	evs, n := h.rec.Events(from)
	var out []relayed
	for _, ev := range evs {
		if ev.GetDataIn() == nil {
			continue
		}
		msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
		if err != nil {
			h.t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Name != "bot_data_in" {
				continue
			}
			text, _ := m.FirstString()
			kind, _ := m.Kwargs["type"].(string)
			user, _ := m.Kwargs["user"].(string)
			out = append(out, relayed{text: text, kind: kind, user: user})
		}
	}
	return out, n
}

// isDropNotice matches the notice of lines dropped by the relay limit.
func isDropNotice(ev *portalpb.Event) bool {
	if ev.GetDataIn() == nil {
		return false
	}
	msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
	return err == nil && len(msgs) == 1 && msgs[0].Kwargs["user"] == "[irc]"
}

// TestRelayFlood: 20,000 lines from IRC in one go reach the game as no
// more than the relay budget (burst + rate × time), and the game is told
// once how many were dropped; the bridge relays normally afterwards.
func TestRelayFlood(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) {
		tm.relayQuiet = time.Second
		tm.relayNoticeMax = time.Minute
	})
	h.start(nil) // relay_rate 5, relay_burst 10: the defaults
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)

	_, from := h.rec.Events(0)
	const flood = 20000
	var b strings.Builder
	for i := range flood {
		fmt.Fprintf(&b, ":mallory!~m@evil.example PRIVMSG #test :flood line %d\r\n", i)
	}
	start := time.Now()
	if _, err := c.nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	// Every line is accounted for, relayed or told as dropped, once the
	// notices are out.
	var lines, notices, dropped int
	var elapsed time.Duration
	for lines+dropped < flood {
		h.waitEvent("the notice of dropped lines", isDropNotice)
		elapsed = time.Since(start)
		got, _ := h.relayedSince(from)
		lines, notices, dropped = 0, 0, 0
		for _, r := range got {
			switch {
			case r.user == "[irc]":
				notices++
				var n int
				var ch string
				if _, err := fmt.Sscanf(r.text, "%d lines from %s dropped: flooding", &n, &ch); err != nil || ch != "#test" || r.kind != "action" {
					t.Fatalf("notice %+v (%v)", r, err)
				}
				dropped += n
			case r.user == "mallory" && strings.HasPrefix(r.text, "flood line "):
				lines++
			default:
				t.Fatalf("unexpected input %+v", r)
			}
		}
	}
	budget := defaultRelayBurst + int(defaultRelayRate*elapsed.Seconds()) + 1
	t.Logf("%d of %d lines relayed in %v (budget %d), %d dropped, %d notice(s)", lines, flood, elapsed, budget, dropped, notices)
	if lines > budget || lines < defaultRelayBurst || lines+dropped != flood {
		t.Fatalf("%d lines relayed, want between %d and %d; %d relayed + %d dropped should be %d",
			lines, defaultRelayBurst, budget, lines, dropped, flood)
	}
	// One notice per flood: another only after a pause of relayQuiet
	// in it (a slow reader here can make one).
	if max := 1 + int(elapsed/time.Second); notices > max {
		t.Fatalf("%d notices in %v", notices, elapsed)
	}

	// The flood is over (nothing dropped for relayQuiet: five tokens
	// back at 5 a second): the next line goes through at once.
	c.send(":bob!~bob@example.org PRIVMSG #test :after the flood")
	if m := h.waitDataIn(); m.Args[0] != "after the flood" {
		t.Fatalf("after the flood: %s", describe(m))
	}
}

// pacedRelay calls relay(i) for i = 0, 1, ... while keepOn(i, elapsed),
// sleeping pause between calls (none for 0). It returns the number of
// calls, the time they spanned and the longest gap between two calls: a
// gap as long as relayQuiet is a pause in the flood as the relay sees
// it, which only the scheduler of a busy machine makes here.
func pacedRelay(relay func(int), pause time.Duration, keepOn func(i int, elapsed time.Duration) bool) (n int, span, longest time.Duration) {
	start := time.Now()
	last := start
	for n = 0; keepOn(n, time.Since(start)); n++ {
		if pause > 0 && n > 0 {
			time.Sleep(pause)
		}
		now := time.Now()
		longest = max(longest, now.Sub(last))
		last = now
		relay(n)
	}
	return n, last.Sub(start), longest
}

// awaitAccounted waits until each of the n lines relayed to the bot since
// events[from] is accounted for: relayed into the game, or counted in a
// notice of dropped lines. The last notice is then in. It returns the
// relayed lines and the notices.
func (h *harness) awaitAccounted(from, n int) (lines int, notices []relayed) {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		got, _ := h.relayedSince(from)
		lines, notices = 0, nil
		dropped := 0
		for _, r := range got {
			if r.user != "[irc]" {
				lines++
				continue
			}
			notices = append(notices, r)
			var k int
			var ch string
			if _, err := fmt.Sscanf(r.text, "%d lines from %s dropped: flooding", &k, &ch); err != nil || ch != "#test" || r.kind != "action" {
				h.t.Fatalf("notice %+v (%v)", r, err)
			}
			dropped += k
		}
		if lines+dropped == n {
			return lines, notices
		}
		if lines+dropped > n {
			h.t.Fatalf("%d lines relayed and %d counted dropped, of %d", lines, dropped, n)
		}
		select {
		case <-h.rec.Changed():
		case <-deadline:
			h.t.Fatalf("of %d lines, %d relayed and %d counted dropped in %v", n, lines, dropped, waitLimit)
		}
	}
}

// TestRelayNoticeOncePerFlood: however many lines a flood has, the game
// hears of it once when it stops, and once per relayNoticeMax while it
// goes on.
//
// Each flood runs on a fresh bot (relay_rate 1, relay_burst 2). A run in
// which the test's own loop was paused for half of relayQuiet or more
// (a loaded machine's scheduler) did not make the unbroken flood it
// means to — the relay would rightly see two — and is run again, up to
// three times; only runs that made their flood are judged.
func TestRelayNoticeOncePerFlood(t *testing.T) {
	const quiet = 200 * time.Millisecond
	// flood starts a fresh bot with tune's timing and runs send on it
	// until it makes an unbroken flood, then waits until every line is
	// accounted for.
	flood := func(t *testing.T, tune func(*timing), send func(line func(int)) (n int, span, longest time.Duration)) (lines int, notices []relayed, span time.Duration) {
		t.Helper()
		var gaps []time.Duration
		for range 3 {
			h := newHarness(t, newFakeServer(t), tune)
			_, b := h.start(map[string]any{"relay_rate": 1, "relay_burst": 2})
			_, from := h.rec.Events(0)
			n, span, longest := send(func(i int) { b.relay(botDataIn(fmt.Sprintf("line %d", i))) })
			lines, notices := h.awaitAccounted(from, n)
			if longest < quiet/2 {
				t.Logf("%d lines in %v (longest gap %v): %d relayed, %d notice(s)", n, span, longest, lines, len(notices))
				return lines, notices, span
			}
			gaps = append(gaps, longest)
		}
		t.Fatalf("in three runs the test's loop was paused for %v: too busy a machine to make one unbroken flood", gaps)
		return 0, nil, 0
	}

	t.Run("one burst", func(t *testing.T) {
		// 20,000 lines at once: the burst's two relayed, one notice for
		// the rest when the flood stops.
		lines, notices, span := flood(t, func(tm *timing) {
			tm.relayQuiet = quiet
			tm.relayNoticeMax = time.Minute
		}, func(line func(int)) (int, time.Duration, time.Duration) {
			return pacedRelay(line, 0, func(i int, _ time.Duration) bool { return i < 20000 })
		})
		// A flood longer than a second earns a line a token (relay_rate 1).
		want := 2 + int(span/time.Second)
		if lines != want || len(notices) != 1 || notices[0].text != fmt.Sprintf("%d lines from #test dropped: flooding", 20000-want) {
			t.Fatalf("%d lines relayed and notices %+v; want %d and one notice of the rest", lines, notices, want)
		}
	})

	t.Run("a flood that goes on", func(t *testing.T) {
		// A line a millisecond for 1.5 s: a notice every relayNoticeMax
		// (500 ms), not one per quiet gap that never comes. Three
		// notices when the timers keep time; two when one is late.
		const noticeMax, lasting = 500 * time.Millisecond, 1500 * time.Millisecond
		_, notices, span := flood(t, func(tm *timing) {
			tm.relayQuiet = quiet
			tm.relayNoticeMax = noticeMax
		}, func(line func(int)) (int, time.Duration, time.Duration) {
			return pacedRelay(line, time.Millisecond, func(_ int, elapsed time.Duration) bool { return elapsed < lasting })
		})
		// At most one notice per relayNoticeMax of flood, and one when
		// it stops.
		if most := 1 + int(span/noticeMax); len(notices) < 2 || len(notices) > most {
			t.Fatalf("%d notices for a %v flood with a notice every %v, want 2 to %d: %+v", len(notices), span, noticeMax, most, notices)
		}
	})
}

func botDataIn(text string) sdk.Message {
	return sdk.Message{Name: "bot_data_in", Args: []any{text}, Kwargs: map[string]any{"type": "msg", "user": "bob", "channel": "#test"}}
}

// TestRelayLimitOff: relay_rate 0 relays everything (the operator's
// choice), with no notice.
func TestRelayLimitOff(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) { tm.relayQuiet = 50 * time.Millisecond })
	h.start(map[string]any{"relay_rate": 0})
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	_, from := h.rec.Events(0)
	const n = 200
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ":bob!~bob@example.org PRIVMSG #test :line %d\r\n", i)
	}
	if _, err := c.nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	h.waitEvent("the last line", func(ev *portalpb.Event) bool {
		msgs, _ := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
		return len(msgs) == 1 && msgs[0].Args[0] == fmt.Sprintf("line %d", n-1)
	})
	time.Sleep(100 * time.Millisecond) // past relayQuiet: a notice would be out
	got, _ := h.relayedSince(from)
	if len(got) != n {
		t.Fatalf("%d of %d lines relayed", len(got), n)
	}
}

// hostileServe answers each of the bot's connections as a hostile server
// does: it closes at once, after a welcome (001) when welcome is set.
func hostileServe(c *fakeClient, welcome bool) {
	if welcome {
		nick := c.expect("NICK").Params[0]
		c.expect("USER")
		c.send(":irc.test 001 %s :Welcome %s", nick, nick)
	}
	c.close()
}

// TestBackoffAgainstHostileServer: against a server that accepts the bot
// and closes at once, or welcomes it and closes at once, the waits
// between connections grow by the backoff factor; only a connection that
// stayed registered for stableAfter brings them back to backoffMin.
func TestBackoffAgainstHostileServer(t *testing.T) {
	const min = 30 * time.Millisecond
	for _, welcome := range []bool{false, true} {
		name := "accepts and closes"
		if welcome {
			name = "welcomes and closes"
		}
		t.Run(name, func(t *testing.T) {
			srv := newFakeServer(t)
			h := newHarness(t, srv, func(tm *timing) {
				tm.backoff.Min = min
				tm.backoff.Max = 10 * time.Second
				tm.backoff.StableAfter = 300 * time.Millisecond
			})
			h.start(nil)
			hostileServe(srv.accept(), welcome)
			last := time.Now()
			want := min
			var gaps []time.Duration
			for i := range 8 {
				c := srv.accept()
				gap := time.Since(last)
				gaps = append(gaps, gap)
				if gap < want*9/10 {
					t.Fatalf("reconnect %d came after %v, want at least %v (gaps so far %v)", i+1, gap, want, gaps)
				}
				hostileServe(c, welcome)
				last = time.Now()
				want = time.Duration(float64(want) * 1.5)
			}
			t.Logf("gaps %v", gaps)
			if !welcome {
				return
			}
			// A connection that stays registered past stableAfter resets
			// the backoff: the next wait is backoffMin (30 ms) again, not
			// the ~1.15 s the backoff would have reached. Half of that
			// tells them apart with over half a second to spare either
			// way for a loaded machine's scheduling.
			c := srv.accept()
			c.welcome("#test")
			h.waitState(stateConnected)
			time.Sleep(400 * time.Millisecond) // stays registered past stableAfter: what is tested
			c.close()
			last = time.Now()
			hostileServe(srv.accept(), true)
			noReset := time.Duration(float64(want) * 1.5)
			if gap := time.Since(last); gap > noReset/2 {
				t.Fatalf("after a stable connection the bot waited %v, want about %v (without the reset: %v)", gap, min, noReset)
			}
		})
	}
}

// TestMaxReconnectsGivesUp: with max_reconnects the bot gives up after
// that many reconnects in a row, says so in BOT_STATE (with the last
// error in BOT_ERROR), keeps its session and makes no more connections
// until it is stopped. A connection that stayed registered starts the
// count again.
func TestMaxReconnectsGivesUp(t *testing.T) {
	srv := newFakeServer(t)
	h := newHarness(t, srv, func(tm *timing) {
		tm.backoff.Min = 10 * time.Millisecond
		tm.backoff.StableAfter = 200 * time.Millisecond
	})
	sess, b := h.start(map[string]any{"max_reconnects": "2"})
	// First attempt and one reconnect fail; the second reconnect stays
	// up past stableAfter, which starts the count again.
	hostileServe(srv.accept(), true)
	hostileServe(srv.accept(), true)
	c := srv.accept()
	c.welcome("#test")
	h.waitState(stateConnected)
	time.Sleep(300 * time.Millisecond)
	c.send("ERROR :Closing link (K-lined)")
	c.close()
	// Two more reconnects fail: the bot gives up.
	hostileServe(srv.accept(), true)
	hostileServe(srv.accept(), true)
	flags := h.waitState(stateGaveUp)
	if flags[FlagState] != "failed: gave up after 2 reconnects" {
		t.Fatalf("BOT_STATE %q", flags[FlagState])
	}
	if e, _ := flags[FlagError].(string); !strings.HasPrefix(e, "irc: ") {
		t.Fatalf("BOT_ERROR %q, want the last connection's error", flags[FlagError])
	}
	// No more connections (the backoff would have made several by now),
	// and the bot and its session stay for @bots to show.
	select {
	case c := <-srv.conns:
		t.Fatalf("the bot connected again after giving up: %v", c.nc.RemoteAddr())
	case <-time.After(500 * time.Millisecond):
	}
	if st, _ := b.State(); st != "failed: gave up after 2 reconnects" {
		t.Fatalf("state %q", st)
	}
	if h.p.bot("PortiBot") != b || h.portal.Count() != 1 {
		t.Fatal("the bot or its session is gone after giving up")
	}
	// The host removing it stops it for good.
	h.portal.Disconnect(sess, "Bot removed")
	waitDone(t, b)
	if st, _ := b.State(); st != stateStopped {
		t.Fatalf("state after stop %q", st)
	}
}
