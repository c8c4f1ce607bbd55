package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DefaultChannel is the channel every account is on.
const DefaultChannel = "public"

// Channel is a named chat channel.
type Channel struct {
	ID          int64
	Name        string
	Description string
	Created     time.Time
}

// ErrChannelTaken is returned when a channel of that name exists.
var ErrChannelTaken = errors.New("there is already a channel with that name")

// ErrInvalidChannel is returned for a channel name that is not allowed.
var ErrInvalidChannel = errors.New("channel names are 2-30 letters, digits, - or _, starting with a letter")

var channelName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{1,29}$`)

// Channels lists every channel by name.
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, description, created_at FROM channels ORDER BY name COLLATE NOCASE")
	if err != nil {
		return nil, fmt.Errorf("store: channels: %w", err)
	}
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		var c Channel
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Description, &created); err != nil {
			return nil, fmt.Errorf("store: channels: %w", err)
		}
		c.Created = time.UnixMilli(created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateChannel makes a channel.
func (s *Store) CreateChannel(ctx context.Context, name, description string) (Channel, error) {
	if !channelName.MatchString(name) {
		return Channel{}, fmt.Errorf("store: create channel %q: %w", truncate(name, 40), ErrInvalidChannel)
	}
	now := time.Now()
	var id int64
	if err := s.w.QueryRowContext(ctx, "INSERT INTO channels (name, description, created_at) VALUES (?, ?, ?) RETURNING id",
		name, description, now.UnixMilli()).Scan(&id); err != nil {
		if errors.Is(uniqueToNameTaken(err), ErrNameTaken) {
			return Channel{}, fmt.Errorf("store: create channel %q: %w", name, ErrChannelTaken)
		}
		return Channel{}, fmt.Errorf("store: create channel %q: %w", name, err)
	}
	return Channel{ID: id, Name: name, Description: description, Created: time.UnixMilli(now.UnixMilli()).UTC()}, nil
}

// DeleteChannel removes a channel, its memberships and its bots.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM channels WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete channel %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete channel %d: %w", id, ErrNotFound)
	}
	return nil
}

// ChannelMembers returns the account ids on every channel, by channel id.
func (s *Store) ChannelMembers(ctx context.Context) (map[int64][]int64, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT channel_id, account_id FROM channel_members ORDER BY channel_id, account_id")
	if err != nil {
		return nil, fmt.Errorf("store: channel members: %w", err)
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var ch, acc int64
		if err := rows.Scan(&ch, &acc); err != nil {
			return nil, fmt.Errorf("store: channel members: %w", err)
		}
		out[ch] = append(out[ch], acc)
	}
	return out, rows.Err()
}

// AccountChannels returns the ids of the channels an account is on.
func (s *Store) AccountChannels(ctx context.Context, accountID int64) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT channel_id FROM channel_members WHERE account_id = ? ORDER BY channel_id", accountID)
	if err != nil {
		return nil, fmt.Errorf("store: channels of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: channels of account %d: %w", accountID, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// JoinChannel puts an account on a channel (no error if it already is).
func (s *Store) JoinChannel(ctx context.Context, channelID, accountID int64) error {
	if _, err := s.w.ExecContext(ctx, "INSERT INTO channel_members (channel_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
		channelID, accountID); err != nil {
		return fmt.Errorf("store: join channel %d: %w", channelID, err)
	}
	return nil
}

// LeaveChannel takes an account off a channel.
func (s *Store) LeaveChannel(ctx context.Context, channelID, accountID int64) error {
	if _, err := s.w.ExecContext(ctx, "DELETE FROM channel_members WHERE channel_id = ? AND account_id = ?",
		channelID, accountID); err != nil {
		return fmt.Errorf("store: leave channel %d: %w", channelID, err)
	}
	return nil
}

// Bot is a bridge bot: an account of its own, the protocol plugin that
// runs it, the channel it bridges and its config dict.
type Bot struct {
	ID        int64
	Name      string
	Protocol  string
	ChannelID int64
	AccountID int64
	Config    map[string]any
	Created   time.Time
}

// AddBot stores a bot and creates its account (a random password nobody
// knows: bots log in only through their plugin), member of its channel.
func (s *Store) AddBot(ctx context.Context, name, protocol string, channelID int64, config map[string]any) (Bot, error) {
	if reason := nameProblem(name); reason != "" {
		return Bot{}, fmt.Errorf("store: add bot %q: %w: %s", truncate(name, 40), ErrInvalidName, reason)
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: config: %w", name, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	hash, err := s.hashPassword(hex.EncodeToString(secret))
	if err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	acc, err := s.insertAccount(ctx, name, hash, false)
	if err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	now := time.Now().UnixMilli()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(ctx, "INSERT INTO bots (name, protocol, channel_id, account_id, config_json, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		name, protocol, channelID, acc.ID, string(cfg), now).Scan(&id); err != nil {
		tx.Rollback()
		_, _ = s.w.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", acc.ID)
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO channel_members (channel_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING", channelID, acc.ID); err != nil {
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		_, _ = s.w.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", acc.ID)
		return Bot{}, fmt.Errorf("store: add bot %q: %w", name, err)
	}
	return Bot{ID: id, Name: name, Protocol: protocol, ChannelID: channelID, AccountID: acc.ID, Config: config,
		Created: time.UnixMilli(now).UTC()}, nil
}

// Bots lists every bot by name.
func (s *Store) Bots(ctx context.Context) ([]Bot, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, protocol, channel_id, account_id, config_json, created_at FROM bots ORDER BY name COLLATE NOCASE")
	if err != nil {
		return nil, fmt.Errorf("store: bots: %w", err)
	}
	defer rows.Close()
	var out []Bot
	for rows.Next() {
		var b Bot
		var cfg string
		var created int64
		if err := rows.Scan(&b.ID, &b.Name, &b.Protocol, &b.ChannelID, &b.AccountID, &cfg, &created); err != nil {
			return nil, fmt.Errorf("store: bots: %w", err)
		}
		// Numbers stay json.Number: a Discord id (a 64-bit snowflake)
		// read as a float64 would come back as another id.
		dec := json.NewDecoder(strings.NewReader(cfg))
		dec.UseNumber()
		if err := dec.Decode(&b.Config); err != nil {
			return nil, fmt.Errorf("store: bot %s: config: %w", b.Name, err)
		}
		b.Created = time.UnixMilli(created).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// RemoveBot deletes a bot and its account.
func (s *Store) RemoveBot(ctx context.Context, id int64) error {
	var acc int64
	if err := s.r.QueryRowContext(ctx, "SELECT account_id FROM bots WHERE id = ?", id).Scan(&acc); err != nil {
		return fmt.Errorf("store: remove bot %d: %w", id, ErrNotFound)
	}
	// The account's deletion cascades to the bot row and memberships.
	if _, err := s.w.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", acc); err != nil {
		return fmt.Errorf("store: remove bot %d: %w", id, err)
	}
	return nil
}
