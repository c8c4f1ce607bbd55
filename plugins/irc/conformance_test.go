package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
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
		// The bot relays the host's `channel` outputfunc, not `text`
		// (README.md, "Game → IRC"): the kit sends that.
		Bot: conformanceBot,
	}
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it, and against portico-irc launched through
// go-plugin, as the host launches it.
func TestConformance(t *testing.T) {
	s := conformanceSuite()
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.RunBoth(t, s, ".", "irc")
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
		Peer:   peer,
		Output: outChannel,
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
