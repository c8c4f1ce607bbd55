package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/channels"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// SetChannels gives the command handler the host's channels: it adds the
// channel commands, lets a channel's name be used as a command to talk on
// it (Evennia's `public Hello there`), and takes over `bot_data_in`, the
// input of bridge bots.
func (ch *Handler) SetChannels(c *channels.Service) {
	ch.channels = c
	ch.Account.Add(&Command{Key: "channel", Aliases: []string{"channels", "chan", "@channels"},
		Help: "channel [join||leave||who <name>]\n\nList the channels, join or leave one, or see who is on it.\nTalk on a channel with its name: public Hello there.\nAdmins: channel create <name> [= description], channel delete <name>.",
		Func: ch.cmdChannel})
	ch.Account.Add(&Command{Key: "join", Help: "join <channel>\n\nJoin a channel.", Func: func(c *Call) {
		c.Args = "join " + c.Args
		ch.cmdChannel(c)
	}})
	ch.Account.Add(&Command{Key: "leave", Help: "leave <channel>\n\nLeave a channel.", Func: func(c *Call) {
		c.Args = "leave " + c.Args
		ch.cmdChannel(c)
	}})
	ch.Account.Add(&Command{Key: "@irc2chan", Admin: true,
		Help: "@irc2chan <channel> = <network> <port> <#ircchannel> <botname>\n@irc2chan/delete <botname>\n\nBridge a game channel to an IRC channel with a bot (kept and started again with the server).",
		Func: ch.cmdIRC2Chan})
	ch.Account.Add(&Command{Key: "@discord2chan", Admin: true,
		Help: "@discord2chan <channel> = <discord channel id>[,<id>...] [<botname>]\n@discord2chan/delete <botname>\n\nBridge a game channel to Discord channels with a bot (kept and started again with the server). The bot's token is the one plugins.discord.config names (token_file or token_env); `portico bot add` can give a bot its own. The bot's name defaults to DiscordBot.",
		Func: ch.cmdDiscord2Chan})
	ch.Account.Add(&Command{Key: "@bots", Admin: true,
		Help: "@bots\n\nList the bridge bots, their state and their last error.", Func: ch.cmdBots})
	// who lists the bridge bots apart from the players.
	ch.Account.Add(whoCommand(func(c *Call) { listWho(c, ch.botLabel) }))
	ch.UnloggedIn.Add(whoCommand(func(c *Call) {
		if whoBeforeLogin(c) {
			listWho(c, ch.botLabel)
		}
	}))
	ch.handler.RegisterInputfunc("bot_data_in", sessions.Inputfunc{Func: ch.botDataIn,
		Doc: "Text from a bridge bot's network: relayed to the bot's channel."})
}

// talkOnChannel handles `<channel> <message>`; it reports whether name was
// a channel of the caller's.
func (ch *Handler) talkOnChannel(s *sessions.ServerSession, name, message string) bool {
	if ch.channels == nil || !s.LoggedIn {
		return false
	}
	c, ok := ch.channels.Get(name)
	if !ok || !ch.channels.IsMember(c, s.UID) {
		return false
	}
	if message == "" {
		s.Msg(fmt.Sprintf("Say what on %s?", c.Name))
		return true
	}
	if rest, ok := strings.CutPrefix(message, ":"); ok {
		ch.channels.Emote(c, speaker(s), strings.TrimSpace(rest), s)
		return true
	}
	ch.channels.Say(c, speaker(s), message, s)
	return true
}

// cmdChannel is the channel command: list, join, leave, who and the
// admin subcommands.
//
// Long because it is one switch over the subcommands, each a few lines of
// checks and a message, which read best side by side.
func (ch *Handler) cmdChannel(c *Call) {
	if ch.channels == nil {
		c.Msg("Channels are not available.")
		return
	}
	ctx := context.Background()
	verb, arg, _ := strings.Cut(strings.TrimSpace(c.Args), " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(verb) {
	case "":
		var rows [][]string
		for _, chn := range ch.channels.List() {
			on := ""
			if ch.channels.IsMember(chn, c.S.UID) {
				on = "yes"
			}
			rows = append(rows, []string{chn.Name, on, chn.Description})
		}
		c.Msg("Channels:\n" + table([]string{"Channel", "Joined", "Description"}, rows) +
			"\nTalk on a channel with its name: public Hello there.")
	case "join", "sub":
		chn, ok := ch.channels.Get(arg)
		if !ok {
			c.Msg(fmt.Sprintf("No channel named '%s'.", arg))
			return
		}
		if ch.channels.IsMember(chn, c.S.UID) {
			c.Msg(fmt.Sprintf("You are already on %s.", chn.Name))
			return
		}
		if err := ch.channels.Join(ctx, chn, c.S.UID); err != nil {
			c.H.Log().Error("join channel", "err", err)
			c.Msg("That did not work. Please try again later.")
			return
		}
		c.Msg(fmt.Sprintf("You join %s. Talk on it with: %s <message>", chn.Name, strings.ToLower(chn.Name)))
	case "leave", "unsub":
		chn, ok := ch.channels.Get(arg)
		if !ok || !ch.channels.IsMember(chn, c.S.UID) {
			c.Msg(fmt.Sprintf("You are not on a channel named '%s'.", arg))
			return
		}
		if err := ch.channels.Leave(ctx, chn, c.S.UID); err != nil {
			c.H.Log().Error("leave channel", "err", err)
			c.Msg("That did not work. Please try again later.")
			return
		}
		c.Msg(fmt.Sprintf("You leave %s.", chn.Name))
	case "who":
		chn, ok := ch.channels.Get(arg)
		if !ok {
			c.Msg(fmt.Sprintf("No channel named '%s'.", arg))
			return
		}
		names := ch.channels.WhoIsOn(chn)
		c.Msg(fmt.Sprintf("On %s now: %s", chn.Name, strings.Join(names, ", ")))
	case "create":
		if !c.S.IsAdmin() {
			c.Msg("Only admins can create channels.")
			return
		}
		name, desc, _ := strings.Cut(arg, "=")
		chn, err := ch.channels.Create(ctx, strings.TrimSpace(name), strings.TrimSpace(desc), c.S.UID)
		if err != nil {
			c.Msg(userError(err))
			return
		}
		c.Msg(fmt.Sprintf("Channel %s created. You are on it.", chn.Name))
	case "delete", "destroy":
		if !c.S.IsAdmin() {
			c.Msg("Only admins can delete channels.")
			return
		}
		chn, ok := ch.channels.Get(arg)
		if !ok {
			c.Msg(fmt.Sprintf("No channel named '%s'.", arg))
			return
		}
		if strings.EqualFold(chn.Name, store.DefaultChannel) {
			c.Msg(fmt.Sprintf("%s is the default channel and cannot be deleted.", chn.Name))
			return
		}
		if err := ch.channels.Delete(ctx, chn); err != nil {
			c.H.Log().Error("delete channel", "err", err)
			c.Msg("That did not work. Please try again later.")
			return
		}
		c.Msg(fmt.Sprintf("Channel %s deleted.", chn.Name))
	default:
		c.Msg("Usage: channel [join||leave||who <name>]")
	}
}

// cmdIRC2Chan creates (or with /delete removes) an IRC bridge bot.
func (ch *Handler) cmdIRC2Chan(c *Call) {
	channel, parts, ok := ch.bridgeArgs(c)
	if !ok {
		return
	}
	if len(parts) != 4 {
		c.Msg("Usage: @irc2chan <channel> = <network> <port> <#ircchannel> <botname>")
		return
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || port < 1 || port > 65535 {
		c.Msg(fmt.Sprintf("'%s' is not a port number.", parts[1]))
		return
	}
	config := map[string]any{"network": parts[0], "port": port, "channel": parts[2], "nick": parts[3]}
	ch.AddBotChecked(parts[3], "irc", channel, config, answerCaller(c))
}

// bridgeArgs starts @irc2chan and @discord2chan: it answers for them when
// there are no channels, and with /delete NAME removes that bot. Otherwise
// (ok) it returns the game channel, left of "=", and the words right of it
// (none when there is no "=").
func (ch *Handler) bridgeArgs(c *Call) (channel string, words []string, ok bool) {
	if ch.channels == nil {
		c.Msg("Channels are not available.")
		return "", nil, false
	}
	args := strings.TrimSpace(c.Args)
	if name, found := strings.CutPrefix(args, "/delete"); found {
		ch.removeBot(c, strings.TrimSpace(name))
		return "", nil, false
	}
	left, right, _ := strings.Cut(args, "=")
	return strings.TrimSpace(left), strings.Fields(right), true
}

// defaultDiscordBot is @discord2chan's bot name when none is given
// (Evennia's one Discord bot is "DiscordBot").
const defaultDiscordBot = "DiscordBot"

// cmdDiscord2Chan creates (or with /delete removes) a Discord bridge bot.
func (ch *Handler) cmdDiscord2Chan(c *Call) {
	channel, parts, ok := ch.bridgeArgs(c)
	if !ok {
		return
	}
	if len(parts) < 1 || len(parts) > 2 || channel == "" {
		c.Msg("Usage: @discord2chan <channel> = <discord channel id>[,<id>...] [<botname>]")
		return
	}
	name := defaultDiscordBot
	if len(parts) == 2 {
		name = parts[1]
	}
	ch.AddBotChecked(name, "discord", channel, map[string]any{"channel_id": parts[0]}, answerCaller(c))
}

// answerCaller tells the admin who made a bot how it went.
func answerCaller(c *Call) func(string, error) {
	return func(msg string, err error) {
		if err != nil {
			c.Msg(err.Error())
			return
		}
		c.Msg(msg)
	}
}

func (ch *Handler) removeBot(c *Call, name string) {
	b, ok := ch.channels.BotByName(name)
	if !ok {
		c.Msg(fmt.Sprintf("No bot named '%s'.", name))
		return
	}
	if err := ch.channels.RemoveBot(context.Background(), b); err != nil {
		c.H.Log().Error("remove bot", "err", err)
		c.Msg("That did not work. Please try again later.")
		return
	}
	c.Msg(fmt.Sprintf("Bot %s removed.", b.Name))
}

// BotChecker checks a bot's config dict through the plugin that would run
// it (the plugin manager's ValidateBot), off the loop: nil, or an error in
// the plugin's words naming each bad key.
type BotChecker func(ctx context.Context, protocol string, config map[string]any) error

// SetBotChecker makes AddBotChecked check every new bot with f.
func (ch *Handler) SetBotChecker(f BotChecker) { ch.checkBot = f }

// botCheckTimeout bounds a bot's check through its plugin.
const botCheckTimeout = 15 * time.Second

// AddBotChecked checks a new bot through its plugin (SetBotChecker), then
// stores and starts it (AddBot), and calls done on the loop with the
// answer for whoever asked: the plugin's error, naming the key, when it
// refuses the config, and then nothing is stored. It runs on the loop;
// the check runs off it.
func (ch *Handler) AddBotChecked(name, protocol, channel string, config map[string]any, done func(string, error)) {
	chn, ok := ch.channels.Get(channel)
	if !ok {
		done("", fmt.Errorf("No channel named '%s'.", channel))
		return
	}
	if _, exists := ch.channels.BotByName(name); exists {
		done("", fmt.Errorf("There is already a bot named '%s'.", name))
		return
	}
	if ch.checkBot == nil {
		done(ch.AddBot(name, protocol, channel, config))
		return
	}
	// What the plugin will be handed, less the account id the bot does
	// not have yet.
	dict := make(map[string]any, len(config)+3)
	for k, v := range config {
		dict[k] = v
	}
	dict["bot"], dict["game_channel"], dict["server_name"] = name, chn.Name, ch.handler.Settings().ServerName
	h, check := ch.handler, ch.checkBot
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), botCheckTimeout)
		defer cancel()
		err := check(ctx, protocol, dict)
		if err := h.Call(ctx, func() {
			if err != nil {
				done("", err)
				return
			}
			done(ch.AddBot(name, protocol, channel, config))
		}); err != nil {
			h.Log().Warn("add bot: the answer did not reach the loop", "bot", name, "err", err)
		}
	}()
}

// AddBot stores a bot bridging channel and starts it, without checking it
// through its plugin (AddBotChecked does). It runs on the loop; the start
// itself does not wait.
func (ch *Handler) AddBot(name, protocol, channel string, config map[string]any) (string, error) {
	chn, ok := ch.channels.Get(channel)
	if !ok {
		return "", fmt.Errorf("No channel named '%s'.", channel)
	}
	if _, exists := ch.channels.BotByName(name); exists {
		return "", fmt.Errorf("There is already a bot named '%s'.", name)
	}
	b, err := ch.channels.AddBot(context.Background(), name, protocol, chn, config)
	if err != nil {
		if errors.Is(err, store.ErrNameTaken) {
			return "", fmt.Errorf("The name '%s' is taken.", name)
		}
		return "", errors.New(userError(err))
	}
	ch.StartBot(b)
	return fmt.Sprintf("Bot %s created: it bridges %s over %s and is starting.", b.Name, chn.Name, protocol), nil
}

// StartBot launches a stored bot's session on its plugin, off the loop.
func (ch *Handler) StartBot(b store.Bot) {
	cfg := ch.channels.BotConfig(b)
	h := ch.handler
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := h.StartBotSession(ctx, b.Protocol, cfg); err != nil {
			h.Log().Error("start bot", "bot", b.Name, "protocol", b.Protocol, "err", err)
		}
	}()
}

func (ch *Handler) cmdBots(c *Call) {
	if ch.channels == nil {
		c.Msg("Channels are not available.")
		return
	}
	var rows [][]string
	for _, b := range ch.channels.Bots() {
		chn, _ := ch.channels.ByID(b.ChannelID)
		lastErr := ch.channels.BotError(b)
		if lastErr == "" {
			lastErr = "-"
		}
		rows = append(rows, []string{b.Name, b.Protocol, chn.Name, botTarget(b), ch.channels.BotState(b), lastErr})
	}
	if len(rows) == 0 {
		c.Msg("There are no bots. Create one with @irc2chan or @discord2chan.")
		return
	}
	c.Msg("Bots:\n" + table([]string{"Bot", "Protocol", "Channel", "Bridges", "State", "Last error"}, rows))
}

// botLabel names account uid's bridge bot for who, with the channel it
// bridges: "gamebot (public)"; ok is false for an account that is no bot.
func (ch *Handler) botLabel(uid int64) (label string, ok bool) {
	b, ok := ch.channels.Bot(uid)
	if !ok {
		return "", false
	}
	if chn, found := ch.channels.ByID(b.ChannelID); found {
		return fmt.Sprintf("%s (%s)", b.Name, chn.Name), true
	}
	return b.Name, true
}

func botTarget(b store.Bot) string {
	if ids, ok := b.Config["channel_id"]; ok && b.Protocol == "discord" {
		return fmt.Sprintf("discord %v", ids)
	}
	network, _ := b.Config["network"].(string)
	channel, _ := b.Config["channel"].(string)
	if network == "" {
		return "-"
	}
	return fmt.Sprintf("%s %s", network, channel)
}

// botDataIn relays input from a bridge bot's network to its channel
// (Evennia's bot_data_in): IRC channel messages and actions are relayed as
// "user@#chan", Discord channel messages as "[#chan@guild] nick", and
// private (direct) messages `who` and `about` are answered.
func (ch *Handler) botDataIn(h *sessions.ServerSessionHandler, s *sessions.ServerSession, args []any, kwargs map[string]any) {
	text, _ := firstString(args)
	if strings.TrimSpace(text) == sessions.IdleCommand {
		s.UpdateSessionCounters(h.Now(), true)
		return
	}
	s.UpdateSessionCounters(h.Now(), false)
	if ch.channels == nil {
		return
	}
	b, ok := ch.channels.Bot(s.UID)
	if !ok {
		h.Log().Warn("bot_data_in from a session that is not a bot", "sessid", s.Sessid)
		return
	}
	chn, ok := ch.channels.ByID(b.ChannelID)
	if !ok {
		return
	}
	// IRC's kinds: msg, action, privmsg, with the nick in user and the
	// IRC channel in channel. Discord's: channel and direct, with the
	// sender in sender and the channel's and guild's names.
	user, _ := kwargs["user"].(string)
	sender := user
	if where, _ := kwargs["channel"].(string); where != "" {
		sender = user + "@" + where
	}
	switch kind, _ := kwargs["type"].(string); kind {
	case "msg", "":
		ch.channels.Say(chn, sender, text, s)
	case "action":
		ch.channels.Emote(chn, sender, text, s)
	case "privmsg":
		s.Send(messagePrivmsg(botReply(h, ch.channels, b, text), user))
	case "channel":
		// "[public] [#general@My Guild] nick: text".
		ch.channels.Say(chn, discordSender(kwargs), text, s)
	case "direct":
		// Answered in the direct-message channel it came from.
		s.Send(contract.Message{Name: "privmsg", Args: []any{botReply(h, ch.channels, b, text)},
			Kwargs: map[string]any{"user": senderName(kwargs), "channel_id": kwargs["channel_id"]}})
	}
}

// botReply answers a private message to a bridge bot: `who` lists who is
// connected, `about` says what the bot is, anything else gets a short help
// line.
func botReply(h *sessions.ServerSessionHandler, c *channels.Service, b store.Bot, text string) string {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "who":
		return "Connected: " + strings.Join(connectedPlayers(h, c), ", ")
	case "about":
		return fmt.Sprintf("This is a Portico %s bot connecting from '%s'.", b.Protocol, h.Settings().ServerName)
	}
	return "I understand 'who' and 'about'."
}

// senderName is the name in a Discord message's sender kwarg ({id,
// name}).
func senderName(kwargs map[string]any) string {
	sender, _ := kwargs["sender"].(map[string]any)
	name, _ := sender["name"].(string)
	return name
}

// discordSender is how a Discord message's sender shows on the game
// channel: "[#general@My Guild] nick" (Evennia's "[#chan@guild] nick").
func discordSender(kwargs map[string]any) string {
	channel, _ := kwargs["channel"].(string)
	guild, _ := kwargs["guild"].(string)
	return fmt.Sprintf("[#%s@%s] %s", channel, guild, senderName(kwargs))
}

func connectedPlayers(h *sessions.ServerSessionHandler, c *channels.Service) []string {
	var names []string
	for _, acc := range h.AllConnectedAccounts() {
		if _, isBot := c.Bot(acc.ID); !isBot {
			names = append(names, acc.Name)
		}
	}
	if len(names) == 0 {
		return []string{"nobody"}
	}
	return names
}
