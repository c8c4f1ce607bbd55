package main

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/portico-mud/portico/sdk"
	"github.com/portico-mud/portico/sdk/markup"
)

// Messages the host sends to a bot session (Evennia's outputfuncs).
const (
	// outChannel is a game channel's line, for every Discord channel the
	// bot bridges.
	outChannel = "channel"
	// outPrivmsg is the host's answer to a direct message, for the
	// direct-message channel in its channel_id kwarg.
	outPrivmsg = "privmsg"
)

// Kinds of bot_data_in the bot sends the host (its "type" kwarg).
const (
	kindChannel = "channel"
	kindDirect  = "direct"
)

// Send relays the host's output: a game channel line to every bridged
// Discord channel, an answer to a direct message to its channel.
// Everything else (text, the connection screen) means nothing to Discord
// and is dropped, as Evennia's bot does. It never blocks: a full queue
// drops the message and logs it.
func (b *bot) Send(_ *sdk.Session, msgs []sdk.Message) {
	for _, m := range msgs {
		text, ok := firstArg(m)
		switch {
		case !ok:
		case m.Name == outChannel:
			for _, ch := range b.cfg.ChannelIDs {
				b.queue(ch, text)
			}
		case m.Name == outPrivmsg:
			ch, _ := m.Kwargs["channel_id"].(string)
			if !validSnowflake(ch) {
				b.log.Warn("discord: privmsg without a valid channel_id dropped")
				continue
			}
			b.queue(ch, text)
		default:
			b.log.Debug("discord: output to a bot ignored", "name", m.Name)
		}
	}
}

func firstArg(m sdk.Message) (string, bool) {
	if len(m.Args) == 0 {
		return "", false
	}
	s, ok := m.Args[0].(string)
	return s, ok
}

// queue puts text (game markup) on the send queue for channel ch, as
// Discord messages.
func (b *bot) queue(ch, text string) {
	now := time.Now()
	for _, c := range discordContents(text) {
		select {
		case b.out <- outgoing{channelID: ch, content: c, queued: now}:
		default:
			b.log.Warn("discord: send queue full; message dropped", "max", b.t.queueMax)
		}
	}
}

// sendLoop sends the queued messages in order, one at a time. A rate
// limit (HTTP 429) is waited out for its retry_after and the message sent
// again; a server error or a network failure is retried with the
// reconnect backoff; a message refused otherwise (no access to the
// channel, an unknown channel) is dropped, logged and reported as the
// bot's last error. A message that waited longer than maxAge is dropped
// rather than sent late.
func (b *bot) sendLoop() {
	for {
		var m outgoing
		select {
		case <-b.ctx.Done():
			return
		case m = <-b.out:
		}
		waits := b.t.backoff // this message's own copy
		delay := waits.Next()
		for b.ctx.Err() == nil {
			if age := time.Since(m.queued); age > b.t.maxAge {
				b.log.Warn("discord: message waited too long; dropped", "channel_id", m.channelID, "waited", age.Round(time.Second))
				break
			}
			_, err := b.dg.ChannelMessageSendComplex(m.channelID, &discordgo.MessageSend{
				Content: m.content,
				// No pings: an empty list of allowed mentions makes
				// @everyone, @here, <@id> and <@&role> plain text.
				AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}},
			}, discordgo.WithContext(b.ctx))
			if err == nil {
				break
			}
			if b.ctx.Err() != nil {
				return
			}
			wait, retry := b.sendFailed(m, err, delay)
			if !retry {
				break
			}
			if wait == delay {
				delay = waits.Next()
			}
			timer := time.NewTimer(wait)
			select {
			case <-b.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
	}
}

// sendFailed judges a failed send: how long to wait before the message is
// sent again, or that it is dropped.
func (b *bot) sendFailed(m outgoing, err error, backoff time.Duration) (time.Duration, bool) {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		wait := max(rl.RetryAfter, 10*time.Millisecond)
		b.log.Info("discord: rate limited; sending again after retry_after", "channel_id", m.channelID, "retry_after", wait)
		return wait, true
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < http.StatusInternalServerError {
		msg := redact(err.Error())
		b.log.Error("discord: message refused; dropped", "channel_id", m.channelID, "err", msg)
		state, _ := b.status.State()
		b.report(state, time.Time{}, "sending to channel "+m.channelID+": "+msg)
		return 0, false
	}
	b.log.Warn("discord: send failed; trying again", "channel_id", m.channelID, "err", redact(err.Error()), "retry_in", backoff)
	return backoff, true
}

// relayLoop passes Discord messages to the game, in order: the bot's own
// messages, messages from channels it does not bridge, and a message it
// has already relayed (a replay) are left out.
func (b *bot) relayLoop() {
	seen := newRecent(recentIDs)
	for {
		var m *discordgo.Message
		select {
		case <-b.ctx.Done():
			return
		case m = <-b.in:
		}
		if m.Author == nil || m.Author.ID == b.self() {
			continue
		}
		direct := m.GuildID == ""
		if !direct && !b.cfg.bridges(m.ChannelID) {
			continue
		}
		if !seen.add(m.ID) {
			b.log.Debug("discord: message seen before; not relayed again", "id", m.ID)
			continue
		}
		b.relay(m, direct)
	}
}

// relay sends one Discord message to the host as bot_data_in: the text,
// and kwargs type ("channel" or "direct"), channel_id, guild_id, sender
// ({id, name}: the member's nick, else the user's display name, else the
// user name) and, for a channel, the channel's and guild's names. The
// host shows it as "[public] [#general@My Guild] nick: text".
func (b *bot) relay(m *discordgo.Message, direct bool) {
	text := m.ContentWithMentionsReplaced()
	for _, a := range m.Attachments {
		if a != nil && a.URL != "" {
			text += "\n" + a.URL
		}
	}
	lines := gameLines(text)
	if len(lines) == 0 {
		return
	}
	kwargs := map[string]any{
		"channel_id": m.ChannelID,
		"guild_id":   m.GuildID,
		"sender":     map[string]any{"id": m.Author.ID, "name": markup.Escape(senderName(m))},
	}
	if direct {
		kwargs["type"] = kindDirect
		b.sess.DataIn(sdk.Message{Name: "bot_data_in", Args: []any{strings.Join(lines, " ")}, Kwargs: kwargs})
		return
	}
	kwargs["type"] = kindChannel
	kwargs["channel"] = markup.Escape(b.name(m.ChannelID, false))
	kwargs["guild"] = markup.Escape(b.name(m.GuildID, true))
	msgs := make([]sdk.Message, len(lines))
	for i, l := range lines {
		msgs[i] = sdk.Message{Name: "bot_data_in", Args: []any{l}, Kwargs: kwargs}
	}
	b.sess.DataIn(msgs...)
}

// senderName is who wrote m, as the channel shows them.
func senderName(m *discordgo.Message) string {
	if m.Member != nil && m.Member.Nick != "" {
		return cleanText(m.Member.Nick)
	}
	if m.Author.GlobalName != "" {
		return cleanText(m.Author.GlobalName)
	}
	return cleanText(m.Author.Username)
}

// name returns a channel's or guild's name: from discordgo's state (the
// GUILD_CREATE events fill it), else asked of the REST API once and
// remembered, else the id.
func (b *bot) name(id string, guild bool) string {
	if id == "" {
		return ""
	}
	if guild {
		if g, err := b.dg.State.Guild(id); err == nil && g.Name != "" {
			return g.Name
		}
	} else if c, err := b.dg.State.Channel(id); err == nil && c.Name != "" {
		return c.Name
	}
	b.mu.Lock()
	n, ok := b.names[id]
	b.mu.Unlock()
	if ok {
		return n
	}
	if guild {
		if g, err := b.dg.Guild(id, discordgo.WithContext(b.ctx)); err == nil {
			n = g.Name
		}
	} else if c, err := b.dg.Channel(id, discordgo.WithContext(b.ctx)); err == nil {
		n = c.Name
	}
	if n == "" {
		// Asked again next time: the failure may pass.
		return id
	}
	b.mu.Lock()
	b.names[id] = n
	b.mu.Unlock()
	return n
}

// self returns the bot's own Discord user id.
func (b *bot) self() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.selfID
}

// recent remembers the last n ids seen.
type recent struct {
	ring []string
	next int
	set  map[string]bool
}

func newRecent(n int) *recent {
	return &recent{ring: make([]string, n), set: make(map[string]bool, n)}
}

// add records id; it reports false when id was already there.
func (r *recent) add(id string) bool {
	if id == "" {
		return true
	}
	if r.set[id] {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = true
	return true
}
