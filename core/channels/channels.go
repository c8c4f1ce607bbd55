// Package channels keeps the host's chat channels and bridge bots: who is
// on which channel (loaded from the store and kept in memory, so that a
// message costs no database read), sending to a channel, and the bots that
// bridge a channel to another network. It runs on the session handler's
// loop, like everything that touches sessions, and needs no lock.
package channels

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/contract"
)

// Service is the host's channels and bots.
type Service struct {
	store    *store.Store
	h        *sessions.ServerSessionHandler
	channels map[string]*channel // by lower-case name
	byID     map[int64]*channel
	bots     map[int64]store.Bot // by bot account id
}

type channel struct {
	store.Channel
	members map[int64]bool
}

// New makes the service; Load fills it.
func New(st *store.Store, h *sessions.ServerSessionHandler) *Service {
	return &Service{store: st, h: h, channels: map[string]*channel{}, byID: map[int64]*channel{}, bots: map[int64]store.Bot{}}
}

// Load reads channels, members and bots from the store.
func (c *Service) Load(ctx context.Context) error {
	chs, err := c.store.Channels(ctx)
	if err != nil {
		return fmt.Errorf("channels: %w", err)
	}
	members, err := c.store.ChannelMembers(ctx)
	if err != nil {
		return fmt.Errorf("channels: %w", err)
	}
	bots, err := c.store.Bots(ctx)
	if err != nil {
		return fmt.Errorf("channels: %w", err)
	}
	c.channels, c.byID, c.bots = map[string]*channel{}, map[int64]*channel{}, map[int64]store.Bot{}
	for _, ch := range chs {
		e := &channel{Channel: ch, members: map[int64]bool{}}
		for _, id := range members[ch.ID] {
			e.members[id] = true
		}
		c.channels[strings.ToLower(ch.Name)] = e
		c.byID[ch.ID] = e
	}
	for _, b := range bots {
		c.bots[b.AccountID] = b
	}
	return nil
}

// Get finds a channel by name (any case).
func (c *Service) Get(name string) (store.Channel, bool) {
	e, ok := c.channels[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return store.Channel{}, false
	}
	return e.Channel, true
}

// ByID finds a channel by id.
func (c *Service) ByID(id int64) (store.Channel, bool) {
	e, ok := c.byID[id]
	if !ok {
		return store.Channel{}, false
	}
	return e.Channel, true
}

// List returns every channel by name.
func (c *Service) List() []store.Channel {
	out := make([]store.Channel, 0, len(c.channels))
	for _, e := range c.channels {
		out = append(out, e.Channel)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// IsMember reports whether account accountID is on channel ch.
func (c *Service) IsMember(ch store.Channel, accountID int64) bool {
	e := c.byID[ch.ID]
	return e != nil && e.members[accountID]
}

// Join puts an account on a channel.
func (c *Service) Join(ctx context.Context, ch store.Channel, accountID int64) error {
	if err := c.store.JoinChannel(ctx, ch.ID, accountID); err != nil {
		return err
	}
	if e := c.byID[ch.ID]; e != nil {
		e.members[accountID] = true
	}
	return nil
}

// Leave takes an account off a channel.
func (c *Service) Leave(ctx context.Context, ch store.Channel, accountID int64) error {
	if err := c.store.LeaveChannel(ctx, ch.ID, accountID); err != nil {
		return err
	}
	if e := c.byID[ch.ID]; e != nil {
		delete(e.members, accountID)
	}
	return nil
}

// Create makes a channel; its creator joins it.
func (c *Service) Create(ctx context.Context, name, description string, creator int64) (store.Channel, error) {
	ch, err := c.store.CreateChannel(ctx, name, description)
	if err != nil {
		return store.Channel{}, err
	}
	e := &channel{Channel: ch, members: map[int64]bool{}}
	c.channels[strings.ToLower(ch.Name)] = e
	c.byID[ch.ID] = e
	if creator != 0 {
		if err := c.Join(ctx, ch, creator); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

// Delete removes a channel with its bots (their sessions end).
func (c *Service) Delete(ctx context.Context, ch store.Channel) error {
	for _, b := range c.Bots() {
		if b.ChannelID == ch.ID {
			if err := c.RemoveBot(ctx, b); err != nil {
				return err
			}
		}
	}
	if err := c.store.DeleteChannel(ctx, ch.ID); err != nil {
		return err
	}
	delete(c.channels, strings.ToLower(ch.Name))
	delete(c.byID, ch.ID)
	return nil
}

// WhoIsOn returns the names of the connected accounts on a channel.
func (c *Service) WhoIsOn(ch store.Channel) []string {
	var names []string
	for _, acc := range c.h.AllConnectedAccounts() {
		if c.IsMember(ch, acc.ID) {
			names = append(names, acc.Name)
		}
	}
	return names
}

// Say sends message to channel ch from sender (a player's name, or
// "bob@#chan" for a bridged user): players on the channel see
// "[ch] sender: message"; the channel's bots get it as a `channel`
// outputfunc to relay, except the bot it came from.
func (c *Service) Say(ch store.Channel, sender, message string, from *sessions.ServerSession) {
	line := fmt.Sprintf("[%s] %s: %s", ch.Name, sender, message)
	c.deliver(ch, line, sender, message, from)
}

// Emote sends an action: "[ch] sender waves".
func (c *Service) Emote(ch store.Channel, sender, action string, from *sessions.ServerSession) {
	line := fmt.Sprintf("[%s] %s %s", ch.Name, sender, action)
	c.deliver(ch, line, sender, action, from)
}

func (c *Service) deliver(ch store.Channel, line, sender, message string, from *sessions.ServerSession) {
	e := c.byID[ch.ID]
	if e == nil {
		return
	}
	var players, bots []*sessions.ServerSession
	for _, s := range c.h.Sessions() {
		if !s.LoggedIn || !e.members[s.UID] {
			continue
		}
		if _, isBot := c.bots[s.UID]; isBot {
			if from != nil && s.UID == from.UID {
				continue // never echo a bridged line back to its network
			}
			bots = append(bots, s)
			continue
		}
		players = append(players, s)
	}
	c.h.Broadcast(players, contract.Text(line))
	if len(bots) > 0 {
		c.h.Broadcast(bots, contract.Message{Name: "channel", Args: []any{line},
			Kwargs: map[string]any{"channel": ch.Name, "sender": sender, "message": message}})
	}
}

// Bots returns every bot by name.
func (c *Service) Bots() []store.Bot {
	out := make([]store.Bot, 0, len(c.bots))
	for _, b := range c.bots {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// Bot returns the bot logged in as account uid.
func (c *Service) Bot(uid int64) (store.Bot, bool) {
	b, ok := c.bots[uid]
	return b, ok
}

// BotByName finds a bot by name (any case).
func (c *Service) BotByName(name string) (store.Bot, bool) {
	for _, b := range c.bots {
		if strings.EqualFold(b.Name, name) {
			return b, true
		}
	}
	return store.Bot{}, false
}

// AddBot stores a bot bridging channel ch; StartBot starts it.
func (c *Service) AddBot(ctx context.Context, name, protocol string, ch store.Channel, config map[string]any) (store.Bot, error) {
	b, err := c.store.AddBot(ctx, name, protocol, ch.ID, config)
	if err != nil {
		return store.Bot{}, err
	}
	c.bots[b.AccountID] = b
	if e := c.byID[ch.ID]; e != nil {
		e.members[b.AccountID] = true
	}
	return b, nil
}

// RemoveBot ends a bot's sessions and deletes it.
func (c *Service) RemoveBot(ctx context.Context, b store.Bot) error {
	for _, s := range c.h.SessionsFromAccount(b.AccountID) {
		c.h.Disconnect(s, "bot removed", true)
	}
	if err := c.store.RemoveBot(ctx, b.ID); err != nil {
		return err
	}
	delete(c.bots, b.AccountID)
	for _, e := range c.byID {
		delete(e.members, b.AccountID)
	}
	return nil
}

// TrustLogin reports whether a plugin may announce a session already
// logged in as account uid: only bot accounts, which the host starts. The
// session handler also requires that the host asked that very plugin to
// start the bot, and that the session is the one its StartBot named.
func (c *Service) TrustLogin(_ string, uid int64) bool {
	_, ok := c.bots[uid]
	return ok
}

// AccountLoggedIn loads the channels of an account that just logged in:
// accounts created while the host runs (the CLI, the game) join the
// default channel in the store, and the cache learns it here.
func (c *Service) AccountLoggedIn(s *sessions.ServerSession) {
	ids, err := c.store.AccountChannels(context.Background(), s.UID)
	if err != nil {
		c.h.Log().Error("channels of account", "account", s.UName, "err", err)
		return
	}
	for _, id := range ids {
		if e := c.byID[id]; e != nil {
			e.members[s.UID] = true
		}
	}
}

// BotConfig is the config dict a bot's plugin gets: the stored keys plus
// the bot's identity in the game.
func (c *Service) BotConfig(b store.Bot) map[string]any {
	cfg := make(map[string]any, len(b.Config)+4)
	for k, v := range b.Config {
		cfg[k] = v
	}
	cfg["bot"] = b.Name
	cfg["uid"] = b.AccountID
	if ch, ok := c.ByID(b.ChannelID); ok {
		cfg["game_channel"] = ch.Name
	}
	cfg["server_name"] = c.h.Settings().ServerName
	return cfg
}

// BotState describes a bot's session for @bots, `portico bot list` and
// `portico status`: its plugin's reported state with the time it began
// ("connected since 2026-11-22 12:04:31Z"), "reconnecting in N s" while
// the plugin waits to try again, or "not running".
func (c *Service) BotState(b store.Bot) string {
	ss := c.h.SessionsFromAccount(b.AccountID)
	if len(ss) == 0 {
		return "not running"
	}
	s := ss[0]
	state := s.FlagString(contract.FlagBotState)
	if state == "" {
		state = "started"
	}
	if at := s.FlagInt(contract.FlagBotRetryAt, 0); at > 0 {
		in := max(0, int64(at)-c.h.Now().Unix())
		if state == contract.BotReconnecting {
			return fmt.Sprintf("reconnecting in %d s", in)
		}
		return fmt.Sprintf("%s, retrying in %d s", state, in)
	}
	if since := s.FlagInt(contract.FlagBotStateSince, 0); since > 0 {
		state += " since " + unixTime(int64(since))
	}
	return state
}

// BotError is the last error a bot's plugin reported for it ("" when
// none, or when the bot is not running).
func (c *Service) BotError(b store.Bot) string {
	for _, s := range c.h.SessionsFromAccount(b.AccountID) {
		return s.FlagString(contract.FlagBotError)
	}
	return ""
}
