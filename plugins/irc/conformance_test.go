package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// conformanceSuite describes the IRC plugin to the SDK's conformance kit.
// The plugin has no clients of its own, only bots: Dial is nil (the kit
// skips the client checks), and each bot connects to a fake IRC server
// whose channel member is the bot's peer.
func conformanceSuite() plugintest.Suite {
	return plugintest.Suite{
		ProtocolKey: ProtocolKey,
		// The plugin's own config block has no keys at all.
		BadConfig: map[string]any{"listen": "127.0.0.1:0"},
		Bot:       conformanceBot,
		// The kit's output to a session is always a `text` message, and
		// the kit's host-lost notice is one too (sdk.MsgHostLost). An IRC
		// bot relays only the host's `channel` and `privmsg` outputfuncs
		// and drops `text`, by design and as Evennia's IRCBot does
		// (README.md, "Game → IRC"; bot.Send), so these three checks wait
		// in vain for the kit's output at the peer. They are not plugin
		// bugs; checkBotChannel runs each of them with `channel` output
		// instead.
		Skip: map[string]string{
			"StartBot": "an IRC bot relays `channel` output, not the kit's `text`; see checkBotChannel's StartBot",
			"Reattach": "an IRC bot relays `channel` output, not the kit's `text`; see checkBotChannel's Reattach",
			"HostLost": "an IRC bot relays `channel` output, not the kit's `text` (nor sdk.MsgHostLost); see checkBotChannel's HostLost",
		},
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it.
func TestConformance(t *testing.T) {
	s := conformanceSuite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.Run(t, s)
	checkBotChannel(t, s)
}

// TestConformanceBinary runs the kit against portico-irc launched through
// go-plugin, as the host launches it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	s := conformanceSuite()
	s.Binary = plugintest.Build(t, ".", "irc")
	plugintest.Run(t, s)
	checkBotChannel(t, s)
}

// checkBotChannel runs the kit's StartBot, Reattach and HostLost checks
// (sdk/plugintest/plugintest.go) through plugintest.Host, step for step,
// with the game's output to the bot sent as the `channel` outputfunc the
// bot relays. HostLost leaves out sdk.MsgHostLost, a `text` message the
// bot drops: the IRC channel is not told of the game's restart; and it
// checks input held while the host is away only for the binary (see
// there).
func checkBotChannel(t *testing.T, s plugintest.Suite) {
	t.Run("BotChannel/StartBot", func(t *testing.T) {
		h := plugintest.Start(t, s)
		bot := s.Bot(t)
		id, err := h.StartBot(bot.Config)
		if err != nil {
			t.Fatalf("StartBot: %v", err)
		}
		if !h.Granted(id) {
			t.Fatalf("StartBot: session id %d is not from a block the host granted", id)
		}
		h.AwaitConnectOf(id)
		if _, ok := h.Session(id); !ok {
			t.Fatalf("Sessions does not list bot session %d", id)
		}
		channelOut(t, h, id, "plugintest: to the bot's peer")
		peerExpect(t, s, bot.Peer, "plugintest: to the bot's peer")
		peerSend(t, bot.Peer, "plugintest: from the bot's peer")
		awaitPeerLine(t, h, id, "plugintest: from the bot's peer")
	})
	t.Run("BotChannel/Reattach", func(t *testing.T) {
		h := plugintest.Start(t, s)
		bot, id := startBot(t, s, h)
		peerSend(t, bot.Peer, "plugintest: before the reload")
		awaitPeerLine(t, h, id, "plugintest: before the reload")
		h.Detach()
		peerSend(t, bot.Peer, "plugintest: during the reload")
		sessions := h.Reattach()
		i := slices.IndexFunc(sessions, func(d contract.SessionData) bool { return d.Sessid == id })
		if i < 0 {
			t.Fatalf("Sessions after the reattach does not list session %d: %+v", id, sessions)
		}
		if sessions[i].ProtocolKey != ProtocolKey {
			t.Errorf("Sessions after the reattach: session %d has protocol_key %q", id, sessions[i].ProtocolKey)
		}
		awaitPeerLine(t, h, id, "plugintest: during the reload")
		channelOut(t, h, id, "plugintest: after the reload")
		peerExpect(t, s, bot.Peer, "plugintest: after the reload")
	})
	t.Run("BotChannel/HostLost", func(t *testing.T) {
		h := plugintest.Start(t, s)
		bot, id := startBot(t, s, h)
		// Registered and joined before the host goes: what the peer says
		// next reaches the bot.
		peerSend(t, bot.Peer, "plugintest: before the host went")
		awaitPeerLine(t, h, id, "plugintest: before the host went")
		h.DropLink()
		// Input is held once the plugin knows the host is gone; a line
		// that reaches the plugin before that goes out on the dying link
		// and is lost with it. The kit waits for sdk.MsgHostLost at the
		// client to know; the bot drops that text, so the plugin's log
		// (Serve writes it to <data_dir>/logs/irc.log) says it instead.
		// In process the log is the kit's own, out of reach, and the
		// held-input step is left to the binary.
		held := s.Binary != ""
		if held {
			awaitLog(t, s, filepath.Join(h.DataDir(), "logs", "irc.log"), `msg="link: host detached"`)
			peerSend(t, bot.Peer, "plugintest: while the host was away")
		}
		sessions := h.Reattach()
		if !slices.ContainsFunc(sessions, func(d contract.SessionData) bool { return d.Sessid == id }) {
			t.Fatalf("Sessions after a lost host came back does not list session %d: %+v", id, sessions)
		}
		if held {
			awaitPeerLine(t, h, id, "plugintest: while the host was away")
		}
		peerSend(t, bot.Peer, "plugintest: after the host came back")
		awaitPeerLine(t, h, id, "plugintest: after the host came back")
		channelOut(t, h, id, "plugintest: the host is back")
		peerExpect(t, s, bot.Peer, "plugintest: the host is back")
	})
}

// awaitLog waits until the plugin's log file contains substr.
func awaitLog(t *testing.T, s plugintest.Suite, path, substr string) {
	t.Helper()
	timeout := s.Timeout
	if timeout == 0 {
		timeout = plugintest.DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), substr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's log %s did not say %s within %v", path, substr, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startBot starts a bot with a fresh peer and waits for its Connect.
func startBot(t *testing.T, s plugintest.Suite, h *plugintest.Host) (plugintest.Bot, uint64) {
	t.Helper()
	bot := s.Bot(t)
	id, err := h.StartBot(bot.Config)
	if err != nil {
		t.Fatalf("StartBot: %v", err)
	}
	h.AwaitConnectOf(id)
	return bot, id
}

// channelOut sends session id a game channel message, as the host does
// for a message on the channel the bot bridges.
func channelOut(t *testing.T, h *plugintest.Host, id uint64, text string) {
	t.Helper()
	msgs, err := wire.MessagesToPB([]contract.Message{{Name: outChannel, Args: []any{text}}})
	if err != nil {
		t.Fatal(err)
	}
	h.Send(&portalpb.Event{Kind: &portalpb.Event_DataOut{DataOut: &portalpb.DataOut{Sessids: []uint64{id}, Messages: msgs}}})
}

func peerExpect(t *testing.T, s plugintest.Suite, peer plugintest.Client, substr string) {
	t.Helper()
	timeout := s.Timeout
	if timeout == 0 {
		timeout = plugintest.DefaultTimeout
	}
	if err := peer.Expect(substr, timeout); err != nil {
		t.Fatal(err)
	}
}

func peerSend(t *testing.T, peer plugintest.Client, line string) {
	t.Helper()
	if err := peer.Send(line); err != nil {
		t.Fatal(err)
	}
}

// awaitPeerLine waits until line, said by the peer, arrives in session
// id's input (the bot's bot_data_in carries it, as markup, with the
// speaker in its kwargs).
func awaitPeerLine(t *testing.T, h *plugintest.Host, id uint64, line string) {
	t.Helper()
	h.Await(fmt.Sprintf("%q in the input of session %d", line, id), func(ev *portalpb.Event) bool {
		if ev.GetDataIn().GetSessid() != id {
			return false
		}
		for _, m := range ev.GetDataIn().GetMessages() {
			for _, a := range m.GetStrArgs() {
				if strings.Contains(a, line) {
					return true
				}
			}
		}
		return false
	})
}

// conformanceChannel is the IRC channel the kit's bots join.
const conformanceChannel = "#test"

// conformanceBot is the suite's Bot: a fresh fake IRC server, a bot config
// dict pointing at it (with the keys the host adds), and a peer in its
// channel.
func conformanceBot(tb testing.TB) plugintest.Bot {
	t, ok := tb.(*testing.T)
	if !ok {
		tb.Fatalf("conformance bot: the fake IRC server needs a *testing.T, got %T", tb)
	}
	srv := newFakeServer(t)
	peer := &ircPeer{srv: srv}
	t.Cleanup(func() { peer.Close() })
	return plugintest.Bot{
		Config: map[string]any{
			"network": "127.0.0.1", "port": float64(srv.port()), "channel": conformanceChannel, "nick": "portibot",
			"bot": "PortiBot", "uid": float64(7), "game_channel": "public", "server_name": "TestGame",
		},
		Peer: peer,
	}
}

// ircPeer is a user in the bot's IRC channel, on the fake server's side of
// the bot's connection, as a plugintest.Client: Send says a line in the
// channel, Expect searches every line the bot sends the server (raw, as
// "PRIVMSG #test :text"), ExpectClosed waits for the bot to hang up. The
// bot's connection is accepted, and its registration completed, when the
// kit first uses the peer (after StartBot).
type ircPeer struct {
	srv *fakeServer

	once sync.Once
	c    *fakeClient

	mu sync.Mutex
	// buf is every line the bot sent, each followed by a newline.
	buf string
	// seen is how much of buf Expect has consumed.
	seen int
}

// get accepts the bot's connection and completes its registration (NICK,
// USER, welcome, JOIN) the first time it is called.
func (p *ircPeer) get() *fakeClient {
	p.once.Do(func() {
		c := p.srv.accept()
		c.welcome(conformanceChannel)
		p.mu.Lock()
		p.c = c
		p.mu.Unlock()
	})
	return p.c
}

// Send implements plugintest.Client.
func (p *ircPeer) Send(line string) error {
	c := p.get()
	if _, err := fmt.Fprintf(c.nc, ":alice!~alice@example.org PRIVMSG %s :%s\r\n", conformanceChannel, line); err != nil {
		return fmt.Errorf("irc peer: send %q: %w", line, err)
	}
	return nil
}

// match consumes the lines received up to the end of substr, if it is
// there.
func (p *ircPeer) match(substr string) (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rest := p.buf[p.seen:]
	if i := strings.Index(rest, substr); i >= 0 {
		p.seen += i + len(substr)
		return true, ""
	}
	return false, rest
}

// drain takes every line c's reader has queued.
func (p *ircPeer) drain(c *fakeClient) {
	for {
		select {
		case l := <-c.lines:
			p.mu.Lock()
			p.buf += l.raw + "\n"
			p.mu.Unlock()
		default:
			return
		}
	}
}

// Expect implements plugintest.Client.
func (p *ircPeer) Expect(substr string, timeout time.Duration) error {
	c := p.get()
	deadline := time.After(timeout)
	for {
		if ok, _ := p.match(substr); ok {
			return nil
		}
		select {
		case l := <-c.lines:
			p.mu.Lock()
			p.buf += l.raw + "\n"
			p.mu.Unlock()
		case <-c.eof:
			// The reader may have queued lines before it stopped.
			p.drain(c)
			ok, rest := p.match(substr)
			if !ok {
				return fmt.Errorf("irc peer: the bot closed the connection before %q arrived; unread lines %q", substr, rest)
			}
			return nil
		case <-deadline:
			_, rest := p.match(substr)
			return fmt.Errorf("irc peer: %q did not arrive within %v; unread lines %q", substr, timeout, rest)
		}
	}
}

// ExpectClosed implements plugintest.Client.
func (p *ircPeer) ExpectClosed(timeout time.Duration) error {
	c := p.get()
	select {
	case <-c.eof:
		return nil
	case <-time.After(timeout):
		return errors.New("irc peer: the bot did not close the connection")
	}
}

// Close implements plugintest.Client: the server drops the bot's
// connection, if it has accepted one.
func (p *ircPeer) Close() error {
	p.mu.Lock()
	c := p.c
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}
