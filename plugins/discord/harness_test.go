package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/plugins/discord/discordfake"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/plugintest"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 15 * time.Second

// testToken is the fake Discord's bot token. No log line may hold it.
const testToken = "MTAwMDAwMDAwMDAwMDAwMDAx.test-token.secret-part-do-not-log"

// The fake's channels: the one the bots bridge, and one they do not.
const (
	bridged   = "1234567890123456789"
	unbridged = "999000000000000001"
	guildID   = "800000000000000001"
)

// testTiming is defaultTiming made fast: backoff in tens of milliseconds.
func testTiming() timing {
	t := defaultTiming()
	t.backoff.Min = 20 * time.Millisecond
	t.backoff.Max = 200 * time.Millisecond
	t.openTimeout = 5 * time.Second
	return t
}

// harness runs the plugin against a test portal and a fake Discord, and
// collects every event the plugin sends the host.
type harness struct {
	t      *testing.T
	p      *Plugin
	portal *sdk.Portal
	fake   *discordfake.Server
	// tokenFile holds the fake's token (with a trailing newline), and is
	// the plugin block's token_file.
	tokenFile string
	logs      *plugintest.LockedBuffer
	// rec has what the plugin sent the host.
	rec *plugintest.Recorder
}

// newHarness starts a fake Discord with o (its token testToken unless
// set) and a configured plugin pointed at it.
func newHarness(t *testing.T, o discordfake.Options, tune func(*timing)) *harness {
	t.Helper()
	if o.Token == "" {
		o.Token = testToken
	}
	if o.Channels == nil {
		o.Channels = map[string]string{bridged: "general", unbridged: "offtopic"}
	}
	fake, err := discordfake.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	logs := &plugintest.LockedBuffer{}
	// Registered before the plugin starts, so that it runs after its
	// shutdown and sees every line the plugin logged.
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the plugin's log holds the token:\n%s", logs.String())
		}
	})
	tim := testTiming()
	if tune != nil {
		tune(&tim)
	}
	tokenFile := writeToken(t, testToken+"\n")
	h := &harness{t: t, p: &Plugin{timing: tim}, fake: fake, tokenFile: tokenFile, logs: logs}
	ip := plugintest.StartInProcess(t, h.p, sdk.Config{
		Raw:  map[string]any{"api_url": fake.APIURL(), "token_file": tokenFile},
		Host: sdk.HostInfo{ServerName: "TestGame"}}, logs, waitLimit)
	if ip.Info.ProtocolKey != ProtocolKey {
		t.Fatalf("protocol key %q", ip.Info.ProtocolKey)
	}
	h.portal, h.rec = ip.Portal, ip.Rec
	return h
}

// writeToken writes a token file and returns its path.
func writeToken(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// botConfig is a valid config dict for the fake, as the host hands it
// over (numbers as json.Number); extra keys override it, nil removes.
func botConfig(extra map[string]any) map[string]any {
	cfg := map[string]any{
		"channel_id": json.Number(bridged),
		"bot":        "DiscBot", "uid": json.Number("7"), "game_channel": "public", "server_name": "TestGame",
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

// start starts a bot on the fake.
func (h *harness) start(extra map[string]any) (*sdk.Session, *bot) {
	h.t.Helper()
	sess, err := h.p.StartBot(context.Background(), sdk.Config{Raw: botConfig(extra), Host: sdk.HostInfo{ServerName: "TestGame"}})
	if err != nil {
		h.t.Fatal(err)
	}
	b := h.p.bot("DiscBot")
	if b == nil || b.sess != sess {
		h.t.Fatal("the bot is not registered under its name")
	}
	return sess, b
}

// waitState waits until the host is told the bot is in a state starting
// with state, and returns the flags.
func (h *harness) waitState(state string) map[string]any {
	h.t.Helper()
	return h.rec.AwaitFlag(contract.FlagBotState, state)
}

// waitDataIn waits for the next message the bot passes to the host (in
// order, whatever states were waited for meanwhile).
func (h *harness) waitDataIn() sdk.Message {
	h.t.Helper()
	return h.rec.AwaitInput()
}

// waitFake waits until cond, on the fake's records, holds.
func (h *harness) waitFake(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.fake.Wait(ctx, cond); err != nil {
		h.t.Fatalf("fake Discord: no %s", what)
	}
}

// waitPosts waits until the bot has sent n messages, and returns them.
func (h *harness) waitPosts(n int) []discordfake.Post {
	h.t.Helper()
	h.waitFake(fmt.Sprintf("%d messages sent", n), func() bool { return len(h.fake.Posts()) >= n })
	return h.fake.Posts()
}

// send delivers host output to the bot, as the SDK does.
func send(sess *sdk.Session, msgs ...sdk.Message) { sess.Conn().Send(sess, msgs) }

func channelMsg(line string) sdk.Message {
	return sdk.Message{Name: "channel", Args: []any{line},
		Kwargs: map[string]any{"channel": "public", "sender": "Alice", "message": line}}
}

func waitDone(t *testing.T, b *bot) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(waitLimit):
		t.Fatal("bot did not stop")
	}
}

// Users who talk on the fake Discord.
var (
	alice = discordfake.User{ID: "200000000000000001", Username: "alice", GlobalName: "Alice A"}
	bob   = discordfake.User{ID: "200000000000000002", Username: "bob"}
)
