package commands_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-mud/portico/core/channels"
	"github.com/portico-mud/portico/sdk/contract"
)

// withChannels gives e's command handler the channels service.
func withChannels(t *testing.T, e *env) *channels.Service {
	t.Helper()
	svc := channels.New(e.st, e.h)
	if err := svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.ch.SetChannels(svc)
	e.h.SetTrustLogin(svc.TrustLogin)
	e.h.SetLoginHook(svc.AccountLoggedIn)
	return svc
}

func TestChannels(t *testing.T) {
	e := newEnv(t, 1)
	alice := e.account("Alice", "secret1")
	e.account("Bob", "secret2")
	if err := e.st.SetAdmin(context.Background(), alice.ID, true); err != nil {
		t.Fatal(err)
	}
	withChannels(t, e)
	e.loginAs(1, "Alice", "secret1")
	e.loginAs(2, "Bob", "secret2")

	// Everyone is on public; its name is a command.
	e.send(1, "public Hello there")
	e.waitText(2, "[public] Alice: Hello there")
	e.waitText(1, "[public] Alice: Hello there")
	e.send(2, "public :waves")
	e.waitText(1, "[public] Bob waves")

	e.send(1, "channel create builders = Building talk")
	e.waitText(1, "Channel builders created. You are on it.")
	e.send(2, "channel create sneaky")
	e.waitText(2, "Only admins can create channels.")
	e.send(2, "builders hi")
	e.waitText(2, `Command 'builders' is not available. Type "help" for help.`)
	e.send(2, "join builders")
	e.waitText(2, "You join builders. Talk on it with: builders <message>")
	e.send(1, "builders welcome")
	e.waitText(2, "[builders] Alice: welcome")
	e.send(2, "channel who builders")
	e.waitText(2, "On builders now: Alice, Bob")
	e.send(2, "channel")
	if got := e.last(2); !strings.Contains(got, "builders") || !strings.Contains(got, "Building talk") {
		t.Fatalf("channel list = %q", got)
	}
	e.send(2, "leave builders")
	e.waitText(2, "You leave builders.")
	e.send(1, "builders anyone?")
	e.waitText(1, "[builders] Alice: anyone?")
	for _, txt := range e.texts(2) {
		if strings.Contains(txt, "anyone?") {
			t.Fatal("Bob still gets builders after leaving")
		}
	}
	e.send(1, "channel delete public")
	e.waitText(1, "public is the default channel and cannot be deleted.")
	e.send(1, "channel delete builders")
	e.waitText(1, "Channel builders deleted.")
}

// startTestBot has admin session admin create the IRC bridge bot gamebot
// on public with @irc2chan; the fake irc plugin answers with session
// sessid, which connects logged in as the bot's account.
func startTestBot(t *testing.T, e *env, svc *channels.Service, admin, sessid uint64) {
	t.Helper()
	e.p.mu.Lock()
	e.p.botSessid, e.p.botStarted = sessid, make(chan string, 1)
	e.p.mu.Unlock()
	e.send(admin, "@irc2chan public = irc.example.net 6667 #game gamebot")
	e.waitText(admin, "Bot gamebot created: it bridges public over irc and is starting.")
	// The host asked the irc plugin to start the bot, which answered with
	// session sessid.
	select {
	case plugin := <-e.p.botStarted:
		if plugin != "irc" {
			t.Fatalf("the bot was started on %q, want irc", plugin)
		}
	case <-time.After(waitLimit):
		t.Fatal("StartBot was never called")
	}
	var botUID int64
	e.call(func() {
		b, ok := svc.BotByName("gamebot")
		if !ok {
			t.Fatal("bot not stored")
		}
		botUID = b.AccountID
	})

	// The plugin connects the bot's session, logged in as its account.
	// (StartBot's answer may or may not have been taken in yet.)
	var d contract.SessionData
	d.InitSession("ircbot", "#game@irc.example.net", time.Now())
	d.Sessid = sessid
	d.LoggedIn, d.UID = true, botUID
	d.ServerData["bot"] = true
	e.call(func() { e.h.PortalConnect("irc", d) })
	e.waitLogin(sessid)
}

// TestWhoListsBotsApart: a bridge bot is logged in as an account of its
// own, but who lists it apart from the players, with the channel it
// bridges, and does not count it among the accounts (before login too).
func TestWhoListsBotsApart(t *testing.T) {
	e := newEnv(t, 1)
	root := e.account("Root", "secret1")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	svc := withChannels(t, e)
	e.loginAs(1, "Root", "secret1")
	startTestBot(t, e, svc, 1, 9)

	got := e.answer(1, "who")
	lines := strings.Split(got, "\n")
	if len(lines) != 5 || lines[0] != "Accounts:" || !strings.HasPrefix(lines[2], " Root ") ||
		lines[3] != "1 unique account logged in." || lines[4] != "Bridge bots: gamebot (public)." {
		t.Fatalf("who = %q, want Root as the one account and gamebot apart", got)
	}
	e.call(func() {
		st := e.h.Settings()
		st.WhoBeforeLogin = true
		e.h.SetSettings(st)
	})
	e.connect(3)
	if got := e.answer(3, "who"); !strings.HasSuffix(got, "\n1 unique account logged in.\nBridge bots: gamebot (public).") {
		t.Fatalf("who before login = %q", got)
	}
}

// TestBotRelay: a bot's session relays its network's messages to its
// channel as "user@#chan" and gets the channel's messages as the `channel`
// outputfunc, never its own back; privmsg who/about are answered.
func TestBotRelay(t *testing.T) {
	e := newEnv(t, 1)
	root := e.account("Root", "secret1")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	e.account("Bob", "secret2")
	svc := withChannels(t, e)
	e.loginAs(1, "Root", "secret1")
	e.loginAs(2, "Bob", "secret2")
	startTestBot(t, e, svc, 1, 9)

	e.call(func() {
		e.h.DataIn("irc", 9, []contract.Message{{Name: "bot_data_in", Args: []any{"hi all"},
			Kwargs: map[string]any{"type": "msg", "user": "carol", "channel": "#game"}}})
	})
	e.waitText(2, "[public] carol@#game: hi all")
	for _, m := range e.messagesIn(e.p.Events(), 9) {
		if m.Name == "channel" {
			t.Fatalf("the bot got its own line back: %v", m)
		}
	}
	e.send(2, "public hello irc")
	msgs := e.waitFor("channel message to the bot", func(evs []sentEvent) bool {
		for _, m := range e.messagesIn(evs, 9) {
			if m.Name == "channel" {
				return true
			}
		}
		return false
	})
	var got contract.Message
	for _, m := range e.messagesIn(msgs, 9) {
		if m.Name == "channel" {
			got = m
		}
	}
	if s, _ := got.FirstString(); s != "[public] Bob: hello irc" || got.Kwargs["sender"] != "Bob" || got.Kwargs["channel"] != "public" {
		t.Fatalf("channel outputfunc = %+v", got)
	}
	e.call(func() {
		e.h.DataIn("irc", 9, []contract.Message{{Name: "bot_data_in", Args: []any{"who"},
			Kwargs: map[string]any{"type": "privmsg", "user": "carol"}}})
	})
	e.waitFor("who answer", func(evs []sentEvent) bool {
		for _, m := range e.messagesIn(evs, 9) {
			if s, _ := m.FirstString(); m.Name == "privmsg" && m.Kwargs["user"] == "carol" && strings.Contains(s, "Bob") && !strings.Contains(s, "gamebot") {
				return true
			}
		}
		return false
	})
	e.send(1, "@bots")
	if got := e.last(1); !strings.Contains(got, "gamebot") || !strings.Contains(got, "irc.example.net #game") {
		t.Fatalf("@bots = %q", got)
	}
	e.send(1, "@irc2chan/delete gamebot")
	e.waitText(1, "Bot gamebot removed.")
	if len(e.disconnectsOf(9)) != 1 {
		t.Fatal("the removed bot's session was not ended")
	}
}

// TestBotCheckedByPlugin: @discord2chan and @irc2chan hand the bot's dict
// to the plugin's check before anything is stored; a refusal is shown to
// the admin in the plugin's words and stores nothing; a dict that passes
// is stored and started.
func TestBotCheckedByPlugin(t *testing.T) {
	e := newEnv(t, 1)
	root := e.account("Root", "secret1")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	svc := withChannels(t, e)
	checked := make(chan map[string]any, 4)
	e.ch.SetBotChecker(func(_ context.Context, protocol string, cfg map[string]any) error {
		checked <- cfg
		if cfg["channel_id"] == "general" {
			return errors.New(`discord: config key "channel_id": "general" is not a Discord id`)
		}
		if protocol == "irc" {
			return errors.New(`irc: config key "nick": "9bot" is not an IRC nick`)
		}
		return nil
	})
	e.loginAs(1, "Root", "secret1")

	e.send(1, "@discord2chan public = general")
	e.waitText(1, `discord: config key "channel_id": "general" is not a Discord id`)
	e.send(1, "@irc2chan public = irc.example.net 6667 #game 9bot")
	e.waitText(1, `irc: config key "nick": "9bot" is not an IRC nick`)
	e.call(func() {
		if bots := svc.Bots(); len(bots) != 0 {
			t.Fatalf("refused bots were stored: %+v", bots)
		}
	})

	e.send(1, "@discord2chan public = 1234567890123456789,222 relay")
	e.waitText(1, "Bot relay created: it bridges public over discord and is starting.")
	<-checked
	<-checked
	cfg := <-checked
	if cfg["channel_id"] != "1234567890123456789,222" || cfg["bot"] != "relay" || cfg["game_channel"] != "public" || cfg["server_name"] != serverName {
		t.Fatalf("the plugin checked %v", cfg)
	}
	if _, hasUID := cfg["uid"]; hasUID {
		t.Fatalf("the dict checked before the bot exists has a uid: %v", cfg)
	}
	e.call(func() {
		b, ok := svc.BotByName("relay")
		if !ok || b.Protocol != "discord" || b.Config["channel_id"] != "1234567890123456789,222" {
			t.Fatalf("stored %+v", b)
		}
	})
	e.send(1, "@discord2chan public = 333 relay")
	e.waitText(1, "There is already a bot named 'relay'.")
	e.send(1, "@bots")
	if got := e.last(1); !strings.Contains(got, "discord 1234567890123456789,222") || !strings.Contains(got, "Last error") {
		t.Fatalf("@bots = %q", got)
	}
}

// TestDiscordBotRelay: a Discord bot's channel messages reach the game as
// "[public] [#general@Guild] nick: text"; a direct message `who` is
// answered in its own channel, anything else with the help line.
func TestDiscordBotRelay(t *testing.T) {
	e := newEnv(t, 1)
	root := e.account("Root", "secret1")
	if err := e.st.SetAdmin(context.Background(), root.ID, true); err != nil {
		t.Fatal(err)
	}
	e.account("Bob", "secret2")
	svc := withChannels(t, e)
	e.p.mu.Lock()
	e.p.botSessid, e.p.botStarted = 9, make(chan string, 1)
	e.p.mu.Unlock()
	e.loginAs(1, "Root", "secret1")
	e.loginAs(2, "Bob", "secret2")
	e.send(1, "@discord2chan public = 1234567890123456789")
	e.waitText(1, "Bot DiscordBot created: it bridges public over discord and is starting.")
	<-e.p.botStarted
	var botUID int64
	e.call(func() {
		b, _ := svc.BotByName("DiscordBot")
		botUID = b.AccountID
	})
	var d contract.SessionData
	d.InitSession("discord", "discord/1234567890123456789", time.Now())
	d.Sessid = 9
	d.LoggedIn, d.UID = true, botUID
	d.ServerData["bot"] = true
	d.ProtocolFlags.Set(contract.FlagBotState, contract.BotReconnecting)
	d.ProtocolFlags.Set(contract.FlagBotRetryAt, time.Now().Add(30*time.Second).Unix())
	d.ProtocolFlags.Set(contract.FlagBotError, "the gateway connection was lost")
	e.call(func() { e.h.PortalConnect("discord", d) })
	e.waitLogin(9)
	e.send(1, "@bots")
	if got := e.last(1); !strings.Contains(got, "reconnecting in 30 s") && !strings.Contains(got, "reconnecting in 29 s") ||
		!strings.Contains(got, "the gateway connection was lost") {
		t.Fatalf("@bots = %q", got)
	}

	sender := map[string]any{"id": "200000000000000001", "name": "Ally"}
	e.call(func() {
		e.h.DataIn("discord", 9, []contract.Message{{Name: "bot_data_in", Args: []any{"hello from discord"},
			Kwargs: map[string]any{"type": "channel", "channel_id": "1234567890123456789", "guild_id": "800000000000000001",
				"channel": "general", "guild": "Portico Test", "sender": sender}}})
	})
	e.waitText(2, "[public] [#general@Portico Test] Ally: hello from discord")
	for _, tt := range []struct{ text, want string }{{"who", "Connected: "}, {"hello", "I understand 'who' and 'about'."}} {
		e.call(func() {
			e.h.DataIn("discord", 9, []contract.Message{{Name: "bot_data_in", Args: []any{tt.text},
				Kwargs: map[string]any{"type": "direct", "channel_id": "5000000000000000001", "guild_id": "", "sender": sender}}})
		})
		e.waitFor("answer to "+tt.text, func(evs []sentEvent) bool {
			for _, m := range e.messagesIn(evs, 9) {
				if s, _ := m.FirstString(); m.Name == "privmsg" && m.Kwargs["channel_id"] == "5000000000000000001" && strings.HasPrefix(s, tt.want) {
					return !strings.Contains(s, "DiscordBot")
				}
			}
			return false
		})
	}
}
