package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/portico-mud/portico/sdk"
)

// defaultAPIURL is Discord's REST API, version 10.
const defaultAPIURL = "https://discord.com/api/v10/"

// maxTokenBytes bounds what is read from a token file: a bot token is
// about 70 characters, and a file much larger is not a token.
const maxTokenBytes = 4096

// pluginConfig is the plugins.discord.config block.
type pluginConfig struct {
	// APIURL is Discord's REST API base (default
	// https://discord.com/api/v10/); the gateway's address comes from
	// GET {api_url}gateway. Tests point it at a fake Discord.
	APIURL string `json:"api_url"`
	// TokenFile and TokenEnv name the bot token used by bots that name
	// none: a file (its trailing newline trimmed) or an environment
	// variable of the plugin's process.
	TokenFile string `json:"token_file"`
	TokenEnv  string `json:"token_env"`
	// Token is never accepted: see refuseLiteralToken.
	Token json.RawMessage `json:"token"`
}

// parsePluginConfig decodes and checks the block, filling the default
// api_url. Every problem is a *sdk.ConfigError naming its key.
func parsePluginConfig(cfg sdk.Config) (pluginConfig, error) {
	var c pluginConfig
	if err := cfg.Decode(&c); err != nil {
		return pluginConfig{}, err
	}
	var errs []error
	if c.Token != nil {
		errs = append(errs, refuseLiteralToken())
	}
	if c.APIURL == "" {
		c.APIURL = defaultAPIURL
	}
	api, err := normaliseAPIURL(c.APIURL)
	if err != nil {
		errs = append(errs, sdk.KeyError("api_url", "%v", err))
	}
	c.APIURL = api
	if c.TokenFile != "" && c.TokenEnv != "" {
		errs = append(errs, sdk.KeyError("token_env", "give token_file or token_env, not both"))
	}
	if c.TokenFile != "" {
		if _, err := readTokenFile(c.TokenFile); err != nil {
			errs = append(errs, sdk.KeyError("token_file", "%v", err))
		}
	}
	if c.TokenEnv != "" {
		if _, err := readTokenEnv(c.TokenEnv); err != nil {
			errs = append(errs, sdk.KeyError("token_env", "%v", err))
		}
	}
	return c, errors.Join(errs...)
}

// BotConfig is one bot's config dict, as start_bot_session hands it over:
// the keys a user gives (`portico bot add`, `@discord2chan`) and the keys
// the host adds.
type BotConfig struct {
	// ChannelIDs are the Discord channels the bot bridges (snowflakes).
	ChannelIDs []string
	// TokenFile or TokenEnv name the bot's token; both empty means the
	// plugin block's.
	TokenFile, TokenEnv string

	// Bot is the bot's name in the game (added by the host).
	Bot string
	// UID is the bot's account id (added by the host).
	UID int64
	// GameChannel is the game channel the bot bridges (added by the host).
	GameChannel string
	// ServerName is the game's name (added by the host).
	ServerName string
}

// rawBotConfig is the config dict as decoded, before its checks.
type rawBotConfig struct {
	ChannelID   snowflakes      `json:"channel_id"`
	TokenFile   string          `json:"token_file"`
	TokenEnv    string          `json:"token_env"`
	APIURL      string          `json:"api_url"`
	Token       json.RawMessage `json:"token"`
	Bot         string          `json:"bot"`
	UID         int64           `json:"uid"`
	GameChannel string          `json:"game_channel"`
	ServerName  string          `json:"server_name"`
}

// parseBotConfig decodes and checks a bot's config dict against the
// plugin's block pc: every problem is a *sdk.ConfigError naming its key.
// started says whether the dict is StartBot's (the host's keys bot and
// uid are then required) or one checked before the bot exists. It checks
// that the token it names can be read, but does not keep it.
func parseBotConfig(cfg sdk.Config, pc pluginConfig, started bool) (BotConfig, error) {
	var raw rawBotConfig
	if err := cfg.Decode(&raw); err != nil {
		return BotConfig{}, err
	}
	c := BotConfig{ChannelIDs: raw.ChannelID, TokenFile: raw.TokenFile, TokenEnv: raw.TokenEnv,
		Bot: raw.Bot, UID: raw.UID, GameChannel: raw.GameChannel, ServerName: raw.ServerName}
	var errs []error
	if raw.Token != nil {
		errs = append(errs, refuseLiteralToken())
	}
	if len(c.ChannelIDs) == 0 {
		errs = append(errs, sdk.KeyError("channel_id", "required (the Discord channel's id: enable Developer Mode in Discord, right-click the channel, Copy Channel ID)"))
	}
	if raw.APIURL != "" {
		api, err := normaliseAPIURL(raw.APIURL)
		switch {
		case err != nil:
			errs = append(errs, sdk.KeyError("api_url", "%v", err))
		case api != pc.APIURL:
			errs = append(errs, sdk.KeyError("api_url", "%q differs from the plugin's %q: Discord's endpoints are one set for the whole plugin process, so set api_url in plugins.discord.config instead", raw.APIURL, pc.APIURL))
		}
	}
	if c.TokenFile != "" && c.TokenEnv != "" {
		errs = append(errs, sdk.KeyError("token_env", "give token_file or token_env, not both"))
	} else if _, err := c.token(pc); err != nil {
		errs = append(errs, err)
	}
	if started {
		if c.Bot == "" {
			errs = append(errs, sdk.KeyError("bot", "required (the bot's name in the game; the host adds it)"))
		}
		if c.UID <= 0 {
			errs = append(errs, sdk.KeyError("uid", "required (the bot's account id; the host adds it)"))
		}
	}
	return c, errors.Join(errs...)
}

// token reads the bot's token from where the dict, or else the plugin's
// block, says it is. Its error names the key at fault and never holds the
// token.
func (c BotConfig) token(pc pluginConfig) (string, error) {
	switch {
	case c.TokenFile != "":
		t, err := readTokenFile(c.TokenFile)
		if err != nil {
			return "", sdk.KeyError("token_file", "%v", err)
		}
		return t, nil
	case c.TokenEnv != "":
		t, err := readTokenEnv(c.TokenEnv)
		if err != nil {
			return "", sdk.KeyError("token_env", "%v", err)
		}
		return t, nil
	case pc.TokenFile != "":
		t, err := readTokenFile(pc.TokenFile)
		if err != nil {
			return "", sdk.KeyError("token_file", "plugins.discord.config.token_file: %v", err)
		}
		return t, nil
	case pc.TokenEnv != "":
		t, err := readTokenEnv(pc.TokenEnv)
		if err != nil {
			return "", sdk.KeyError("token_env", "plugins.discord.config.token_env: %v", err)
		}
		return t, nil
	}
	return "", sdk.KeyError("token_file", "required: give token_file=PATH or token_env=VARIABLE (or set one in plugins.discord.config)")
}

// address is the bot session's address: "discord/111,222".
func (c BotConfig) address() string { return "discord/" + strings.Join(c.ChannelIDs, ",") }

// networkLabel is the BOT_NETWORK flag: "discord 111,222".
func (c BotConfig) networkLabel() string { return "discord " + strings.Join(c.ChannelIDs, ",") }

// bridges reports whether the bot bridges Discord channel id.
func (c BotConfig) bridges(id string) bool {
	for _, ch := range c.ChannelIDs {
		if ch == id {
			return true
		}
	}
	return false
}

// refuseLiteralToken is the error for a token given in the config: the
// config dict is stored in the host's database and both it and the
// plugin's block cross the plugin link, where a token must never be.
func refuseLiteralToken() error {
	return sdk.KeyError("token", "a token in the config is refused (it would be stored in the database and sent over the plugin link): put it in a file and give token_file=PATH, or in the plugin's environment and give token_env=VARIABLE")
}

// readTokenFile reads a bot token from path: one line, its trailing
// newline (and spaces) trimmed. Errors never hold the file's content.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read the token: %w", err)
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("%s is larger than %d bytes: not a bot token", path, maxTokenBytes)
	}
	return checkToken(string(bytes.TrimRightFunc(b, unicode.IsSpace)), path)
}

// readTokenEnv reads a bot token from the environment variable name.
func readTokenEnv(name string) (string, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("the environment variable %s is not set in the plugin's environment", name)
	}
	return checkToken(strings.TrimSpace(v), "$"+name)
}

// checkToken checks that t looks like a bot token; from names where it
// came from. A "Bot " prefix, as Discord's documentation writes the
// header, is taken off.
func checkToken(t, from string) (string, error) {
	t = strings.TrimPrefix(t, "Bot ")
	switch {
	case t == "":
		return "", fmt.Errorf("%s is empty", from)
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "", fmt.Errorf("%s holds more than one line, spaces or control characters: not a bot token", from)
	}
	return t, nil
}

// normaliseAPIURL checks an api_url and gives it its trailing slash.
func normaliseAPIURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an http(s) URL such as %s", s, defaultAPIURL)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// snowflakes are Discord ids, as a config dict gives them: a number
// (exact: the host keeps numbers as written), a string of one or more
// ids separated by commas ("111,222"), or a list of either.
type snowflakes []string

// UnmarshalJSON reads the forms above; each id must be a snowflake.
func (s *snowflakes) UnmarshalJSON(b []byte) error {
	var list []json.RawMessage
	if json.Unmarshal(b, &list) != nil {
		list = []json.RawMessage{b}
	}
	var out []string
	for _, item := range list {
		var text string
		if err := json.Unmarshal(item, &text); err != nil {
			// A JSON number: its literal is the id.
			text = string(bytes.TrimSpace(item))
		}
		for id := range strings.SplitSeq(text, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if !validSnowflake(id) {
				return &sdk.ConfigError{Msg: fmt.Sprintf("%q is not a Discord id (a number such as 1234567890123456789)", id)}
			}
			out = append(out, id)
		}
	}
	*s = out
	return nil
}

// validSnowflake reports whether id is a Discord id: a positive whole
// number that fits 64 bits, written without sign or leading zero.
func validSnowflake(id string) bool {
	if id == "" || id[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}
