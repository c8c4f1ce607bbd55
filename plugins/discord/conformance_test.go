package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-mud/portico/plugins/discord/discordfake"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// conformanceSuite describes the Discord plugin to the SDK's conformance
// kit, against fake: the plugin has no clients of its own, only bots (Dial
// is nil: the kit skips the client checks); each bot bridges the fake's
// channel, where a user is its peer. It relays the host's `channel`
// output.
func conformanceSuite(t *testing.T, fake *discordfake.Server) plugintest.Suite {
	tokenFile := writeToken(t, testToken+"\n")
	return plugintest.Suite{
		ProtocolKey: ProtocolKey,
		Config: func(string) map[string]any {
			return map[string]any{"api_url": fake.APIURL(), "token_file": tokenFile}
		},
		BadConfig: map[string]any{"token": "a literal token"},
		Bot: func(testing.TB) plugintest.Bot {
			return plugintest.Bot{
				Config: map[string]any{"channel_id": json.Number(bridged), "bot": "DiscBot", "uid": json.Number("7"),
					"game_channel": "public", "server_name": "TestGame"},
				Peer:   &discordPeer{fake: fake, from: len(fake.Posts()), identified: len(fake.Identifies())},
				Output: outChannel,
			}
		},
	}
}

// startFake starts a fake Discord for a conformance run.
func startFake(t *testing.T) *discordfake.Server {
	fake, err := discordfake.Start(discordfake.Options{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return fake
}

// TestConformance runs the kit against the plugin in this process, where
// the race detector sees it.
func TestConformance(t *testing.T) {
	fake := startFake(t)
	s := conformanceSuite(t, fake)
	s.New = func() sdk.Plugin { return &Plugin{} }
	plugintest.Run(t, s)
}

// TestConformanceBinary runs the kit against portico-discord launched
// through go-plugin, as the host launches it.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	fake := startFake(t)
	s := conformanceSuite(t, fake)
	s.Binary = plugintest.Build(t, ".", "discord")
	plugintest.Run(t, s)
}

// discordPeer is a user of the fake Discord's bridged channel, as a
// plugintest.Client: Send says a line there (once the bot is on the
// gateway: Discord delivers nothing to a bot before), Expect waits for a
// message the bot sends holding the text, ExpectClosed waits until no bot
// is connected to the gateway.
type discordPeer struct {
	fake *discordfake.Server
	// identified is how many IDENTIFYs the fake had before this peer's
	// bot started.
	identified int

	mu sync.Mutex
	// from is how many of the fake's posts Expect has consumed.
	from int
}

// Send implements plugintest.Client.
func (p *discordPeer) Send(line string) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.fake.Wait(ctx, func() bool { return len(p.fake.Identifies()) > p.identified && p.fake.Connected() > 0 }); err != nil {
		return fmt.Errorf("discord peer: the bot never connected to the gateway: %w", err)
	}
	p.fake.Say(bridged, alice, "", line)
	return nil
}

// Expect implements plugintest.Client.
func (p *discordPeer) Expect(substr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.fake.Wait(ctx, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		posts := p.fake.Posts()
		for i := p.from; i < len(posts); i++ {
			if strings.Contains(posts[i].Content, substr) {
				p.from = i + 1
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("discord peer: no message with %q within %v", substr, timeout)
	}
	return nil
}

// ExpectClosed implements plugintest.Client.
func (p *discordPeer) ExpectClosed(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if p.fake.Wait(ctx, func() bool { return p.fake.Connected() == 0 }) != nil {
		return fmt.Errorf("discord peer: the bot is still connected after %v", timeout)
	}
	return nil
}

// Close implements plugintest.Client: nothing to close.
func (p *discordPeer) Close() error { return nil }
