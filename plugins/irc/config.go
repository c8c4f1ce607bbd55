package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/portico-mud/portico/sdk"
)

// BotConfig is one bot's config dict, as start_bot_session hands it over:
// the keys a user gives (`portico bot add`, `@irc2chan`) and the keys the
// host adds.
type BotConfig struct {
	// Network is the IRC server's host name or address.
	Network string
	// Port is the server's port: 6667, or 6697 with TLS, by default.
	Port int
	// Channel is the IRC channel to join, starting with # or &.
	Channel string
	// Nick is the bot's wanted nick; taken, it gets nick_, nick__, nick1...
	Nick string
	// TLS connects with TLS; TLSInsecure skips checking the server's
	// certificate (self-signed test servers).
	TLS, TLSInsecure bool
	// SASLUser and SASLPassword log in with SASL PLAIN when both are set.
	SASLUser, SASLPassword string
	// RelayRate is how many lines a second the bot passes from IRC into
	// the game, RelayBurst how many at once; the excess is dropped and the
	// game told how many. A RelayRate of 0 turns the limit off.
	RelayRate  float64
	RelayBurst int
	// MaxReconnects is how many reconnects in a row (without a connection
	// that stayed up) the bot makes before it gives up; 0 never gives up.
	MaxReconnects int

	// Bot is the bot's name in the game (added by the host).
	Bot string
	// UID is the bot's account id (added by the host).
	UID int64
	// GameChannel is the game channel the bot bridges (added by the host).
	GameChannel string
	// ServerName is the game's name (added by the host).
	ServerName string
}

// Default ports (IANA's irc and ircs-u).
const (
	defaultPort    = 6667
	defaultTLSPort = 6697
)

// Defaults of the relay limit: a lively channel talks at well under five
// lines a second, and ten at once covers a paste; a flood is cut to that
// before it reaches every player on the game channel.
const (
	defaultRelayRate  = 5
	defaultRelayBurst = 10
)

// Upper bounds that keep the config honest: past them the limit would not
// limit anything a player could tell from no limit.
const (
	maxRelayRate  = 1000
	maxRelayBurst = 10000
)

// Limits on names. RFC 2812 allows 9-character nicks, but networks
// announce more (NICKLEN); 30 is the common modern ceiling. Channel names
// may have 50 characters (RFC 2812).
const (
	maxNickLen    = 30
	maxChannelLen = 50
	maxNetworkLen = 255
)

// rawBotConfig holds the config dict's values undecoded: values typed at a
// command line arrive as strings ("6667", "true"), so numbers and booleans
// are read from either form, and every error names its key.
type rawBotConfig struct {
	Network       json.RawMessage `json:"network"`
	Port          json.RawMessage `json:"port"`
	Channel       json.RawMessage `json:"channel"`
	Nick          json.RawMessage `json:"nick"`
	TLS           json.RawMessage `json:"tls"`
	TLSInsecure   json.RawMessage `json:"tls_insecure"`
	SASLUser      json.RawMessage `json:"sasl_user"`
	SASLPassword  json.RawMessage `json:"sasl_password"`
	RelayRate     json.RawMessage `json:"relay_rate"`
	RelayBurst    json.RawMessage `json:"relay_burst"`
	MaxReconnects json.RawMessage `json:"max_reconnects"`
	Bot           json.RawMessage `json:"bot"`
	UID           json.RawMessage `json:"uid"`
	GameChannel   json.RawMessage `json:"game_channel"`
	ServerName    json.RawMessage `json:"server_name"`
}

// ParseBotConfig decodes and validates a bot's config dict, filling the
// defaults. An unknown key or a bad value is an error naming the key.
func ParseBotConfig(cfg sdk.Config) (BotConfig, error) {
	var raw rawBotConfig
	if err := cfg.Decode(&raw); err != nil {
		return BotConfig{}, fmt.Errorf("irc: %w", err)
	}
	var c BotConfig
	var errs []error
	str := func(key string, v json.RawMessage, dst *string) {
		if err := decodeString(v, dst); err != nil {
			errs = append(errs, keyError(key, err))
		}
	}
	boolean := func(key string, v json.RawMessage, dst *bool) {
		if err := decodeBool(v, dst); err != nil {
			errs = append(errs, keyError(key, err))
		}
	}
	str("network", raw.Network, &c.Network)
	str("channel", raw.Channel, &c.Channel)
	str("nick", raw.Nick, &c.Nick)
	str("sasl_user", raw.SASLUser, &c.SASLUser)
	str("sasl_password", raw.SASLPassword, &c.SASLPassword)
	str("bot", raw.Bot, &c.Bot)
	str("game_channel", raw.GameChannel, &c.GameChannel)
	str("server_name", raw.ServerName, &c.ServerName)
	boolean("tls", raw.TLS, &c.TLS)
	boolean("tls_insecure", raw.TLSInsecure, &c.TLSInsecure)
	var port, uid int64
	relayBurst, maxReconnects := int64(defaultRelayBurst), int64(0)
	integer := func(key string, v json.RawMessage, dst *int64) {
		if err := decodeInt(v, dst); err != nil {
			errs = append(errs, keyError(key, err))
		}
	}
	integer("port", raw.Port, &port)
	integer("uid", raw.UID, &uid)
	integer("relay_burst", raw.RelayBurst, &relayBurst)
	integer("max_reconnects", raw.MaxReconnects, &maxReconnects)
	c.RelayRate = defaultRelayRate
	if err := decodeFloat(raw.RelayRate, &c.RelayRate); err != nil {
		errs = append(errs, keyError("relay_rate", err))
	}
	if err := errors.Join(errs...); err != nil {
		return BotConfig{}, err
	}
	c.Port, c.UID = int(port), uid
	c.RelayBurst, c.MaxReconnects = int(relayBurst), int(maxReconnects)
	if c.Port == 0 {
		c.Port = defaultPort
		if c.TLS {
			c.Port = defaultTLSPort
		}
	}
	return c, c.Validate()
}

// Validate checks the config, naming the first bad key.
func (c BotConfig) Validate() error {
	switch {
	case c.Network == "":
		return keyError("network", errors.New("required (the IRC server's host name)"))
	case len(c.Network) > maxNetworkLen || strings.IndexFunc(c.Network, badNameRune) >= 0 || strings.ContainsAny(c.Network, "/@"):
		return keyError("network", fmt.Errorf("%q is not a host name or address", c.Network))
	case c.Port < 1 || c.Port > 65535:
		return keyError("port", fmt.Errorf("%d is not a port (1-65535)", c.Port))
	case c.Channel == "":
		return keyError("channel", errors.New("required (an IRC channel such as #mygame)"))
	case !validChannel(c.Channel):
		return keyError("channel", fmt.Errorf("%q is not an IRC channel: it must start with # or &, have at most %d characters and no spaces, commas or control characters", c.Channel, maxChannelLen))
	case c.Nick == "":
		return keyError("nick", errors.New("required (the bot's IRC nick)"))
	case !validNick(c.Nick):
		return keyError("nick", fmt.Errorf("%q is not an IRC nick: up to %d letters, digits or []\\`_^{|}-, not starting with a digit or -", c.Nick, maxNickLen))
	case (c.SASLUser == "") != (c.SASLPassword == ""):
		return keyError("sasl_password", errors.New("sasl_user and sasl_password must be given together"))
	case strings.ContainsRune(c.SASLUser, 0) || strings.ContainsRune(c.SASLPassword, 0):
		return keyError("sasl_user", errors.New("SASL credentials cannot contain NUL"))
	case math.IsNaN(c.RelayRate) || c.RelayRate < 0 || c.RelayRate > maxRelayRate:
		return keyError("relay_rate", fmt.Errorf("%v is not between 0 (no limit) and %d lines a second", c.RelayRate, maxRelayRate))
	case c.RelayBurst < 1 || c.RelayBurst > maxRelayBurst:
		return keyError("relay_burst", fmt.Errorf("%d is not between 1 and %d lines", c.RelayBurst, maxRelayBurst))
	case c.MaxReconnects < 0:
		return keyError("max_reconnects", fmt.Errorf("%d is not a number of reconnects (0 never gives up)", c.MaxReconnects))
	case c.Bot == "":
		return keyError("bot", errors.New("required (the bot's name in the game; the host adds it)"))
	case c.UID <= 0:
		return keyError("uid", errors.New("required (the bot's account id; the host adds it)"))
	}
	return nil
}

// address is the session's address, Evennia's "#chan@network".
func (c BotConfig) address() string { return c.Channel + "@" + c.Network }

// networkLabel is the BOT_NETWORK flag: "network:port/#chan".
func (c BotConfig) networkLabel() string {
	return c.Network + ":" + strconv.Itoa(c.Port) + "/" + c.Channel
}

func keyError(key string, err error) error {
	return fmt.Errorf("irc: config key %q: %w", key, err)
}

func decodeString(v json.RawMessage, dst *string) error {
	if v == nil || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("want a string, got %s", v)
	}
	return nil
}

// decodeBool accepts a JSON boolean or a string such as "true", "no", "1".
func decodeBool(v json.RawMessage, dst *bool) error {
	if v == nil || string(v) == "null" {
		return nil
	}
	if json.Unmarshal(v, dst) == nil {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "on", "1":
			*dst = true
			return nil
		case "false", "no", "off", "0", "":
			*dst = false
			return nil
		}
	}
	return fmt.Errorf("want true or false, got %s", v)
}

// decodeInt accepts a JSON integer or a string holding one.
func decodeInt(v json.RawMessage, dst *int64) error {
	if v == nil || string(v) == "null" {
		return nil
	}
	var f float64
	if json.Unmarshal(v, &f) == nil && f == float64(int64(f)) {
		*dst = int64(f)
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			*dst = n
			return nil
		}
	}
	return fmt.Errorf("want a whole number, got %s", v)
}

// decodeFloat accepts a JSON number or a string holding one.
func decodeFloat(v json.RawMessage, dst *float64) error {
	if v == nil || string(v) == "null" {
		return nil
	}
	if json.Unmarshal(v, dst) == nil {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			*dst = f
			return nil
		}
	}
	return fmt.Errorf("want a number, got %s", v)
}

// badNameRune reports characters no host name, nick or channel may hold.
func badNameRune(r rune) bool { return r <= ' ' || r == 0x7f }

// validChannel follows RFC 2812's channel names: a # or & prefix, then no
// space, comma, BEL or other control character.
func validChannel(ch string) bool {
	if len(ch) < 2 || len(ch) > maxChannelLen || (ch[0] != '#' && ch[0] != '&') {
		return false
	}
	return strings.IndexFunc(ch, func(r rune) bool { return badNameRune(r) || r == ',' || r == 0x07 }) < 0
}

// validNick follows RFC 2812's nick grammar: a letter or one of []\`_^{|}
// first, then those, digits or -.
func validNick(n string) bool {
	if n == "" || len(n) > maxNickLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.IndexByte("[]\\`_^{|}", c) >= 0:
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
