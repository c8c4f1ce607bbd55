package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// testTiming is defaultTiming made fast: backoff in tens of
// milliseconds, pings that never interfere unless a test asks.
func testTiming() timing {
	t := defaultTiming()
	t.backoff.Min = 20 * time.Millisecond
	t.backoff.Max = 100 * time.Millisecond
	t.dialTimeout = 2 * time.Second
	t.registerTimeout = 5 * time.Second
	t.pingInterval = time.Minute
	t.pingTimeout = 5 * time.Second
	t.writeTimeout = 2 * time.Second
	t.quitTimeout = 2 * time.Second
	t.rejoinDelay = 20 * time.Millisecond
	t.joinRetry = 20 * time.Millisecond
	t.isonInterval = 50 * time.Millisecond
	t.lineInterval = 5 * time.Millisecond
	return t
}

// harness runs the plugin against a test portal and the fake server, and
// collects every event the plugin sends the host.
type harness struct {
	t      *testing.T
	p      *Plugin
	portal *sdk.Portal
	srv    *fakeServer
	// rec has what the plugin sent the host.
	rec *plugintest.Recorder
}

func newHarness(t *testing.T, srv *fakeServer, tune func(*timing)) *harness {
	t.Helper()
	tim := testTiming()
	if tune != nil {
		tune(&tim)
	}
	h := &harness{t: t, p: &Plugin{timing: tim}, srv: srv}
	ip := plugintest.StartInProcess(t, h.p, sdk.Config{Raw: map[string]any{}, Host: sdk.HostInfo{ServerName: "TestGame"}}, nil, waitLimit)
	if ip.Info.ProtocolKey != ProtocolKey {
		t.Fatalf("protocol key %q", ip.Info.ProtocolKey)
	}
	h.portal, h.rec = ip.Portal, ip.Rec
	return h
}

// botConfig is a valid config dict for the fake server; extra keys
// override it.
func (h *harness) botConfig(extra map[string]any) map[string]any {
	cfg := map[string]any{
		"network": "127.0.0.1", "port": float64(h.srv.port()), "channel": "#test", "nick": "portibot",
		"bot": "PortiBot", "uid": float64(7), "game_channel": "public", "server_name": "TestGame",
	}
	for k, v := range extra {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	return cfg
}

// start starts a bot on the fake server.
func (h *harness) start(extra map[string]any) (*sdk.Session, *bot) {
	h.t.Helper()
	sess, err := h.p.StartBot(context.Background(), sdk.Config{Raw: h.botConfig(extra), Host: sdk.HostInfo{ServerName: "TestGame"}})
	if err != nil {
		h.t.Fatal(err)
	}
	b := h.p.bot("PortiBot")
	if b == nil || b.sess != sess {
		h.t.Fatal("the bot is not registered under its name")
	}
	return sess, b
}

// waitEvent waits for the next event (after those already consumed) that
// match accepts, and consumes up to it.
func (h *harness) waitEvent(what string, match func(ev *portalpb.Event) bool) *portalpb.Event {
	h.t.Helper()
	return h.rec.Await(what, match)
}

// sessionData returns the session data a Connect or Sync event carries.
func sessionData(ev *portalpb.Event) (sdk.SessionData, bool) { return plugintest.SessionData(ev) }

// waitState waits until the host is told the bot is in state (a prefix
// of BOT_STATE), and returns the flags.
func (h *harness) waitState(state string) map[string]any {
	h.t.Helper()
	return h.rec.AwaitFlag(FlagState, state)
}

// waitDataIn waits for the next input the bot passes to the host.
func (h *harness) waitDataIn() sdk.Message {
	h.t.Helper()
	ev := h.waitEvent("data in", func(ev *portalpb.Event) bool { return ev.GetDataIn() != nil })
	msgs, err := wire.MessagesFromPB(ev.GetDataIn().GetMessages())
	if err != nil || len(msgs) != 1 {
		h.t.Fatalf("data in: %v %v", msgs, err)
	}
	return msgs[0]
}

// send delivers host output to the bot, as the SDK does.
func send(sess *sdk.Session, msgs ...sdk.Message) { sess.Conn().Send(sess, msgs) }

func channelMsg(line, sender, text string) sdk.Message {
	return sdk.Message{Name: "channel", Args: []any{line},
		Kwargs: map[string]any{"channel": "public", "sender": sender, "message": text}}
}

func waitDone(t *testing.T, b *bot) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(waitLimit):
		t.Fatal("bot did not stop")
	}
}

func describe(m sdk.Message) string { return fmt.Sprintf("%s %q %v", m.Name, m.Args, m.Kwargs) }
