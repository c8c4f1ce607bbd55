package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/plugins/discord/discordfake"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/contract"
)

// wantIntents are GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and
// MESSAGE_CONTENT.
const wantIntents = 1<<0 | 1<<9 | 1<<12 | 1<<15

// TestIdentify: the bot connects with gateway v10 and JSON, identifies
// with its token and the four intents, and reports connected, logged in
// as its account.
func TestIdentify(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(nil)
	flags := h.waitState(contract.BotConnected)
	ids := h.fake.Identifies()
	if len(ids) != 1 || !ids[0].TokenOK {
		t.Fatalf("identifies: %+v", ids)
	}
	if ids[0].Intents != wantIntents {
		t.Errorf("intents %b, want %b", ids[0].Intents, wantIntents)
	}
	if v, enc := ids[0].Query.Get("v"), ids[0].Query.Get("encoding"); v != "10" || enc != "json" {
		t.Errorf("gateway query v=%q encoding=%q, want 10 and json", v, enc)
	}
	if flags[contract.FlagBotNetwork] != "discord "+bridged {
		t.Errorf("flags %v", flags)
	}
	d := sess.GetSyncData()
	if !d.LoggedIn || d.UID != 7 || d.UName != "DiscBot" || d.ProtocolKey != "discord" || d.Address != "discord/"+bridged {
		t.Errorf("session data %+v", d)
	}
}

// TestRelayToGame: a message on the bridged channel reaches the host as
// bot_data_in with type channel, the ids, the channel's and guild's
// names, and the sender (nick, else display name, else user name); game
// markup in it is escaped. The bot's own messages, and messages on a
// channel it does not bridge, are not relayed.
func TestRelayToGame(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(nil)
	h.waitState(contract.BotConnected)

	h.fake.Say(bridged, alice, "Ally", "hello |rworld")
	m := h.waitDataIn()
	want := sdk.Message{Name: "bot_data_in", Args: []any{"hello ||rworld"}, Kwargs: map[string]any{
		"type": "channel", "channel_id": bridged, "guild_id": guildID, "channel": "general", "guild": "Portico Test",
		"sender": map[string]any{"id": alice.ID, "name": "Ally"}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("relayed\n%#v\nwant\n%#v", m, want)
	}

	// Not relayed: another channel, and the bot's own message (the fake
	// echoes what the bot sends, as Discord does).
	h.fake.Say(unbridged, alice, "", "elsewhere")
	send(sess, channelMsg("[public] Carol: from the game"))
	h.waitPosts(1)
	h.fake.Say(bridged, alice, "", "no nick")
	h.fake.Say(bridged, bob, "", "plain user\nsecond line")
	for _, want := range []struct{ text, name string }{{"no nick", "Alice A"}, {"plain user", "bob"}, {"second line", "bob"}} {
		m := h.waitDataIn()
		sender, _ := m.Kwargs["sender"].(map[string]any)
		if m.Args[0] != want.text || sender["name"] != want.name {
			t.Fatalf("relayed %v, want %q from %q", m, want.text, want.name)
		}
	}
}

// TestRelayToDiscord: a game channel line reaches every bridged Discord
// channel with markup stripped, markdown escaped, and allowed_mentions
// empty, so that @everyone and <@id> ping nobody; a long line is split at
// Discord's 2,000 characters.
func TestRelayToDiscord(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(map[string]any{"channel_id": bridged + "," + unbridged})
	h.waitState(contract.BotConnected)

	send(sess, channelMsg("[public] |rAlice|n: hi *there* @everyone <@200000000000000002> \x1b[31m`x`"))
	posts := h.waitPosts(2)
	want := `\[public\] Alice: hi \*there\* @everyone \<@200000000000000002> ` + "\\`x\\`"
	for i, ch := range []string{bridged, unbridged} {
		p := posts[i]
		if p.ChannelID != ch || p.Content != want {
			t.Errorf("post %d: %q to %s, want %q to %s", i, p.Content, p.ChannelID, want, ch)
		}
		var am struct {
			Parse *[]string `json:"parse"`
			Users []string  `json:"users"`
			Roles []string  `json:"roles"`
		}
		if err := json.Unmarshal(p.AllowedMentions, &am); err != nil || am.Parse == nil || len(*am.Parse) != 0 || len(am.Users) != 0 || len(am.Roles) != 0 {
			t.Errorf("post %d: allowed_mentions %s, want an empty parse list", i, p.AllowedMentions)
		}
	}

	long := strings.Repeat("word ", 900) // 4,500 characters
	send(sess, channelMsg(long))
	posts = h.waitPosts(2 + 2*3)
	var parts []string
	for _, p := range posts[2:] {
		if p.ChannelID != bridged {
			continue
		}
		if n := len([]rune(p.Content)); n > 2000 {
			t.Errorf("a message of %d characters", n)
		}
		parts = append(parts, p.Content)
	}
	if len(parts) != 3 || strings.Join(parts, " ") != strings.TrimSpace(long) {
		t.Errorf("a 4,500-character line became %d messages: %q", len(parts), parts)
	}
}

// TestDirectMessages: a direct message reaches the host as type direct
// with its channel; the host's answer (privmsg with that channel_id) goes
// back to it.
func TestDirectMessages(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(nil)
	h.waitState(contract.BotConnected)
	h.fake.DirectMessage(bob, "who")
	m := h.waitDataIn()
	dm := discordfake.DMChannel(bob)
	if m.Args[0] != "who" || m.Kwargs["type"] != "direct" || m.Kwargs["channel_id"] != dm || m.Kwargs["guild_id"] != "" {
		t.Fatalf("relayed %v", m)
	}
	send(sess, sdk.Message{Name: "privmsg", Args: []any{"Connected: Alice"}, Kwargs: map[string]any{"user": "bob", "channel_id": dm}})
	if p := h.waitPosts(1)[0]; p.ChannelID != dm || p.Content != "Connected: Alice" {
		t.Fatalf("answer %+v", p)
	}
}

// TestResumeAfterDrop: the gateway connection drops; the bot resumes its
// session (no new IDENTIFY), and what was said on Discord meanwhile
// reaches the game exactly once, as does what the game said.
func TestResumeAfterDrop(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(nil)
	h.waitState(contract.BotConnected)
	h.fake.Say(bridged, alice, "", "before")
	if m := h.waitDataIn(); m.Args[0] != "before" {
		t.Fatalf("relayed %v", m)
	}

	h.fake.DropConnections()
	h.fake.Say(bridged, alice, "", "during 1")
	h.fake.Say(bridged, alice, "", "during 2")
	send(sess, channelMsg("game during"))
	h.waitState(contract.BotResuming)
	h.waitState(contract.BotConnected)
	h.waitFake("RESUME", func() bool { return h.fake.Resumes() == 1 })
	h.fake.Say(bridged, alice, "", "after")
	for _, want := range []string{"during 1", "during 2", "after"} {
		if m := h.waitDataIn(); m.Args[0] != want {
			t.Fatalf("relayed %q, want %q", m.Args[0], want)
		}
	}
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if more := h.rec.PendingInput(); len(more) != 0 {
		t.Errorf("relayed again: %v", more)
	}
	if n := len(h.fake.Identifies()); n != 1 {
		t.Errorf("%d IDENTIFYs: a dropped connection must be resumed", n)
	}
	posts := h.waitPosts(1)
	send(sess, channelMsg("game after"))
	posts = h.waitPosts(2)
	if len(posts) != 2 || posts[0].Content != "game during" || posts[1].Content != "game after" {
		t.Errorf("posts %+v", posts)
	}
}

// TestInvalidSession: INVALID_SESSION makes the bot IDENTIFY again, and
// it relays on.
func TestInvalidSession(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	h.start(nil)
	h.waitState(contract.BotConnected)
	h.fake.InvalidateSessions()
	h.waitFake("second IDENTIFY", func() bool { return len(h.fake.Identifies()) == 2 })
	h.waitFake("a session again", func() bool { return h.fake.Connected() == 1 })
	h.fake.Say(bridged, alice, "", "after re-identify")
	if m := h.waitDataIn(); m.Args[0] != "after re-identify" {
		t.Fatalf("relayed %v", m)
	}
}

// TestRateLimited: a 429 delays the message by its retry_after; it is
// sent once, not dropped, and the messages after it keep their order.
func TestRateLimited(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	sess, _ := h.start(nil)
	h.waitState(contract.BotConnected)
	h.fake.RateLimit(1, 300*time.Millisecond)
	send(sess, channelMsg("first"), channelMsg("second"))
	posts := h.waitPosts(2)
	limited := h.fake.RateLimited()
	if len(limited) != 1 {
		t.Fatalf("%d 429s", len(limited))
	}
	if posts[0].Content != "first" || posts[1].Content != "second" {
		t.Fatalf("posts %+v", posts)
	}
	if wait := posts[0].At.Sub(limited[0]); wait < 300*time.Millisecond {
		t.Errorf("sent again %v after the 429, before its retry_after of 300ms", wait)
	}
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if n := len(h.fake.Posts()); n != 2 {
		t.Errorf("%d posts, want 2", n)
	}
}

// TestBadToken: a refused token (close 4004) fails the bot with
// "failed: authentication failed", and it does not try again.
func TestBadToken(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	bad := writeToken(t, "not-the-token\n")
	h.start(map[string]any{"token_file": bad})
	flags := h.waitState(contract.BotFailedPrefix)
	if flags[contract.FlagBotState] != "failed: authentication failed" || !strings.Contains(fmt.Sprint(flags[contract.FlagBotError]), "4004") {
		t.Fatalf("flags %v", flags)
	}
	time.Sleep(5 * testTiming().backoff.Max)
	if ids := h.fake.Identifies(); len(ids) != 1 || ids[0].TokenOK {
		t.Fatalf("identifies after the refusal: %+v", ids)
	}
}

// TestDisallowedIntents: a bot whose Message Content intent is not
// switched on (close 4014) fails, saying so.
func TestDisallowedIntents(t *testing.T) {
	h := newHarness(t, discordfake.Options{DisallowMessageContent: true}, nil)
	h.start(nil)
	flags := h.waitState(contract.BotFailedPrefix)
	if s := fmt.Sprint(flags[contract.FlagBotState]); !strings.Contains(s, "disallowed intents") || !strings.Contains(s, "Message Content") {
		t.Fatalf("state %q", s)
	}
}

// TestHeartbeatSilence: a gateway that stops acknowledging heartbeats is
// left, and the session resumed.
func TestHeartbeatSilence(t *testing.T) {
	h := newHarness(t, discordfake.Options{HeartbeatInterval: 100 * time.Millisecond}, nil)
	h.start(nil)
	h.waitState(contract.BotConnected)
	h.waitFake("heartbeats", func() bool { return h.fake.Heartbeats() >= 2 })
	h.fake.StopACKs(true)
	h.waitState(contract.BotReconnecting)
	h.fake.StopACKs(false)
	h.waitState(contract.BotConnected)
	h.waitFake("RESUME", func() bool { return h.fake.Resumes() == 1 })
	h.fake.Say(bridged, alice, "", "still here")
	if m := h.waitDataIn(); m.Args[0] != "still here" {
		t.Fatalf("relayed %v", m)
	}
}

// TestReconnectBackoff: while the gateway cannot be reached the bot says
// "reconnecting" with the time of its next try, and the waits grow by
// half each time up to the maximum (1 s, 1.5 s, 2.25 s ... 60 s by
// default).
func TestReconnectBackoff(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, func(tm *timing) {
		tm.backoff.Min, tm.backoff.Max = 100*time.Millisecond, 300*time.Millisecond
	})
	h.fake.Close() // nothing answers at the api_url any more
	h.start(nil)
	var retries []time.Time
	for range 4 {
		flags := h.waitState(contract.BotReconnecting)
		if e := fmt.Sprint(flags[contract.FlagBotError]); !strings.Contains(e, "connection refused") {
			t.Errorf("last error %q", e)
		}
		if at, err := strconv.ParseInt(fmt.Sprint(flags[contract.FlagBotRetryAt]), 10, 64); err != nil || at < time.Now().Unix()-1 {
			t.Errorf("BOT_RETRY_AT %v is not a time to come", flags[contract.FlagBotRetryAt])
		}
		retries = append(retries, time.Now())
	}
	var d []time.Duration
	for i := 1; i < len(retries); i++ {
		d = append(d, retries[i].Sub(retries[i-1]))
	}
	// 100 ms, then 150 ms, then 225 ms, each with the time a refused
	// connection takes (the wait after the fourth would be the cap, 300).
	if d[0] < 90*time.Millisecond || d[1] < 140*time.Millisecond || d[2] < 215*time.Millisecond || d[2] > 2*time.Second {
		t.Errorf("waits between tries %v, want about 100ms, 150ms, 225ms", d)
	}

	want := []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond}
	tm := defaultTiming()
	for i, dl := 0, tm.backoff.Min; i < len(want); i++ {
		if dl != want[i] {
			t.Errorf("default wait %d is %v, want %v", i, dl, want[i])
		}
		dl = min(time.Duration(float64(dl)*tm.backoff.Factor), tm.backoff.Max)
	}
	if tm.backoff.Max != time.Minute {
		t.Errorf("default maximum wait %v", tm.backoff.Max)
	}
}

// TestStartAgainReplaces: starting a bot of the same name stops the
// running one first: one bot, one session, one gateway connection.
func TestStartAgainReplaces(t *testing.T) {
	h := newHarness(t, discordfake.Options{}, nil)
	_, first := h.start(nil)
	h.waitState(contract.BotConnected)
	_, second := h.start(nil)
	waitDone(t, first)
	if first == second {
		t.Fatal("the same bot")
	}
	h.waitFake("one connection", func() bool { return len(h.fake.Identifies()) == 2 && h.fake.Connected() == 1 })
}
